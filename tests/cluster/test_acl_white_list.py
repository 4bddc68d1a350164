"""ACL white lists seen from real addresses: a NameServer and an ACL broker on host1 (a
network namespace) white-list only this test process's address on the LAN. The test
process sends unsigned and is served; a client on host2, another address, is refused
unsigned (nothing stored) and served once it signs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from orbitmq.client import Message, MQAdmin, Producer
from orbitmq.client import SessionCredentials as Keys
from orbitmq.client.message import MessageQueue
from tests.cluster.netns import CLIENT_HOST, Host, VirtualLan
from tests.cluster.topology import TEST_OVERRIDES
from tests.processes import write_properties

pytestmark = pytest.mark.slow

NAMESRV_PORT = 9876
BROKER_PORT = 10911
TOPIC = "WhiteListed"
USER = Keys("RocketMQ", "12345678")


def send_from(host: Host, namesrv_addr: str, *keys: str) -> subprocess.CompletedProcess[str]:
    """`mqadmin sendMessage` run inside `host`, so its requests come from its address."""
    argv = [sys.executable, "-m", "orbitmq", "admin", "sendMessage", "-t", TOPIC, "-p", "x"]
    return subprocess.run(
        ["ip", "netns", "exec", host.netns, *argv, "-n", namesrv_addr, *keys],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def stored(namesrv_addr: str, broker_addr: str) -> int:
    async with MQAdmin(namesrv_addr, credentials=USER) as admin:
        route = await admin.topic_route(TOPIC)
        name = route.broker_datas[0].broker_name
        return sum(
            [
                await admin.max_offset(MessageQueue(TOPIC, name, q), broker_addr)
                for q in range(route.queue_datas[0].write_queue_nums)
            ]
        )


async def test_white_listed_address_needs_no_signature(lan: VirtualLan) -> None:
    server, other = lan.add_host(), lan.add_host()
    acl_file = server.workdir / "plain_acl.yml"
    acl_file.write_text(
        yaml.safe_dump(
            {
                "globalWhiteRemoteAddresses": [lan.address(CLIENT_HOST)],
                "accounts": [
                    {"accessKey": USER.access_key, "secretKey": USER.secret_key, "admin": True}
                ],
            }
        )
    )
    namesrv_config = write_properties(
        server.workdir / "namesrv.properties",
        {"listenPort": NAMESRV_PORT, "kvConfigPath": server.workdir / "namesrv" / "kv.json"},
    )
    namesrv = server.start(
        [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(namesrv_config)],
        "The Name Server boot success",
        "namesrv",
    )
    namesrv.wait_booted()
    namesrv_addr = f"{server.address}:{NAMESRV_PORT}"
    broker_addr = f"{server.address}:{BROKER_PORT}"
    broker_config = write_properties(
        server.workdir / "broker.properties",
        {
            **TEST_OVERRIDES,
            "brokerClusterName": "DefaultCluster",
            "brokerName": "broker-a",
            "brokerId": 0,
            "brokerIP1": server.address,
            "listenPort": BROKER_PORT,
            "namesrvAddr": namesrv_addr,
            "storePathRootDir": server.workdir / "store",
            "aclEnable": "true",
            "rocketmq.acl.plain.file": acl_file,
        },
    )
    broker = server.start(
        [sys.executable, "-m", "orbitmq", "broker", "-c", str(broker_config)],
        "boot success",
        "broker",
    )
    broker.wait_booted()

    async with MQAdmin(namesrv_addr) as admin:  # unsigned: this address is white-listed
        await admin.create_topic(broker_addr, TOPIC, 2, 2)
    async with Producer("PG_WHITE", namesrv_addr) as producer:
        await producer.send(Message(TOPIC, b"from the white-listed address"))
    assert await stored(namesrv_addr, broker_addr) == 1

    refused = send_from(other, namesrv_addr)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"{other.address} is not white-listed" in refused.stderr, refused.stderr
    assert await stored(namesrv_addr, broker_addr) == 1

    signed = send_from(
        other, namesrv_addr, "--accessKey", USER.access_key, "--secretKey", USER.secret_key
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert await stored(namesrv_addr, broker_addr) == 2

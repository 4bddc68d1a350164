"""Broker ACL (aclEnable=true, plain_acl.yml) against a real NameServer and broker:
signed sends and pulls, every kind of refusal storing nothing, white-listed addresses,
admin-only codes, reload on change, and the mqadmin ACL commands. One cluster for the
module; tests that change the file put the original back.

The broker white-lists only 10.9.9.9 (not this host's 127.0.0.1), so unsigned requests
from the tests are "outside the list"; address patterns are unit-tested
(tests/unit/acl/test_address.py), and white lists seen from real addresses in network
namespaces in tests/cluster/test_acl_white_list.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from orbitmq.client import Message, MQAdmin, MQBrokerError, Producer, PullConsumer
from orbitmq.client import SessionCredentials as Keys
from orbitmq.client.errors import MQClientError
from orbitmq.client.message import MessageQueue
from orbitmq.client.trace import TRACE_TOPIC, decode_traces
from tests.processes import (
    ServerProcess,
    broker_properties,
    start_broker,
    start_namesrv,
)

pytestmark = pytest.mark.slow

ADMIN = Keys("rocketmq2", "12345678")
USER = Keys("RocketMQ", "12345678")  # PUB|SUB on TopicA, SUB on TopicB, DENY elsewhere
ACL = {
    "globalWhiteRemoteAddresses": ["10.9.9.9"],
    "accounts": [
        {
            "accessKey": "RocketMQ",
            "secretKey": "12345678",
            "admin": False,
            "defaultTopicPerm": "DENY",
            "defaultGroupPerm": "SUB",
            "topicPerms": ["TopicA=PUB|SUB", "TopicB=SUB", "TopicC=DENY"],
            "groupPerms": ["GroupDenied=DENY"],
        },
        {"accessKey": "rocketmq2", "secretKey": "12345678", "admin": True},
    ],
}


@dataclass
class AclCluster:
    namesrv_addr: str
    broker_addr: str
    acl_file: Path
    workdir: Path

    def write_acl(self, document: dict[str, object]) -> None:
        self.acl_file.write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclCluster]:
    workdir = tmp_path_factory.mktemp("acl")
    acl_file = workdir / "plain_acl.yml"
    acl_file.write_text(yaml.safe_dump(ACL), encoding="utf-8")
    namesrv, namesrv_addr = start_namesrv(workdir)
    broker: ServerProcess | None = None
    try:
        props = broker_properties(
            workdir, namesrv_addr, aclEnable="true", **{"rocketmq.acl.plain.file": acl_file}
        )
        broker = start_broker(workdir, props)
        acl = AclCluster(namesrv_addr, f"127.0.0.1:{props['listenPort']}", acl_file, workdir)
        for topic in ("TopicA", "TopicB", "TopicC"):
            ok(admin(acl, "updateTopic", "-t", topic, "-b", acl.broker_addr, *_keys(ADMIN)))
        yield acl
    finally:
        if broker is not None:
            broker.stop()
        namesrv.stop()


def _keys(keys: Keys, flags: tuple[str, str] = ("--accessKey", "--secretKey")) -> list[str]:
    return [flags[0], keys.access_key, flags[1], keys.secret_key]


def admin(cluster: AclCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"ORBITMQ_HOME": str(cluster.workdir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", *args, "-n", cluster.namesrv_addr],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


async def max_offsets(cluster: AclCluster, topic: str) -> list[int]:
    async with MQAdmin(cluster.namesrv_addr, credentials=ADMIN) as mqadmin:
        route = await mqadmin.topic_route(topic)
        name = route.broker_datas[0].broker_name
        return [
            await mqadmin.max_offset(MessageQueue(topic, name, q), cluster.broker_addr)
            for q in range(route.queue_datas[0].write_queue_nums)
        ]


async def send(cluster: AclCluster, topic: str, keys: Keys | None) -> None:
    producer = Producer(
        "AclProducer", cluster.namesrv_addr, credentials=keys, retry_times_when_send_failed=0
    )
    await producer.start()
    try:
        await producer.send(Message(topic, b"acl"))
    finally:
        await producer.shutdown()


async def test_right_keys_send_and_pull(cluster: AclCluster) -> None:
    before = sum(await max_offsets(cluster, "TopicA"))
    await send(cluster, "TopicA", USER)
    assert sum(await max_offsets(cluster, "TopicA")) == before + 1
    async with PullConsumer("AclPullGroup", cluster.namesrv_addr, credentials=USER) as consumer:
        bodies = []
        for mq in await consumer.fetch_message_queues("TopicA"):
            result = await consumer.pull(mq, "*", 0, 32)
            bodies += [m.body for m in result.messages]
    assert b"acl" in bodies


@pytest.mark.parametrize(
    ("topic", "keys", "remark"),
    [
        ("TopicA", Keys("RocketMQ", "wrong-secret"), "signature does not match"),
        ("TopicA", Keys("Unknown1", "12345678"), "No acl config for accessKey=Unknown1"),
        ("TopicA", None, "No accessKey is configured"),
        ("TopicB", USER, "No PUB permission for topic:TopicB"),  # SUB only
        ("TopicC", USER, "No PUB permission for topic:TopicC"),  # DENY
    ],
)
async def test_refusals_store_nothing(
    cluster: AclCluster, topic: str, keys: Keys | None, remark: str
) -> None:
    before = await max_offsets(cluster, topic)
    with pytest.raises(MQBrokerError) as refused:
        await send(cluster, topic, keys)
    assert refused.value.code == 1
    assert remark in (refused.value.remark or "")
    assert await max_offsets(cluster, topic) == before


async def test_pull_needs_sub_on_topic_and_group(cluster: AclCluster) -> None:
    async with PullConsumer("GroupDenied", cluster.namesrv_addr, credentials=USER) as consumer:
        mq = (await consumer.fetch_message_queues("TopicA"))[0]
        with pytest.raises(MQBrokerError, match="No SUB permission for group:GroupDenied"):
            await consumer.pull(mq, "*", 0, 32)
    async with PullConsumer("AclPullGroup", cluster.namesrv_addr, credentials=USER) as consumer:
        mq = MessageQueue("TopicC", mq.broker_name, 0)
        with pytest.raises(MQBrokerError, match="No SUB permission for topic:TopicC"):
            await consumer.pull(mq, "*", 0, 32)


def test_admin_codes_need_an_admin_account(cluster: AclCluster) -> None:
    refused = admin(cluster, "updateTopic", "-t", "TopicD", "-b", cluster.broker_addr, *_keys(USER))
    assert refused.returncode == 1
    assert "Need admin permission for request code=17" in refused.stderr
    ok(admin(cluster, "updateTopic", "-t", "TopicD", "-b", cluster.broker_addr, *_keys(ADMIN)))
    unsigned = admin(cluster, "updateTopic", "-t", "TopicE", "-b", cluster.broker_addr)
    assert "No accessKey is configured" in unsigned.stderr


async def test_reload_and_white_list(cluster: AclCluster) -> None:
    """A changed file is taken without a restart; 127.0.0.1 white-listed globally lets
    unsigned requests in; a file that does not parse keeps the previous config."""
    try:
        cluster.write_acl({**ACL, "globalWhiteRemoteAddresses": ["127.0.0.*"]})
        await _eventually_sends(cluster, "TopicC", None)
        cluster.acl_file.write_text("accounts: [unclosed", encoding="utf-8")
        await asyncio.sleep(1.2)
        await send(cluster, "TopicC", None)  # the previous (white-listing) config holds
    finally:
        cluster.write_acl(ACL)
    await _eventually_refused(cluster, "TopicC", None)


async def _eventually_sends(cluster: AclCluster, topic: str, keys: Keys | None) -> None:
    for _ in range(40):
        try:
            await send(cluster, topic, keys)
            return
        except MQBrokerError:
            await asyncio.sleep(0.1)
    await send(cluster, topic, keys)


async def _eventually_refused(cluster: AclCluster, topic: str, keys: Keys | None) -> None:
    for _ in range(40):
        try:
            await send(cluster, topic, keys)
        except MQBrokerError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the restored ACL file was not reloaded")


async def test_traces_are_signed_with_the_clients_keys(cluster: AclCluster) -> None:
    """A traced producer's trace records go through its own credentials (127.0.0.1 is
    not white-listed, so an unsigned trace producer would be refused)."""
    async with Producer(
        "AclTraced", cluster.namesrv_addr, credentials=ADMIN, enable_trace=True
    ) as p:
        result = await p.send(Message("TopicA", b"traced", keys="acl-trace"))
    async with MQAdmin(cluster.namesrv_addr, credentials=ADMIN) as mqadmin:
        deadline = time.monotonic() + 20
        while True:
            try:
                found = await mqadmin.query_message(TRACE_TOPIC, result.msg_id)
            except (MQClientError, MQBrokerError):  # not routed or not indexed yet
                found = []
            if any(r.msg_id == result.msg_id for m in found for r in decode_traces(m.body)):
                break
            assert time.monotonic() < deadline, "the trace record was not stored"
            await asyncio.sleep(0.3)


async def test_mqadmin_acl_commands_round_trip(cluster: AclCluster) -> None:
    b = ["-b", cluster.broker_addr]
    signer = _keys(ADMIN, ("--adminAccessKey", "--adminSecretKey"))
    try:
        version = ok(admin(cluster, "clusterAclConfigVersion", *b, *_keys(ADMIN)))
        assert cluster.broker_addr in version
        refused = admin(
            cluster,
            "updateAclConfig",
            *b,
            "-a",
            "newuser1",
            "-s",
            "abcdefgh",
            *_keys(USER, ("--adminAccessKey", "--adminSecretKey")),
        )
        assert "Need admin permission" in refused.stderr
        ok(
            admin(
                cluster,
                "updateAclConfig",
                *b,
                "-a",
                "newuser1",
                "-s",
                "abcdefgh",
                "-i",
                "PUB",
                "-t",
                "TopicC=PUB",
                *signer,
            )
        )
        shown = ok(admin(cluster, "getAclConfig", *b, *_keys(ADMIN)))
        assert "newuser1" in shown and "TopicC=PUB" in shown
        await send(cluster, "TopicC", Keys("newuser1", "abcdefgh"))
        ok(admin(cluster, "deleteAclConfig", *b, "-a", "newuser1", *signer))
        with pytest.raises(MQBrokerError, match="No acl config for accessKey=newuser1"):
            await send(cluster, "TopicC", Keys("newuser1", "abcdefgh"))
        ok(admin(cluster, "updateGlobalWhiteAddr", *b, "-g", "127.0.0.1,10.9.9.9", *_keys(ADMIN)))
        await send(cluster, "TopicC", None)
        assert (
            "127.0.0.1"
            in yaml.safe_load(cluster.acl_file.read_text())["globalWhiteRemoteAddresses"]
        )
    finally:
        cluster.write_acl(ACL)
    await _eventually_refused(cluster, "TopicC", None)


async def test_namesrv_writes_need_an_admin_account(tmp_path: Path) -> None:
    """NameServer aclEnable=true (OrbitMQ only): reads stay open, KV writes and route
    deletion need a signed admin request."""
    from orbitmq.namesrv.config import NamesrvConfig
    from orbitmq.namesrv.server import NamesrvController
    from orbitmq.protocol.codes import RequestCode

    acl_file = tmp_path / "plain_acl.yml"
    acl_file.write_text(yaml.safe_dump(ACL), encoding="utf-8")
    config = NamesrvConfig(
        listen_port=0,
        host="127.0.0.1",
        kv_config_path=str(tmp_path / "kv.json"),
        acl_enable=True,
        acl_plain_file=str(acl_file),
    )
    namesrv = NamesrvController(config)
    await namesrv.start()
    addr = f"127.0.0.1:{namesrv.port}"
    kv = {"namespace": "ORDER_TOPIC_CONFIG", "key": "T", "value": "broker-a:4"}
    try:
        for keys, error in ((None, "No accessKey"), (USER, "Need admin permission")):
            async with MQAdmin(addr, credentials=keys) as mqadmin:
                with pytest.raises(MQBrokerError, match=error):
                    await mqadmin.invoke(addr, RequestCode.PUT_KV_CONFIG, dict(kv))
                with pytest.raises(MQBrokerError, match=error):
                    await mqadmin.invoke(addr, RequestCode.DELETE_TOPIC_IN_NAMESRV, {"topic": "T"})
                await mqadmin.cluster_info()  # reads need nothing
        async with MQAdmin(addr, credentials=ADMIN) as mqadmin:
            await mqadmin.invoke(addr, RequestCode.PUT_KV_CONFIG, dict(kv))
            got = await mqadmin.invoke(addr, RequestCode.GET_KV_CONFIG, dict(kv))
            assert got.ext_fields["value"] == "broker-a:4"
    finally:
        await namesrv.aclose()

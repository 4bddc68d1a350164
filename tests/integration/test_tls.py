"""TLS between real processes: a NameServer and a broker in RocketMQ's default mode
(permissive, test mode: plain and TLS on one port), and in enforcing mode with
certificates of a test CA and client certificates required, the broker registering over
TLS; our client and mqadmin over TLS; plain clients refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orbitmq.client import Message, MQAdmin, Producer, PullConsumer, PullStatus
from orbitmq.client.errors import MQClientError
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import TlsConfig
from tests.integration.conftest import make_cluster
from tests.processes import broker_properties, start_broker, start_namesrv, write_properties
from tests.tls_certs import CertificateAuthority

pytestmark = pytest.mark.slow


def mqadmin(namesrv_addr: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NAMESRV_ADDR"}
    return subprocess.run(
        [sys.executable, "-m", "orbitmq", "admin", *args, "-n", namesrv_addr],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


async def round_trip(namesrv_addr: str, topic: str, tls: bool | TlsConfig) -> None:
    """Send three messages and pull them back, every connection over `tls`."""
    async with MQAdmin(namesrv_addr, tls=tls) as admin:
        brokers = (await admin.cluster_info()).broker_addr_table
        master = next(iter(brokers.values())).master_addr
        assert master is not None
        await admin.create_topic(master, topic, 1, 1)
    async with Producer(f"PG_{topic}", namesrv_addr, tls=tls) as producer:
        for i in range(3):
            sent = await producer.send(Message(topic, f"{topic}-{i}".encode()))
    consumer = PullConsumer(f"CG_{topic}", namesrv_addr, tls=tls)
    await consumer.start()
    try:
        pulled = await consumer.pull(sent.message_queue, "*", 0, 32)
    finally:
        await consumer.shutdown()
    assert pulled.status is PullStatus.FOUND
    assert [m.body for m in pulled.messages] == [f"{topic}-{i}".encode() for i in range(3)]


async def test_default_mode_serves_plain_and_tls_clients(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)  # no tls.* keys: RocketMQ's permissive test mode
    try:
        await round_trip(cluster.namesrv_addr, "TlsDefaultPlain", False)
        await round_trip(cluster.namesrv_addr, "TlsDefaultTls", True)
        listed = mqadmin(cluster.namesrv_addr, "clusterList", "--tls")
        assert listed.returncode == 0, listed.stderr
        assert cluster.broker_addr in listed.stdout
    finally:
        cluster.stop()


def server_keys(ca: CertificateAuthority, stem: str) -> dict[str, object]:
    server = ca.issue(stem)
    client = ca.issue(f"{stem}-client")
    return {
        "tls.server.mode": "enforcing",
        "tls.test.mode.enable": "false",
        "tls.server.certPath": server.cert,
        "tls.server.keyPath": server.key,
        "tls.server.need.client.auth": "require",
        "tls.server.trustCertPath": ca.cert,
        # How this server dials others (the broker: its NameServers).
        "tls.enable": "true",
        "tls.client.authServer": "true",
        "tls.client.trustCertPath": ca.cert,
        "tls.client.certPath": client.cert,
        "tls.client.keyPath": client.key,
    }


async def test_enforcing_with_certificates(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    namesrv, namesrv_addr = start_namesrv(tmp_path, **server_keys(ca, "namesrv"))
    try:
        # The broker's keys come from its tls.config.file, as RocketMQ's usually do;
        # the mode cannot be set there.
        tls_file = write_properties(tmp_path / "tls.properties", server_keys(ca, "broker"))
        props = broker_properties(
            tmp_path,
            namesrv_addr,
            **{"tls.server.mode": "enforcing", "tls.config.file": tls_file},
        )
        broker = start_broker(tmp_path, props)
        try:
            user = ca.issue("application")
            client = TlsConfig(
                test_mode=False,
                client_auth_server=True,
                client_trust_cert_path=str(ca.cert),
                client_cert_path=str(user.cert),
                client_key_path=str(user.key),
            )
            # The route exists only if the broker registered over TLS.
            await round_trip(namesrv_addr, "TlsEnforcing", client)

            with pytest.raises((RemotingError, MQClientError)):
                async with Producer("PG_PLAIN", namesrv_addr) as plain:
                    await plain.send(Message("TlsEnforcing", b"plain"))
            anonymous = TlsConfig(
                test_mode=False, client_auth_server=True, client_trust_cert_path=str(ca.cert)
            )
            with pytest.raises((RemotingError, MQClientError)):
                async with Producer("PG_NO_CERT", namesrv_addr, tls=anonymous) as no_cert:
                    await no_cert.send(Message("TlsEnforcing", b"no certificate"))

            client_file = write_properties(
                tmp_path / "tls-client.properties",
                {
                    "tls.enable": "true",
                    "tls.test.mode.enable": "false",
                    "tls.client.authServer": "true",
                    "tls.client.trustCertPath": ca.cert,
                    "tls.client.certPath": user.cert,
                    "tls.client.keyPath": user.key,
                },
            )
            listed = mqadmin(namesrv_addr, "clusterList", "--tlsConfigFile", str(client_file))
            assert listed.returncode == 0, listed.stderr
            assert props["brokerName"] in listed.stdout
            refused = mqadmin(namesrv_addr, "clusterList")
            assert refused.returncode == 1
        finally:
            broker.stop()
    finally:
        namesrv.stop()
    plain_refusals = [line for line in namesrv.output if "plain connection refused" in line]
    assert len(plain_refusals) == 1, namesrv.tail()

"""5.x clients and a TLS-only cluster: the NameServer and broker take TLS only
(tls.server.mode=enforcing, certificates of a test CA), so the proxy dials them with TLS
(tls.enable): in the broker (--enable-proxy), whose gRPC port is then TLS only too, as in
RocketMQ where the mode is one JVM-wide setting; and as mqproxy with tls.enable in
rmq-proxy.json, its gRPC port plain (permissive is served plain: grpcio cannot tell the
two apart on one port). The official Python 5.x client sends and receives on both."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.processes import ServerProcess, free_port, start_namesrv
from tests.tls_certs import CertificateAuthority

from .harness import BROKER_SETTINGS, ProxiedCluster, run_py

pytestmark = pytest.mark.slow


def tls_only(ca: CertificateAuthority, stem: str) -> dict[str, object]:
    pair = ca.issue(stem)
    return {
        "tls.server.mode": "enforcing",
        "tls.test.mode.enable": "false",
        "tls.server.certPath": pair.cert,
        "tls.server.keyPath": pair.key,
        "tls.enable": "true",
        "tls.client.authServer": "true",
        "tls.client.trustCertPath": ca.cert,
    }


def send_and_receive(home: Path, endpoint: str, topic: str, *tls: str) -> None:
    sent = run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "3",
                  *tls)  # fmt: skip
    assert sent[-1] == {"done": 3, "failed": 0}
    got = run_py(home, "simple", "--endpoint", endpoint, "--topic", topic,
                 "--group", f"GID_{topic}", "--expect", "3", "--timeout", "30", *tls)  # fmt: skip
    assert len([r for r in got if "message_id" in r]) == 3


def test_a_tls_only_cluster_serves_5x_clients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    # The 5.x client has no CA option: gRPC's default roots come from this file.
    monkeypatch.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(ca.cert))
    namesrv, addr = start_namesrv(tmp_path, **tls_only(ca, "namesrv"))
    cluster = ProxiedCluster(tmp_path, namesrv, addr)
    cluster.admin_credentials = ("--tls",)
    try:
        cluster.start_broker("broker-a", True, **BROKER_SETTINGS, **tls_only(ca, "broker"))
        cluster.create_topic("Grpc5TlsLocal", 2)
        cluster.create_topic("Grpc5TlsProxy", 2)
        send_and_receive(tmp_path / "local", cluster.endpoint, "Grpc5TlsLocal", "--tls")
        plain = run_py(tmp_path / "plain", "produce", "--endpoint", cluster.endpoint,
                       "--topic", "Grpc5TlsLocal", "--count", "1")  # fmt: skip
        assert plain[-1]["failed"] == 1  # a plain channel to a TLS-only port

        port = free_port()
        proxy_json = tmp_path / "rmq-proxy.json"
        proxy_json.write_text(
            json.dumps({"grpcServerPort": port, "namesrvAddr": addr, "tls.enable": "true"})
        )
        cluster.proxy = ServerProcess(
            [sys.executable, "-m", "orbitmq", "proxy", "-pc", str(proxy_json)],
            "The proxy boot success",
            "mqproxy",
        )
        cluster.proxy.wait_booted()
        send_and_receive(tmp_path / "cluster", f"127.0.0.1:{port}", "Grpc5TlsProxy")
        servers = [namesrv, *cluster.brokers.values()]
    finally:
        cluster.stop()
    # Everything dialled with TLS: no server saw a plain connection.
    assert not [line for s in servers for line in s.output if "plain connection refused" in line]

"""5.x clients in front of a TLS-only cluster: the NameServer and broker take TLS only
(tls.server.mode=enforcing, test mode's certificates), so the proxy must dial them with
TLS: in the broker (--enable-proxy) with the broker's tls.enable, and as mqproxy with
tls.enable in rmq-proxy.json. The official Python 5.x client sends and receives."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.processes import ServerProcess, free_port, start_namesrv

from .harness import BROKER_SETTINGS, ProxiedCluster, run_py

pytestmark = pytest.mark.slow

TLS_ONLY = {"tls.server.mode": "enforcing", "tls.enable": "true"}


def send_and_receive(home: Path, endpoint: str, topic: str) -> None:
    sent = run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "3")
    assert sent[-1] == {"done": 3, "failed": 0}
    got = run_py(home, "simple", "--endpoint", endpoint, "--topic", topic,
                 "--group", f"GID_{topic}", "--expect", "3", "--timeout", "30")  # fmt: skip
    assert len([r for r in got if "message_id" in r]) == 3


def test_the_proxy_dials_a_tls_only_cluster_with_tls(tmp_path: Path) -> None:
    namesrv, addr = start_namesrv(tmp_path, **TLS_ONLY)
    cluster = ProxiedCluster(tmp_path, namesrv, addr)
    cluster.admin_credentials = ("--tls",)
    try:
        cluster.start_broker("broker-a", True, **BROKER_SETTINGS, **TLS_ONLY)
        cluster.create_topic("Grpc5TlsLocal", 2)
        cluster.create_topic("Grpc5TlsProxy", 2)
        send_and_receive(tmp_path / "local", cluster.endpoint, "Grpc5TlsLocal")

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

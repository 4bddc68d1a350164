"""`orbitmq standalone` runs the web console beside its NameServer and broker, and still
gives a working NameServer and broker when the console's port is taken."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import ServerProcess, free_port, wait_until

pytestmark = pytest.mark.slow

BROKER_BOOT = "boot success. serializeType"


def start_standalone(home: Path, dashboard_port: int) -> tuple[ServerProcess, int]:
    broker_port = free_port()
    argv = [
        sys.executable, "-m", "orbitmq", "standalone", "--home", str(home),
        "--namesrv-port", str(free_port()), "--broker-port", str(broker_port),
        "--dashboard-port", str(dashboard_port), "--grpc-port", str(free_port()),
    ]  # fmt: skip
    process = ServerProcess(argv, BROKER_BOOT, "standalone")
    process.wait_booted()
    return process, broker_port


def test_standalone_serves_the_console_with_its_broker(tmp_path: Path) -> None:
    port = free_port()
    process, broker_port = start_standalone(tmp_path / "home", port)
    try:
        wait_until(lambda: "The console boot success" in process.tail(), 15)

        def lists_the_broker() -> bool:
            page = httpx.get(f"http://127.0.0.1:{port}/cluster", timeout=5).text
            return f'data-addr="127.0.0.1:{broker_port}"' in page

        wait_until(lists_the_broker, 15, message="the console never listed the broker")
        assert (tmp_path / "home" / "dashboard" / "session.key").exists()
    finally:
        assert process.stop() == 0


def test_a_taken_console_port_leaves_the_broker_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, _ = start_standalone(tmp_path / "home", port)
        try:
            wait_until(lambda: "web console not started" in process.tail(), 15)
            assert f"127.0.0.1:{port}" in process.tail()
            assert process.process.poll() is None
        finally:
            assert process.stop() == 0

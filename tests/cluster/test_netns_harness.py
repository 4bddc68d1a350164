"""The namespace harness itself: hosts reach each other and the test process, a cut link
stops traffic both ways until restored, a killed host's processes are gone, and teardown
leaves no namespace or veth behind."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.netns import VirtualLan, namespaces, pids_in, unavailable_reason

pytestmark = pytest.mark.slow

ECHO = (
    "import socket\n"
    "s = socket.create_server(('0.0.0.0', 7000))\n"
    "print('listening', flush=True)\n"
    "while True:\n"
    "    c, _ = s.accept()\n"
    "    c.sendall(b'hello'); c.close()\n"
)


def greet(address: str, timeout: float = 1.0) -> bytes:
    with socket.create_connection((address, 7000), timeout=timeout) as conn:
        return conn.recv(16)


def greet_from(host_netns: str, address: str) -> bool:
    """Whether a client inside `host_netns` gets the greeting of `address`."""
    code = (
        "import socket\n"
        f"c = socket.create_connection(({address!r}, 7000), timeout=1)\n"
        "print(c.recv(16))\n"
    )
    done = subprocess.run(
        ["ip", "netns", "exec", host_netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0 and "hello" in done.stdout


def test_hosts_links_and_teardown(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"network namespaces unavailable: {reason}")
    lan = VirtualLan(tmp_path)
    try:
        lan.build()
        first, second = lan.add_host(), lan.add_host()
        servers = [
            h.start([sys.executable, "-c", ECHO], "listening", "echo") for h in (first, second)
        ]
        for server in servers:
            server.wait_booted(10)
        # The server's pid is the python inside the namespace (ip execs in place).
        assert sorted(pids_in(first.netns)) == [servers[0].pid]
        assert greet(first.address) == b"hello"
        assert greet_from(second.netns, first.address)
        # Nothing listens on the loopback of the root namespace for these servers.
        with pytest.raises(OSError):
            greet("127.0.0.1")

        lan.cut(first)
        assert not lan.link_up(first)
        started = time.monotonic()
        with pytest.raises(OSError):
            greet(first.address)
        assert time.monotonic() - started < 5
        assert not greet_from(second.netns, first.address)
        assert greet(second.address) == b"hello"  # the others are unaffected

        lan.restore(first)
        assert lan.link_up(first)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert greet(first.address) == b"hello"
                break
            except OSError:
                assert time.monotonic() < deadline, "restored link carries no traffic"
                time.sleep(0.2)

        lan.kill_host(second)
        assert servers[1].process.poll() is not None
        assert sorted(pids_in(second.netns)) == []
        with pytest.raises(OSError):
            greet(second.address)
    finally:
        lan.destroy()
    mine = [n for n in namespaces() if n.startswith(lan.tag)]
    assert mine == []

"""The sshd harness itself: each namespace host runs a real sshd that lets the test user
in with the LAN's client key and verified host keys, commands run inside that host's
network namespace, SFTP works, the hosts file points at a usable interpreter, and a cut
host fails a connect within seconds."""

from __future__ import annotations

import asyncio
import sys
import time
import warnings
from pathlib import Path

import pytest

from tests.cluster.netns import CLIENT_HOST, VirtualLan
from tests.cluster.sshd import (
    SshServer,
    base_python,
    current_user,
    hosts_file_text,
    ssh_lan_hosts,
    sshd_unavailable_reason,
    write_known_hosts,
)

with warnings.catch_warnings():
    # asyncssh touches cryptography's deprecated DSA (and friends) on import; the suite
    # turns warnings into errors.
    warnings.simplefilter("ignore")
    import asyncssh

pytestmark = pytest.mark.slow

STEP_TIMEOUT = 20.0


@pytest.fixture
def servers(lan: VirtualLan) -> list[SshServer]:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    return ssh_lan_hosts(lan, 2)


async def connect(
    server: SshServer, known_hosts: Path | None = None, timeout: float = 5.0
) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        server.address,
        port=server.port,
        username=current_user(),
        client_keys=[str(server.keys.private_key)],
        known_hosts=str(known_hosts or server.keys.known_hosts),
        agent_path=None,
        connect_timeout=timeout,
    )


async def run(server: SshServer, command: str) -> str:
    async with await connect(server) as conn:
        result = await asyncio.wait_for(conn.run(command, check=True), STEP_TIMEOUT)
    assert isinstance(result.stdout, str)
    return result.stdout


async def test_commands_run_inside_each_host(lan: VirtualLan, servers: list[SshServer]) -> None:
    addresses = [server.address for server in servers]
    for server in servers:
        out = await run(server, "echo hello; ip -o -4 addr show")
        lines = out.splitlines()
        assert lines[0] == "hello"
        assert f"inet {server.address}/24" in out
        assert " eth0 " in next(line for line in lines if server.address in line)
        # Only this host's interfaces: not the other hosts', not the test process's.
        for other in addresses:
            if other != server.address:
                assert f"inet {other}/" not in out
        assert f"inet {lan.address(CLIENT_HOST)}/" not in out
        assert (await run(server, "id -un")).strip() == current_user()


async def test_host_keys_are_verified(servers: list[SshServer], tmp_path: Path) -> None:
    first, second = servers
    known = first.keys.known_hosts.read_text().splitlines()
    assert known == [first.known_hosts_line, second.known_hosts_line]
    # A known_hosts that lists the first host's key under the second's address.
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"{second.address} {' '.join(first.known_hosts_line.split()[1:])}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(second, known_hosts=wrong)
    # Rewriting replaces the stale line for that address.
    write_known_hosts(wrong, [second])
    assert wrong.read_text() == f"{second.known_hosts_line}\n"
    async with await connect(second, known_hosts=wrong) as conn:
        result = await asyncio.wait_for(conn.run("true", check=True), STEP_TIMEOUT)
        assert result.exit_status == 0


async def test_sftp_put_and_read(servers: list[SshServer], tmp_path: Path) -> None:
    local = tmp_path / "payload.txt"
    payload = "orbitmq over ssh\n" * 100
    local.write_text(payload)
    for server in servers:
        async with await connect(server) as conn, conn.start_sftp_client() as sftp:
            remote = f"{server.home}/upload/payload.txt"
            await asyncio.wait_for(sftp.makedirs(f"{server.home}/upload", exist_ok=True), 10)
            await asyncio.wait_for(sftp.put(str(local), remote), STEP_TIMEOUT)
            async with sftp.open(remote, "r") as handle:
                assert await asyncio.wait_for(handle.read(), STEP_TIMEOUT) == payload
        # The hosts share the filesystem: the upload landed in this host's own home.
        assert (server.home / "upload" / "payload.txt").read_text() == payload


async def test_hosts_file_names_a_usable_python(servers: list[SshServer]) -> None:
    text = hosts_file_text(servers)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[-1] == f"known_hosts={servers[0].keys.known_hosts}"
    for server, line in zip(servers, lines[:-1], strict=True):
        address, *options = line.split()
        fields = dict(option.split("=", 1) for option in options)
        assert address == server.address
        assert fields == {
            "user": current_user(),
            "port": "22",
            "key": str(server.keys.private_key),
            "home": str(server.home),
            "python": base_python(),
        }
        out = await run(server, f"{fields['python']} -c 'import sys; print(sys.version_info[:2])'")
        assert out.strip() == str(sys.version_info[:2])


async def test_cut_host_fails_connect_quickly(lan: VirtualLan, servers: list[SshServer]) -> None:
    first, second = servers
    assert (await run(first, "echo up")).strip() == "up"  # ARP resolved, path known good
    lan.cut(first.host)
    started = time.monotonic()
    with pytest.raises((OSError, asyncssh.Error)):  # TimeoutError is an OSError
        async with await connect(first, timeout=3):
            pass
    elapsed = time.monotonic() - started
    assert elapsed < 5.0, f"connect to a cut host took {elapsed:.1f}s"
    # The other host is unaffected, and the cut one comes back once restored.
    assert (await run(second, "echo up")).strip() == "up"
    lan.restore(first.host)
    assert (await run(first, "echo up")).strip() == "up"

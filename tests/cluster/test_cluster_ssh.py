"""`orbitmq cluster` over ssh on the seed's four-host 2m-2s-sync layout
(conf/2m-2s-sync-4hosts): four network namespaces, each running its own sshd; every
command runs as a user would type it, from the test process in the root namespace.

One scenario, in order (installing costs a few seconds a host, so it is done once):
install; start; status and clusterList; a rolling restart under continuous sends of the
official C++ client, which must see no failed send and consume every acknowledged
message; logs; config-diff (clean, then after a template edit); stop. Then the failures:
a host whose link is cut during start (reported within seconds, the rest starts, the
start says the cluster is degraded), started again once back; a host cut during stop
(the rest stops, the stop names what may still run).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from orbitmq.client import MQAdmin
from tests.cluster.netns import VirtualLan, pids_in
from tests.cluster.sshd import SshServer, hosts_file_text, ssh_lan_hosts, sshd_unavailable_reason
from tests.cluster.topology import CONF_DIR, TEST_OVERRIDES
from tests.integration.cpp_load import CppLoad
from tests.integration.test_cluster_cli import ok, run_orbitmq

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEMPLATE = CONF_DIR / "2m-2s-sync-4hosts"
TOPIC = "RollingTopic"
QUEUES = 4
CONNECT_TIMEOUT = 3.0


def layout_for(lan: VirtualLan, servers: list[SshServer], folder: Path) -> Path:
    """The shipped template with the hosts' addresses, small test stores and a hosts file."""
    shutil.copytree(TEMPLATE, folder)
    for path in folder.glob("*.properties"):
        text = path.read_text().replace("10.0.0.", f"10.77.{lan.octet}.")
        text += "".join(f"{k}={v}\n" for k, v in TEST_OVERRIDES.items())
        path.write_text(text)
    (folder / "hosts").write_text(hosts_file_text(servers))
    return folder


def lines_starting(output: str, word: str) -> int:
    return len(re.findall(rf"^{word} ", output, re.MULTILINE))


def took(output: str, what: str) -> float:
    match = re.search(rf"^{what} took ([\d.]+) s$", output, re.MULTILINE)
    assert match, output
    return float(match.group(1))


def server_pids(servers: list[SshServer]) -> dict[str, list[int]]:
    """What runs in each host besides its sshd (and the sessions sshd forks)."""
    found = {}
    for server in servers:
        others = []
        for pid in pids_in(server.host.netns):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"orbitmq" in b" ".join(argv) and b"cluster.agent" not in b" ".join(argv):
                others.append(pid)
        found[server.address] = others
    return found


async def create_topic(namesrv: str) -> None:
    async with MQAdmin(namesrv) as admin:
        info = await admin.cluster_info()
        for broker in info.broker_addr_table.values():
            await admin.create_topic(broker.broker_addrs[0], TOPIC, QUEUES, QUEUES)


@pytest.mark.compat
async def test_four_hosts_over_ssh(lan: VirtualLan, tmp_path: Path) -> None:
    reason = sshd_unavailable_reason()
    if reason is not None:
        pytest.skip(f"no sshd: {reason}")
    servers = await asyncio.to_thread(ssh_lan_hosts, lan, 4, tmp_path / "ssh")
    folder = layout_for(lan, servers, tmp_path / "2m-2s-sync-4hosts")
    home = str(tmp_path / "controller")
    common = ["--home", home, "--connect-timeout", str(CONNECT_TIMEOUT)]

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(run_orbitmq, "cluster", *args)

    figures: dict[str, float] = {}
    out = ok(await cli("install", str(folder), *common))
    assert "installed on 4 of 4 hosts" in out
    figures["install"] = took(out, "install")
    for server in servers:
        assert (server.home / "venv" / "bin" / "python").exists()
    out = ok(await cli("install", str(folder), *common))  # a second install has nothing to do
    assert out.count("already on orbitmq-") == 4, out

    out = ok(await cli("start", str(folder), "--no-dashboard", *common))
    figures["start"] = took(out, "cluster start")
    started = re.findall(r"^started (\S+) \((\w+), pid \d+\) on (\S+)$", out, re.MULTILINE)
    assert len(started) == 8, out  # four NameServers, two masters, two slaves
    for server in servers:
        # Each host runs its NameServer and its broker, inside its own namespace.
        assert len(server_pids([server])[server.address]) == 2
    namesrv = ";".join(f"{s.address}:9876" for s in servers)

    out = ok(await cli("status", str(folder), *common))
    assert out.count(" running ") == 8, out
    for slot, broker_id in (("broker-a", 0), ("broker-a", 1), ("broker-b", 0), ("broker-b", 1)):
        assert re.search(rf"DefaultCluster\s+{slot}\s+{broker_id}\s", out), out

    await create_topic(namesrv)
    load = CppLoad(tmp_path / "cpp", namesrv, TOPIC)
    try:
        await load.start()
        out = ok(await cli("rolling-restart", str(folder), *common))
        figures["rolling-restart"] = took(out, "rolling restart")
        assert lines_starting(out, "restarted") == 4, out
        # Both broker sets took sends again afterwards.
        acked_before = len(load.acked())
        await asyncio.sleep(3)
        assert len(load.acked()) > acked_before
        result, report = await load.stop(["broker-a", "broker-b"], QUEUES, consume_timeout=90)
        sends = await load.stop_producer()
    finally:
        load.close()
    failed = [s for s in sends if s.get("status") != 0]
    assert not failed, f"{len(failed)} of {len(sends)} C++ sends failed: {failed[:5]}\n{report}"
    # `phantom` matches a delivery to the read by (queue, offset) alone, which two broker
    # sets share (the C API does not say which broker a delivery came from).
    bad = {row: items for row, items in result.rows.items() if items and row != "phantom"}
    assert not bad, f"C++ load: {bad}\n{report}"
    assert result.deliveries >= result.acked == len(sends)

    out = ok(
        await cli("logs", str(folder), "-p", "broker-a", "-n", "20", "--since", "10m", *common)
    )
    assert "boot success" in out and "==> broker-a on 10.77." in out
    out = ok(await cli("config-diff", str(folder), *common))
    assert "every process runs its template's config" in out
    edited = folder / "broker-b.properties"
    edited.write_text(edited.read_text().replace("fileReservedTime=48", "fileReservedTime=72"))
    diff = await cli("config-diff", str(folder), *common)
    assert diff.returncode == 1
    assert "fileReservedTime: template 72, running file 48" in diff.stdout, diff.stdout
    edited.write_text(edited.read_text().replace("fileReservedTime=72", "fileReservedTime=48"))

    out = ok(await cli("stop", str(folder), *common))
    figures["stop"] = took(out, "cluster stop")
    assert lines_starting(out, "stopped") == 8, out
    assert all(not pids for pids in server_pids(servers).values())

    # A host down during start: reported within seconds, the rest starts, degraded.
    host4 = servers[3]
    lan.cut(host4.host)
    began = time.monotonic()
    degraded = await cli("start", str(folder), "--no-dashboard", *common)
    assert degraded.returncode == 1, degraded.stdout
    assert "the cluster is degraded" in degraded.stderr, degraded.stderr
    assert f"host {host4.address} failed" in degraded.stdout
    assert lines_starting(degraded.stdout, "started") == 6, degraded.stdout
    assert time.monotonic() - began < 60
    status = await cli("status", str(folder), *common)
    assert status.returncode == 1 and status.stdout.count(" unreachable ") == 2, status.stdout
    lan.restore(host4.host)
    out = ok(await cli("start", str(folder), "--no-dashboard", *common))
    assert lines_starting(out, "already running") == 6, out
    assert lines_starting(out, "started") == 2, out

    # A host down during stop: the rest stops, and the stop says what may still run.
    host3 = servers[2]
    lan.cut(host3.host)
    partial = await cli("stop", str(folder), *common)
    assert partial.returncode == 1
    assert "may still be running: " in partial.stderr
    assert "broker-b" in partial.stderr and f"namesrv-9876@{host3.address}" in partial.stderr
    assert lines_starting(partial.stdout, "stopped") == 6, partial.stdout
    lan.restore(host3.host)
    ok(await cli("stop", str(folder), *common))
    assert all(not pids for pids in server_pids(servers).values())
    print(
        "four hosts over ssh: "
        + ", ".join(f"{what} {seconds:.1f} s" for what, seconds in figures.items())
        + f"; C++ sends during the rolling restart: {len(sends)}, failed: {len(failed)}"
    )

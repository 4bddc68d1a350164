"""One DLedger broker set over three hosts (network namespaces), laid out as
docs/deployment.md's "Three hosts" table: each host runs a NameServer on 9876 and one
member of group RaftNode00 (host1 n0, host2 n1, host3 n2), every member on listenPort
10911 and DLedger port 40911 of its own host's address. The broker files are
conf/dledger's, with exactly the lines that document says to change for real hosts.

Also a client that runs *inside* a host (`python -m tests.cluster.dledger_hosts`): the
minority side of a partition, sending through that host's own NameServer, so that what
a cut-off leader answers to clients that can still reach it is part of the history.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orbitmq.client import Message, MessageQueue, Producer, SendStatus
from orbitmq.client.admin import parse_cluster_info
from orbitmq.dledger.config import follower_broker_id
from orbitmq.dledger.rpc import METADATA
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError
from tests.cluster.netns import Host, VirtualLan
from tests.cluster.probe import BrokerProbe
from tests.cluster.topology import TEST_OVERRIDES, template
from tests.integration.dledger_set import raft_status
from tests.integration.send_history import SendHistory, SendRecord, send_load
from tests.processes import ServerProcess, write_properties

NAMESRV_PORT = 9876
BROKER_PORT = 10911
DLEDGER_PORT = 40911
GROUP = "RaftNode00"
QUEUES = 4  # of the tests' topic
SELF_IDS = ("n0", "n1", "n2")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RaftMember:
    self_id: str
    host: Host
    process: ServerProcess

    @property
    def addr(self) -> str:
        return f"{self.host.address}:{BROKER_PORT}"

    @property
    def namesrv(self) -> str:
        """The NameServer on this member's host."""
        return f"{self.host.address}:{NAMESRV_PORT}"

    @property
    def follower_id(self) -> int:
        return follower_broker_id(self.self_id)


@dataclass
class RaftHosts:
    lan: VirtualLan
    members: list[RaftMember] = field(default_factory=list)

    @property
    def namesrv_addr(self) -> str:
        return ";".join(m.namesrv for m in self.members)

    def by_addr(self, addr: str) -> RaftMember | None:
        return next((m for m in self.members if m.addr == addr), None)

    def others(self, member: RaftMember) -> list[RaftMember]:
        return [m for m in self.members if m is not member]

    def logs(self, lines: int = 25) -> str:
        return "\n".join(f"--- {m.self_id}:\n{m.process.tail(lines)}" for m in self.members)


def start_raft_hosts(lan: VirtualLan) -> RaftHosts:
    """Three hosts, a NameServer on each, then the three members together (no member
    can be elected before a majority runs)."""
    hosts = [lan.add_host() for _ in SELF_IDS]
    namesrvs = []
    for host in hosts:
        config = write_properties(
            host.workdir / "namesrv.properties",
            {"listenPort": NAMESRV_PORT, "kvConfigPath": host.workdir / "namesrv" / "kv.json"},
        )
        argv = [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(config)]
        namesrvs.append(host.start(argv, "The Name Server boot success", "namesrv"))
    for process in namesrvs:
        process.wait_booted()
    namesrv_addr = ";".join(f"{h.address}:{NAMESRV_PORT}" for h in hosts)
    peers = ";".join(
        f"{i}-{h.address}:{DLEDGER_PORT}" for i, h in zip(SELF_IDS, hosts, strict=True)
    )
    cluster = RaftHosts(lan)
    for self_id, host in zip(SELF_IDS, hosts, strict=True):
        props = template("dledger", f"broker-{self_id}")
        props.update(TEST_OVERRIDES)
        # What docs/deployment.md ("Three hosts") says to change on each host.
        props.update(
            namesrvAddr=namesrv_addr,
            brokerIP1=host.address,
            listenPort=BROKER_PORT,
            storePathRootDir=host.workdir / "store",
            dLegerPeers=peers,
        )
        config = write_properties(host.workdir / f"broker-{self_id}.properties", props)
        argv = [sys.executable, "-m", "orbitmq", "broker", "-c", str(config)]
        cluster.members.append(RaftMember(self_id, host, host.start(argv, "boot success", self_id)))
    for member in cluster.members:
        member.process.wait_booted()
    return cluster


async def member_status(
    client: RemotingClient, member: RaftMember, timeout: float = 1.0
) -> dict[str, Any] | None:
    """The member's Raft status, or None if it does not answer in time."""
    return await raft_status(client, member.addr, timeout)


async def registered_ids(client: RemotingClient, namesrv: str) -> dict[int, str]:
    """brokerId -> address of RaftNode00 at one NameServer ({} if it does not answer)."""
    try:
        response = await client.invoke(
            namesrv, RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO), timeout=1.0
        )
    except (RemotingError, OSError, TimeoutError):
        return {}
    if response.code != ResponseCode.SUCCESS:
        return {}
    broker = parse_cluster_info(response.body).broker_addr_table.get(GROUP)
    return dict(broker.broker_addrs) if broker is not None else {}


def full_registration(cluster: RaftHosts, master: RaftMember) -> dict[int, str]:
    """What every NameServer should list once the set is settled under `master`."""
    ids = {m.follower_id: m.addr for m in cluster.others(master)}
    ids[0] = master.addr
    return ids


async def wait_registered(
    client: RemotingClient,
    namesrvs: Iterable[str],
    check: Callable[[dict[int, str]], bool],
    timeout: float,
    what: str,
    logs: Callable[[], str],
) -> float:
    """Poll every 50 ms until `check(ids)` holds at each NameServer of `namesrvs`;
    return how long it took.

    Raises:
        AssertionError: not within `timeout` seconds.
    """
    started = time.monotonic()
    pending = list(namesrvs)
    seen: dict[str, dict[int, str]] = {}
    while pending:
        for ns in list(pending):
            seen[ns] = await registered_ids(client, ns)
            if check(seen[ns]):
                pending.remove(ns)
        if not pending:
            break
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s; {seen}\n{logs()}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def wait_master(
    client: RemotingClient,
    cluster: RaftHosts,
    namesrvs: list[str],
    timeout: float,
    *,
    exclude: RaftMember | None = None,
) -> tuple[RaftMember, float]:
    """Wait until every NameServer of `namesrvs` lists the same member, not `exclude`, as
    id 0; return it and how long that took.

    Raises:
        AssertionError: not within `timeout` seconds.
    """
    started = time.monotonic()
    while True:
        masters = {(await registered_ids(client, ns)).get(0) for ns in namesrvs}
        if len(masters) == 1:
            master = cluster.by_addr(masters.pop() or "")
            if master is not None and master is not exclude:
                return master, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"no master registered alike at {namesrvs} within {timeout:.0f} s\n"
                + cluster.logs()
            )
        await asyncio.sleep(0.05)


# The minority-side client -------------------------------------------------------------


@dataclass
class MinorityRun:
    """What the client inside a host did: its sends, and its own broker's Raft status
    once it stopped."""

    records: list[SendRecord]
    status: dict[str, Any] | None


async def _direct_load(
    probe: BrokerProbe, addr: str, history: SendHistory, prefix: str, seconds: float
) -> None:
    """Keyed sends straight to `addr`, round robin over the topic's queues, for `seconds`:
    what a producer with a stale route does. The key is the body; no retries."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        key = f"{prefix}-{i}"
        mq = MessageQueue(history.topic, GROUP, i % QUEUES)
        record = SendRecord(key, "info", at=time.monotonic())
        try:
            response = await probe.send_direct(addr, mq, key.encode())
        except (RemotingError, OSError):
            pass  # no answer: maybe stored
        else:
            if response.code == ResponseCode.SUCCESS:
                record.outcome = "ok"
                record.queue = (GROUP, mq.queue_id)
                record.offset = int(response.ext_fields["queueOffset"])
            elif response.code == ResponseCode.SERVICE_NOT_AVAILABLE:
                record.outcome = "fail"
        history.records.append(record)
        i += 1
        await asyncio.sleep(0.02)


async def _minority_client(
    namesrv: str, broker_addr: str, topic: str, prefix: str, seconds: float
) -> MinorityRun:
    """Send through `namesrv` until one send is acknowledged and print `ready`; then, for
    `seconds` more, send both through `namesrv` (keys `<prefix>-<n>`) and straight to
    `broker_addr` (`<prefix>-direct-<n>`); finally ask `broker_addr` for its Raft status."""
    history = SendHistory(topic)
    producer = Producer(
        f"PG_{prefix.upper()}", namesrv, send_timeout=3.0, retry_times_when_send_failed=0
    )
    await producer.start()
    probe = BrokerProbe(timeout=3.0)
    try:
        deadline = time.monotonic() + 20
        attempt = 0
        while not any(r.outcome == "ok" for r in history.records):
            if time.monotonic() > deadline:
                raise SystemExit(f"no acknowledged send through {namesrv} within 20 s")
            key = f"{prefix}-warm-{attempt}"
            attempt += 1
            record = SendRecord(key, "info", at=time.monotonic())
            try:
                result = await producer.send(Message(topic, key.encode(), keys=[key]))
            except Exception:
                await asyncio.sleep(0.2)
            else:
                if result.status is SendStatus.SEND_OK:
                    record.outcome = "ok"
                    record.queue = (result.message_queue.broker_name, result.message_queue.queue_id)
                    record.offset = result.queue_offset
            history.records.append(record)
        print("ready", flush=True)
        await asyncio.gather(
            send_load(producer, history, prefix, count=100_000, seconds=seconds, interval=0.02),
            _direct_load(probe, broker_addr, history, f"{prefix}-direct", seconds),
        )
        response = await probe.invoke(broker_addr, METADATA)
        status = orjson.loads(response.body) if response.code == ResponseCode.SUCCESS else None
    finally:
        await probe.aclose()
        await asyncio.wait_for(producer.shutdown(), 10)
    return MinorityRun(history.records, status)


async def run_minority_client(
    member: RaftMember, topic: str, prefix: str, seconds: float
) -> tuple[asyncio.subprocess.Process, asyncio.Task[MinorityRun]]:
    """Start the client inside `member`'s host; return once it printed `ready` (its first
    send was acknowledged) with the task that collects its run.

    Raises:
        AssertionError: it did not get ready within 30 s.
    """
    argv = [sys.executable, "-m", "tests.cluster.dledger_hosts"]
    argv += ["--namesrv", member.namesrv, "--broker", member.addr]
    argv += ["--topic", topic, "--prefix", prefix, "--seconds", str(seconds)]
    process = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        member.host.netns,
        *argv,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        if process.returncode is None:
            process.kill()
        _out, err = await process.communicate()
        raise AssertionError(f"minority client not ready: {line!r}\n{err.decode()[-3000:]}")

    async def collect() -> MinorityRun:
        out, err = await process.communicate()
        if process.returncode != 0:
            raise AssertionError(
                f"minority client exited {process.returncode}:\n{err.decode()[-3000:]}"
            )
        raw = orjson.loads(out.strip().splitlines()[-1])
        records = [SendRecord(**{**r, "queue": _queue(r["queue"])}) for r in raw["records"]]
        return MinorityRun(records, raw["status"])

    return process, asyncio.create_task(collect(), name="minority_client")


def _queue(raw: list[Any] | None) -> tuple[str, int] | None:
    return (str(raw[0]), int(raw[1])) if raw else None


def _main() -> None:
    parser = argparse.ArgumentParser(description="the minority-side client of a partition")
    parser.add_argument("--namesrv", required=True)
    parser.add_argument("--broker", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    run = asyncio.run(
        _minority_client(args.namesrv, args.broker, args.topic, args.prefix, args.seconds)
    )
    records = [asdict(r) for r in run.records]
    print(orjson.dumps({"records": records, "status": run.status}).decode(), flush=True)


if __name__ == "__main__":
    _main()

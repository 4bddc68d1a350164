"""A DLedger broker set (three brokers, one brokerName, one Raft group) of real
processes on 127.0.0.1, with the calls fault tests need: kill, pause, restart, and the
members' Raft status over the broker port (DLedger's METADATA request)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orbitmq.client import MQAdmin
from orbitmq.dledger.rpc import METADATA
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError
from tests.processes import (
    ServerProcess,
    broker_properties,
    free_port,
    start_namesrv,
    write_properties,
)

# free_port only checks that a port is free now. Members' listen (and VIP) ports and
# DLedger ports are handed out once per test process, so that sets made before any of
# their brokers binds never share one.
_HANDED_OUT: set[int] = set()


@dataclass
class Member:
    self_id: str
    properties: dict[str, object]
    path: Path
    process: ServerProcess | None = None

    @property
    def broker_addr(self) -> str:
        return f"127.0.0.1:{self.properties['listenPort']}"

    @property
    def store_dir(self) -> Path:
        return Path(str(self.properties["storePathRootDir"]))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.process.poll() is None


@dataclass
class DLedgerSet:
    workdir: Path
    namesrv_addr: str
    name: str = "RaftNode00"
    size: int = 3
    overrides: dict[str, object] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        def distinct_port() -> int:
            while True:
                port = free_port()
                span = set(range(port - 2, port + 2))
                if not span & _HANDED_OUT:
                    _HANDED_OUT.update(span)
                    return port

        rpc_ports = [distinct_port() for _ in range(self.size)]
        peers = ";".join(f"n{i}-127.0.0.1:{port}" for i, port in enumerate(rpc_ports))
        for i in range(self.size):
            self_id = f"n{i}"
            props = broker_properties(
                self.workdir,
                self.namesrv_addr,
                brokerName=self.name,
                brokerClusterName="RaftCluster",
                storePathRootDir=self.workdir / f"store-{self.name}-{self_id}",
                enableDLegerCommitLog="true",
                dLegerGroup=self.name,
                dLegerPeers=peers,
                dLegerSelfId=self_id,
                **{"listenPort": distinct_port(), **self.overrides},
            )
            path = self.workdir / f"{self.name}-{self_id}.properties"
            self.members.append(Member(self_id, props, path))

    def start(self, member: Member, wait: bool = True) -> None:
        write_properties(member.path, member.properties)
        member.process = ServerProcess(
            [sys.executable, "-m", "orbitmq", "broker", "-c", str(member.path)],
            "boot success",
            f"broker:{self.name}/{member.self_id}",
        )
        if wait:
            member.process.wait_booted()

    def start_all(self) -> None:
        for member in self.members:
            self.start(member, wait=False)
        for member in self.members:
            assert member.process is not None
            member.process.wait_booted()

    def kill(self, member: Member) -> None:
        assert member.process is not None
        member.process.kill()

    def pause(self, member: Member) -> None:
        assert member.process is not None
        member.process.send_signal(signal.SIGSTOP)

    def resume(self, member: Member) -> None:
        assert member.process is not None
        member.process.send_signal(signal.SIGCONT)

    def stop_all(self) -> None:
        for member in self.members:
            if member.process is not None:
                member.process.send_signal(signal.SIGCONT)
                member.process.stop()

    def member(self, self_id: str) -> Member:
        return next(m for m in self.members if m.self_id == self_id)

    def logs(self) -> str:
        return "\n".join(
            f"--- {m.self_id}\n{m.process.tail(40)}" for m in self.members if m.process
        )


async def raft_status(
    client: RemotingClient, broker_addr: str, timeout: float = 1.0
) -> dict[str, Any] | None:
    """A member's Raft status (DLedger METADATA on its broker port), or None if it does
    not answer in time."""
    try:
        response = await client.invoke(
            broker_addr, RemotingCommand.request(METADATA), timeout=timeout
        )
    except (RemotingError, OSError, TimeoutError):
        return None
    if response.code != ResponseCode.SUCCESS:
        return None
    status: dict[str, Any] = orjson.loads(response.body)
    return status


async def member_status(client: RemotingClient, member: Member) -> dict[str, Any] | None:
    """A live member's Raft status, or None if it does not answer within a second."""
    if not member.alive:
        return None
    return await raft_status(client, member.broker_addr)


@contextlib.contextmanager
def running_set(
    workdir: Path, overrides: dict[str, object] | None = None
) -> Iterator[tuple[ServerProcess, str, DLedgerSet]]:
    """A NameServer and a started three-member set, both stopped afterwards."""
    namesrv, namesrv_addr = start_namesrv(workdir)
    dset = DLedgerSet(workdir, namesrv_addr, overrides=overrides or {})
    try:
        dset.start_all()
        yield namesrv, namesrv_addr, dset
    finally:
        dset.stop_all()
        namesrv.stop()


async def registered_ids(admin: MQAdmin, broker_name: str) -> dict[int, str]:
    """brokerId -> address of `broker_name` as the NameServer has it now."""
    try:
        info = await admin.cluster_info()
    except Exception:
        return {}
    broker = info.broker_addr_table.get(broker_name)
    return dict(broker.broker_addrs) if broker is not None else {}


async def wait_master(
    admin: MQAdmin, dset: DLedgerSet, timeout: float, *, exclude: str | None = None
) -> Member:
    """Wait until a live member is registered as id 0 and every other live member as its
    follower id; return the master."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = await registered_ids(admin, dset.name)
        master_addr = ids.get(0)
        if master_addr is not None:
            master = next((m for m in dset.members if m.broker_addr == master_addr), None)
            if master is not None and master.alive and master.self_id != exclude:
                return master
        await asyncio.sleep(0.05)
    raise AssertionError(f"no master registered for {dset.name} within {timeout}s\n{dset.logs()}")


async def max_offsets(client: RemotingClient, addr: str, topic: str, queues: int) -> list[int]:
    out = []
    for queue_id in range(queues):
        response = await client.invoke(
            addr,
            RemotingCommand.request(
                RequestCode.GET_MAX_OFFSET, {"topic": topic, "queueId": str(queue_id)}
            ),
            timeout=3.0,
        )
        out.append(int(response.ext_fields.get("offset", "-1")))
    return out

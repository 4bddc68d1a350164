"""`orbitmq cluster rolling-restart`: every broker restarted, one at a time, with no send
failing (docs/deployment.md, "Rolling restart").

Why each step (the official clients' behaviour, tests/integration/cpp_load.py):
  * Producers pick a write queue from routes they refresh every 30 s, and the C++ client
    retries a failed send on the same broker set only. So before anything in a broker
    set that takes sends goes away, its write permission is wiped on every NameServer
    (WIPE_WRITE_PERM_OF_BROKER, as `mqadmin wipeWritePerm`), and the restart waits until
    the set's master stores nothing for `idle` seconds, at most `client_pause` seconds
    (one route refresh plus a margin). Consumers keep reading it meanwhile.
  * A SYNC_MASTER answers SLAVE_NOT_AVAILABLE while its slave is away, so its slaves
    restart inside that pause too; an ASYNC_MASTER's slaves restart first, without one.
  * A slave counts as back once registered and caught up with its master's commit log.
  * A restarted master would get its write permission back on its first registration,
    before its slaves reconnect: it starts with brokerPermission=4 (read only) and is
    given its template's brokerPermission (UPDATE_BROKER_CONFIG, which re-registers it)
    once its slaves are connected and caught up.
  * A DLedger group restarts its followers (each waited for until caught up with the
    leader's log), then hands leadership to a caught-up follower (LEADERSHIP_TRANSFER)
    and restarts the old leader. With other broker sets to take the sends, the group is
    drained first as above; a cluster of one group cannot be, and its producers' sends
    fail over as on any leader change.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from orbitmq.client.admin import MQAdmin
from orbitmq.cluster.control import (
    StartOutcome,
    StopOutcome,
    start_processes,
    stop_processes,
    wait_registered,
)
from orbitmq.cluster.errors import ClusterError
from orbitmq.cluster.fleet import Echo, Fleet
from orbitmq.cluster.remote import DEFAULT_CONNECT_TIMEOUT
from orbitmq.cluster.template import ClusterPlan, ProcessSpec
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER, METADATA
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE

__all__ = ["DEFAULT_CLIENT_PAUSE", "rolling_restart"]

DEFAULT_CLIENT_PAUSE = 45.0  # the clients' 30 s route refresh, plus a margin
_CATCH_UP_TIMEOUT = 120.0
_POLL = 0.5


@dataclass
class _Rolling:
    fleet: Fleet
    admin: MQAdmin
    start_timeout: float
    stop_timeout: float
    client_pause: float
    idle: float

    @property
    def plan(self) -> ClusterPlan:
        return self.fleet.plan

    def echo(self, line: str) -> None:
        self.fleet.echo(line)

    async def restart(self, spec: ProcessSpec, overrides: dict[str, str] | None = None) -> None:
        began = time.monotonic()
        stopped = StopOutcome()
        await stop_processes(self.fleet, [spec], self.stop_timeout, stopped)
        if stopped.left:
            raise ClusterError(f"{spec.label} could not be stopped; the rolling restart stops here")
        if overrides:
            spec = dataclasses.replace(spec, properties={**spec.properties, **overrides})
        started = StartOutcome()
        await start_processes(self.fleet, [spec], time.monotonic() + self.start_timeout, started)
        if started.unreachable:
            raise ClusterError(f"{spec.host} became unreachable; the rolling restart stops here")
        self.echo(f"restarted {spec.label} in {time.monotonic() - began:.1f} s")

    async def registered(self, brokers: list[ProcessSpec]) -> None:
        """Until every NameServer lists `brokers` (a DLedger group: all of its members)."""
        plan = self.fleet.live_plan()
        plan = dataclasses.replace(
            plan,
            masters=tuple(b for b in brokers if b in plan.masters),
            slaves=tuple(b for b in brokers if b in plan.slaves),
            dledger=tuple(b for b in brokers if b in plan.dledger),
            consoles=(),
        )
        await wait_registered(plan, time.monotonic() + self.start_timeout)

    async def runtime(self, broker: ProcessSpec) -> dict[str, str] | None:
        try:
            return await self.admin.get_broker_runtime_info(broker.address)
        except Exception:
            return None  # restarting, or busy: the caller polls again

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise ClusterError(f"{what} did not happen within {timeout:g} s")
            await asyncio.sleep(_POLL)

    async def drain(self, master: ProcessSpec) -> None:
        """Wipe the set's write permission on every NameServer, then wait until the
        producers stopped sending there (nothing stored for `idle` s), at most
        `client_pause` s."""
        name = master.broker_name
        for namesrv in self.fleet.live_plan().namesrvs:
            await self.admin.wipe_write_perm_of_broker(namesrv.address, name)
        self.echo(
            f"{name}: write permission wiped on every NameServer; waiting for producers to "
            f"move away (up to {self.client_pause:g} s)"
        )
        began = time.monotonic()
        last: str | None = None
        quiet_since = began
        while time.monotonic() - began < self.client_pause:
            info = await self.runtime(master)
            count = info.get("msgPutTotalTodayNow") if info else None
            now = time.monotonic()
            if count != last:
                last, quiet_since = count, now
            elif now - quiet_since >= self.idle:
                self.echo(
                    f"{name}: no message stored for {self.idle:g} s, after {now - began:.1f} s"
                )
                return
            await asyncio.sleep(_POLL)
        self.echo(f"{name}: client pause of {self.client_pause:g} s over")

    async def restore_write(self, master: ProcessSpec) -> None:
        """Give the master its template's permission back; it re-registers at once."""
        permission = master.properties.get("brokerPermission", str(PERM_READ | PERM_WRITE))
        await self.admin.update_broker_config(master.address, {"brokerPermission": permission})
        self.echo(f"{master.broker_name}: brokerPermission={permission} on {master.label}; "
                  "producers may send to it again")  # fmt: skip

    async def caught_up(self, master: ProcessSpec, slave: ProcessSpec) -> None:
        """Until the slave holds what the master held when the wait began (a master that
        takes sends meanwhile is always a little ahead)."""
        target: int | None = None

        async def check() -> bool:
            nonlocal target
            if target is None:
                theirs = await self.runtime(master)
                if theirs is None:
                    return False
                target = int(theirs["commitLogMaxOffset"])
            mine = await self.runtime(slave)
            return mine is not None and int(mine["commitLogMaxOffset"]) >= target

        await self.until(check, _CATCH_UP_TIMEOUT, f"{slave.label} catching up with {master.label}")

    async def slaves_connected(self, master: ProcessSpec, slaves: list[ProcessSpec]) -> None:
        async def check() -> bool:
            info = await self.runtime(master)
            return (
                info is not None
                and int(info.get("haConnectionCount", "0")) >= len(slaves)
                and int(info.get("slaveFallBehindMuch", "1")) == 0
            )

        await self.until(check, _CATCH_UP_TIMEOUT, f"the slaves of {master.label} reconnecting")
        for slave in slaves:
            await self.caught_up(master, slave)

    async def broker_set(self, master: ProcessSpec, slaves: list[ProcessSpec]) -> None:
        drained = False
        if slaves and master.role == "SYNC_MASTER":
            await self.drain(master)
            drained = True
        for slave in slaves:
            await self.restart(slave)
            await self.registered([slave])
            await self.caught_up(master, slave)
        if not drained:
            await self.drain(master)
        await self.restart(master, {"brokerPermission": str(PERM_READ)})
        await self.registered([master, *slaves])
        if slaves:
            await self.slaves_connected(master, slaves)
        await self.restore_write(master)

    async def metadata(self, members: tuple[ProcessSpec, ...]) -> dict[str, dict[str, Any]]:
        """Each answering member's DLedger status, by label."""
        found = {}
        for member in members:
            try:
                response = await self.admin.invoke(member.address, METADATA, timeout=3.0)
            except Exception:
                continue
            found[member.label] = orjson.loads(response.body)
        return found

    async def follower_caught_up(
        self, members: tuple[ProcessSpec, ...], member: ProcessSpec
    ) -> None:
        """Until `member`'s log reaches the leader's last index as of the first look."""
        target: int | None = None

        async def check() -> bool:
            nonlocal target
            statuses = await self.metadata(members)
            if target is None:
                leaders = [s for s in statuses.values() if s["role"] == "LEADER"]
                if not leaders:
                    return False
                target = int(leaders[0]["last_index"])
            mine = statuses.get(member.label)
            return mine is not None and mine["last_index"] >= target

        await self.until(check, _CATCH_UP_TIMEOUT, f"{member.label} catching up with its leader")

    async def dledger_group(self, members: tuple[ProcessSpec, ...], drainable: bool) -> None:
        statuses = await self.metadata(members)
        leaders = [m for m in members if statuses.get(m.label, {}).get("role") == "LEADER"]
        if not leaders:
            raise ClusterError(f"DLedger group {members[0].broker_name} has no leader now")
        leader = leaders[0]
        for follower in (m for m in members if m != leader):
            await self.restart(follower)
            await self.registered(list(members))
            await self.follower_caught_up(members, follower)
        if drainable:
            await self.drain(leader)
        transferee = next(m for m in members if m != leader)
        await self.admin.invoke(
            leader.address, LEADERSHIP_TRANSFER, {"transfereeId": transferee.dledger_self_id}
        )

        async def transferred() -> bool:
            status = (await self.metadata((transferee,))).get(transferee.label)
            return status is not None and status["role"] == "LEADER"

        await self.until(transferred, 30.0, f"{transferee.label} taking over the lead")
        await self.registered(list(members))
        self.echo(f"{members[0].broker_name}: {transferee.label} leads now")
        await self.restart(leader)
        await self.registered(list(members))
        await self.follower_caught_up(members, leader)
        if drainable:
            await self.restore_write(transferee)

    async def namesrv(self, namesrv: ProcessSpec) -> None:
        """One NameServer: restarted, then waited for until every broker re-registered
        (brokers register every registerNameServerPeriod, 30 s by default)."""
        await self.restart(namesrv)
        plan = dataclasses.replace(self.fleet.live_plan(), namesrvs=(namesrv,), consoles=())
        await wait_registered(plan, time.monotonic() + self.start_timeout + 60.0)


async def _rolling(
    plan: ClusterPlan,
    echo: Echo,
    start_timeout: float,
    stop_timeout: float,
    client_pause: float,
    idle: float,
    namesrvs: bool,
    connect_timeout: float,
) -> None:
    async with Fleet(plan, echo, connect_timeout) as fleet:
        states = await fleet.states(plan.processes)
        down = [s.spec.label for s in states if not s.pid and s.spec.kind != "dashboard"]
        if down:
            raise ClusterError(
                f"not running: {', '.join(down)}; a rolling restart needs the whole cluster up "
                f"(`orbitmq cluster start {plan.template}`)"
            )
        async with MQAdmin(plan.namesrv_addr) as admin:
            rolling = _Rolling(fleet, admin, start_timeout, stop_timeout, client_pause, idle)
            if namesrvs:
                for namesrv in plan.namesrvs:
                    await rolling.namesrv(namesrv)
            groups = plan.dledger_groups()
            set_count = len(plan.masters) + len(groups)
            for master in plan.masters:
                slaves = [s for s in plan.slaves if s.broker_name == master.broker_name]
                await rolling.broker_set(master, slaves)
            for members in groups.values():
                await rolling.dledger_group(members, drainable=set_count > 1)


def rolling_restart(
    plan: ClusterPlan,
    echo: Echo,
    *,
    start_timeout: float = 60.0,
    stop_timeout: float = 30.0,
    client_pause: float = DEFAULT_CLIENT_PAUSE,
    idle: float = 5.0,
    namesrvs: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> None:
    """Restart every broker of the plan (and with `namesrvs` every NameServer first), one
    at a time, as the module docstring says.

    Raises:
        ClusterError: something of the plan is not running, or a step failed (the restart
            stops there, naming it; what was restarted so far stays up).
    """
    asyncio.run(
        _rolling(
            plan, echo, start_timeout, stop_timeout, client_pause, idle, namesrvs, connect_timeout
        )
    )

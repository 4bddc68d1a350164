"""The Consumer list's server-side cache (rocketmq-dashboard keeps one too, after #123).

One build takes few calls however many groups there are: on every master at once
GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) and GET_BROKER_CONSUME_STATS (317, every group's
ConsumeStats in one answer), then GET_CONSUMER_CONNECTION_LIST (203) per group with at most
CONNECTION_CALLS in flight, to one live broker of the group. A broker that fails a call is
listed as a failure and not asked again during that build, so a dead broker costs one
timeout, not one per group.

A snapshot older than `max_age` is still shown while a new one is built in the background;
"Refresh" waits for a new one; a change made from the console drops the snapshot. A row's
own Refresh reads just that group again (GET_CONSUME_STATS (208) on each broker of the
group and its connection list) and puts the new row into the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from orbitmq.client.admin_bodies import ConsumerConnection, ConsumeStats
from orbitmq.client.errors import ConsumerNotOnlineError, RemotingError
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console, describe_error
from orbitmq.dashboard.pages.consumer_group import find_connection, unique_failures
from orbitmq.dashboard.pages.consumer_group import group_brokers as brokers_of_group
from orbitmq.dashboard.pages.consumer_model import (
    GroupFigures,
    GroupRow,
    build_rows,
    group_brokers,
    group_row,
)

log = logging.getLogger(__name__)

CONNECTION_CALLS = 16
MAX_AGE = 30.0
# A broker that fails like this is taken as down for the rest of the build.
_UNREACHABLE = (RemotingError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    namesrv_addr: str
    generation: int
    rows: list[GroupRow]
    failures: list[BrokerFailure]
    taken_at: float  # wall clock, seconds
    took: float  # seconds the build took

    def age(self, now: float | None = None) -> float:
        return max((time.time() if now is None else now) - self.taken_at, 0.0)


@dataclass
class _ConnectionRound:
    """The 203 calls of one build and the brokers that stopped answering them."""

    console: Console
    name_of: dict[str, str]
    limit: int
    connections: dict[str, ConsumerConnection | None] = field(default_factory=dict)
    failures: list[BrokerFailure] = field(default_factory=list)
    _down: set[str] = field(default_factory=set)

    async def run(self, brokers: dict[str, list[str]]) -> None:
        semaphore = asyncio.Semaphore(self.limit)

        async def one(group: str, addrs: list[str]) -> None:
            async with semaphore:
                await self._ask(group, addrs)

        await asyncio.gather(*(one(group, addrs) for group, addrs in brokers.items()))

    async def _ask(self, group: str, addrs: list[str]) -> None:
        console = self.console
        for addr in addrs:
            if addr in self._down:
                continue
            try:
                call = console.admin.get_consumer_connection(addr, group)
                self.connections[group] = await console.bounded(call)
                return
            except ConsumerNotOnlineError:
                return
            except _UNREACHABLE as exc:
                self._down.add(addr)
                reason = describe_error(exc, console.config.admin_timeout)
                self.failures.append(BrokerFailure(self.name_of.get(addr, "?"), addr, reason))
            except CALL_ERRORS as exc:  # an error answer about this group only
                log.warning("console: connections of %s at %s: %s", group, addr, exc)
                return


async def collect_groups(
    console: Console, generation: int = 0, limit: int = CONNECTION_CALLS
) -> GroupSnapshot:
    """Every subscription group the masters know, with its figures and online clients."""
    started, taken_at = time.monotonic(), time.time()
    namesrv = console.namesrv_addr

    def snapshot(rows: list[GroupRow], failures: list[BrokerFailure]) -> GroupSnapshot:
        took = time.monotonic() - started
        return GroupSnapshot(namesrv, generation, rows, failures, taken_at, took)

    try:
        masters = await console.masters()
    except CALL_ERRORS as exc:
        return snapshot([], [console.namesrv_failure(exc)])
    (configs, config_failures), (stats, stats_failures) = await asyncio.gather(
        console.each(masters, console.admin.get_all_subscription_group),
        console.each(masters, console.admin.fetch_consume_stats_in_broker),
    )
    name_of = {addr: name for name, addr in masters}
    addr_of = dict(masters)
    configs_by_name = {name_of[a]: table for a, table in configs.items()}
    stats_by_name = {name_of[a]: answer for a, answer in stats.items()}
    brokers = group_brokers(configs_by_name, stats_by_name)
    # A broker whose 317 failed still has its clients' connections; one whose 201
    # failed is not in `brokers` at all.
    round_ = _ConnectionRound(console, name_of, limit)
    await round_.run({g: [addr_of[n] for n in names] for g, names in brokers.items()})
    rows = build_rows(configs_by_name, stats_by_name, round_.connections)
    failures = unique_failures(config_failures + stats_failures + round_.failures)
    return snapshot(rows, failures)


async def collect_group(
    console: Console, group: str, orderly: bool
) -> tuple[GroupRow, list[BrokerFailure]]:
    """One group's row read anew (`orderly` comes from its config, which this leaves out).

    Raises:
        NameServerFailure: the NameServer did not answer.
    """
    brokers = await brokers_of_group(console, group)

    async def stats(addr: str) -> ConsumeStats:
        return await console.admin.get_consume_stats(addr, group)

    (answers, failures), (connection, _, connection_failures) = await asyncio.gather(
        console.each(brokers, stats), find_connection(console, group, brokers)
    )
    figures = GroupFigures()
    for answer in answers.values():
        figures = figures.plus(answer)
    row = group_row(group, orderly, figures, connection)
    return row, unique_failures(failures + connection_failures)


class GroupCache:
    def __init__(self, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self.snapshot: GroupSnapshot | None = None
        self._generation = 0
        self._task: asyncio.Task[GroupSnapshot] | None = None
        self._task_generation = -1

    @property
    def refreshing(self) -> bool:
        return self._task is not None and not self._task.done()

    def invalidate(self) -> None:
        """After a change: the next look builds anew, and a build already under way no
        longer counts."""
        self._generation += 1

    def _usable(self) -> GroupSnapshot | None:
        snap = self.snapshot
        return snap if snap is not None and snap.generation == self._generation else None

    def _start(self, console: Console) -> asyncio.Task[GroupSnapshot]:
        if self._task is None or self._task.done() or self._task_generation != self._generation:
            self._task_generation = self._generation
            self._task = asyncio.create_task(self._build(console, self._generation))
        return self._task

    async def _build(self, console: Console, generation: int) -> GroupSnapshot:
        snap = await collect_groups(console, generation)
        if generation == self._generation:
            self.snapshot = snap
        return snap

    async def get(self, console: Console) -> GroupSnapshot:
        """The snapshot to show: the cached one (rebuilt behind it once stale), or a new
        one when there is none for this NameServer list."""
        if self.snapshot is not None and self.snapshot.namesrv_addr != console.namesrv_addr:
            self.invalidate()  # the Ops page switched NameServer lists
        snap = self._usable()
        if snap is None:
            # shield: a reader who leaves does not cancel a build others wait for.
            return await asyncio.shield(self._start(console))
        if snap.age() > self.max_age:
            self._start(console)
        return snap

    async def refresh(self, console: Console) -> GroupSnapshot:
        """A snapshot taken now (or by the build already under way)."""
        return await asyncio.shield(self._start(console))

    async def refresh_group(
        self, console: Console, group: str
    ) -> tuple[GroupRow | None, list[BrokerFailure]]:
        """Read `group` anew into the snapshot; (None, []) when the snapshot does not list
        it. The rest of the snapshot, and its age, stay as they were.

        Raises:
            NameServerFailure: the NameServer did not answer.
        """
        listed = {r.group: r for r in (await self.get(console)).rows}.get(group)
        if listed is None:
            return None, []
        row, failures = await collect_group(console, group, listed.orderly)
        # Into whatever snapshot is current now: a build may have finished meanwhile, and
        # after a change (invalidate) there is none to update.
        snap = self._usable()
        if snap is not None:
            rows = [row if r.group == group else r for r in snap.rows]
            self.snapshot = replace(snap, rows=rows)
        return row, failures

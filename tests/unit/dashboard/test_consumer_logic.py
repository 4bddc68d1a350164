"""The Consumer page's logic without a cluster: rows, lag, search/filter/sort, paging, the
per-queue progress, form checks, per-broker outcomes, and the list's build, cache and
one-row refresh against a scripted admin (1,000 groups, a dead broker)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import FormData
from starlette.requests import Request

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import (
    ClientConnection,
    ConsumerConnection,
    ConsumerRunningInfo,
    ConsumeStats,
    ConsumeStatsList,
    OffsetWrapper,
)
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.context import BrokerFailure
from orbitmq.dashboard.pages.common import FormError, paginate
from orbitmq.dashboard.pages.consumer_cache import GroupCache, collect_groups
from orbitmq.dashboard.pages.consumer_form import read_group_config, read_targets
from orbitmq.dashboard.pages.consumer_group import NameServerFailure, load_progress
from orbitmq.dashboard.pages.consumer_model import (
    GroupRow,
    ListQuery,
    build_rows,
    group_brokers,
    select_rows,
    topic_progress,
)
from orbitmq.dashboard.pages.consumer_write import Outcome
from orbitmq.protocol.codes import ResponseCode
from tests.unit.dashboard.scripted import make_console

A, B, C = "127.0.0.1:10911", "127.0.0.1:10921", "127.0.0.1:10931"


def stats(broker: str, topic: str, *queues: tuple[int, int], tps: float = 0.0) -> ConsumeStats:
    """ConsumeStats of one topic on one broker: (brokerOffset, consumerOffset) per queue."""
    table = {
        MessageQueue(topic, broker, q): OffsetWrapper(high, low, 1_700_000_000_000 + q)
        for q, (high, low) in enumerate(queues)
    }
    return ConsumeStats(table, tps)


def connection(*client_ids: str, version: int = 409) -> ConsumerConnection:
    clients = [ClientConnection(c, "127.0.0.1:5000", "PYTHON", version) for c in client_ids]
    subscriptions = {"T": {"subString": "*"}}
    return ConsumerConnection(
        clients, subscriptions, "CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_LAST_OFFSET"
    )


def row(group: str, lag: int = 0, tps: float = 0.0, clients: int = 0) -> GroupRow:
    return GroupRow(group, False, lag, tps, 0, clients)


# Rows and lag -----------------------------------------------------------------------------
def test_lag_is_the_sum_over_every_queue_of_every_broker() -> None:
    configs = {"broker-a": {"G": {}, "H": {}}, "broker-b": {"G": {"consumeMessageOrderly": True}}}
    answers = {
        "broker-a": ConsumeStatsList(A, 0, [("G", [stats("broker-a", "T", (10, 4), (7, 7))]),
                                            ("H", [])]),
        "broker-b": ConsumeStatsList(B, 0, [("G", [stats("broker-b", "T", (5, 0), tps=1.5),
                                                   stats("broker-b", "U", (3, 1), tps=0.5)])]),
    }
    rows = build_rows(configs, answers, {"G": connection("c2", "c1", version=400)})
    assert [r.group for r in rows] == ["G", "H"]
    g, h = rows
    assert g.lag == (10 - 4) + (7 - 7) + (5 - 0) + (3 - 1)
    assert g.tps == 2.0 and g.orderly
    assert (g.clients, g.consume_type, g.message_model) == (2, "PUSH", "CLUSTERING")
    assert g.version.startswith("V4_") and g.last_timestamp == 1_700_000_000_001
    assert (h.lag, h.clients, h.version, h.consume_type, h.orderly) == (0, 0, "OFFLINE", "", False)


def test_connections_are_asked_first_where_the_group_has_offsets() -> None:
    configs = {"broker-a": {"G": {}, "H": {}}, "broker-b": {"G": {}, "H": {}}}
    answers = {
        "broker-a": ConsumeStatsList(A, 0, [("G", []), ("H", [])]),
        "broker-b": ConsumeStatsList(B, 0, [("G", [stats("broker-b", "T", (1, 1))])]),
    }
    brokers = group_brokers(configs, answers)
    assert brokers == {"G": ["broker-b", "broker-a"], "H": ["broker-a", "broker-b"]}


# Search, filter, sort, paging -------------------------------------------------------------
ROWS = [
    row("orders", lag=5, tps=1.0, clients=2),
    row("Billing", lag=50, tps=0.0, clients=1),
    row("audit", lag=5, tps=3.0, clients=0),
    row("TOOLS_CONSUMER"),
    row("CID_RMQ_SYS_TRANS"),
]


def names(rows: list[GroupRow]) -> list[str]:
    return [r.group for r in rows]


def test_default_list_hides_system_groups_and_sorts_by_name() -> None:
    assert names(select_rows(ROWS, ListQuery.of({}))) == ["audit", "Billing", "orders"]
    system = select_rows(ROWS, ListQuery.of({"kind": "system"}))
    assert names(system) == ["CID_RMQ_SYS_TRANS", "TOOLS_CONSUMER"]
    assert len(select_rows(ROWS, ListQuery.of({"kind": "all"}))) == 5


def test_search_matches_part_of_the_name_in_any_case() -> None:
    assert names(select_rows(ROWS, ListQuery.of({"q": " RDER "}))) == ["orders"]
    assert names(select_rows(ROWS, ListQuery.of({"q": "tools", "kind": "all"}))) == [
        "TOOLS_CONSUMER"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "lag"}, ["Billing", "audit", "orders"]),  # largest first, ties by name
        ({"sort": "lag", "dir": "asc"}, ["audit", "orders", "Billing"]),
        ({"sort": "tps"}, ["audit", "orders", "Billing"]),
        ({"sort": "clients", "dir": "desc"}, ["orders", "Billing", "audit"]),
        ({"sort": "group", "dir": "desc"}, ["orders", "Billing", "audit"]),
        ({"sort": "nonsense", "dir": "sideways"}, ["audit", "Billing", "orders"]),
    ],
)
def test_server_side_sort(params: dict[str, str], expected: list[str]) -> None:
    assert names(select_rows(ROWS, ListQuery.of(params))) == expected


def test_header_links_flip_the_current_column_and_keep_the_search() -> None:
    query = ListQuery.of({"q": "a b", "sort": "lag"})
    assert query.sorted_by("lag") == "q=a+b&kind=normal&sort=lag&dir=asc&"
    assert query.sorted_by("group") == "q=a+b&kind=normal&sort=group&dir=asc&"
    assert query.sorted_by("tps") == "q=a+b&kind=normal&sort=tps&dir=desc&"


def request_for(query: str) -> Request:
    return Request({"type": "http", "query_string": query.encode(), "headers": []})


def test_paging_of_a_thousand_groups() -> None:
    rows = [row(f"G{i:04d}", lag=i) for i in range(1000)]
    chosen = select_rows(rows, ListQuery.of({"sort": "lag"}))
    page = paginate(chosen, request_for("page=3"))
    assert (page.number, page.count, page.total) == (3, 20, 1000)
    assert [r.lag for r in page.items] == list(range(899, 849, -1))
    assert paginate(chosen, request_for("page=99")).number == 20
    assert paginate(chosen, request_for("page=x")).number == 1


# One group's progress ---------------------------------------------------------------------
def test_topic_progress_totals_and_queue_owners() -> None:
    merged = ConsumeStats()
    merged.offset_table.update(stats("broker-b", "T", (5, 2)).offset_table)
    merged.offset_table.update(stats("broker-a", "T", (9, 9), (4, 1)).offset_table)
    merged.offset_table.update(stats("broker-a", "%RETRY%G", (0, 0)).offset_table)
    owners = {MessageQueue("T", "broker-a", 1): "client-1"}
    progress = topic_progress(merged, owners)
    assert [p.topic for p in progress] == ["%RETRY%G", "T"]
    t = progress[1]
    assert [(q.broker_name, q.queue_id, q.lag, q.client) for q in t.queues] == [
        ("broker-a", 0, 0, "-"),
        ("broker-a", 1, 3, "client-1"),
        ("broker-b", 0, 3, "-"),
    ]
    assert (t.broker_offset, t.consumer_offset, t.lag) == (18, 12, 6)
    assert sum(p.lag for p in progress) == merged.total_diff()


# Forms --------------------------------------------------------------------------------------
GOOD = {
    "groupName": "CG_1",
    "consumeEnable": "on",
    "retryQueueNums": "1",
    "retryMaxTimes": "16",
    "brokerId": "0",
    "whichBrokerWhenConsumeSlowly": "1",
}


def form(**changes: str) -> FormData:
    return FormData(list({**GOOD, **changes}.items()))


def test_group_form_values() -> None:
    config = read_group_config(form(consumeMessageOrderly="on"))
    assert config == {
        "groupName": "CG_1",
        "consumeEnable": True,
        "consumeBroadcastEnable": False,
        "consumeMessageOrderly": True,
        "retryQueueNums": 1,
        "retryMaxTimes": 16,
        "brokerId": 0,
        "whichBrokerWhenConsumeSlowly": 1,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"groupName": "bad group!"}, "must be at most 255 characters of [%|a-zA-Z0-9_-]"),
        ({"groupName": ""}, "Group name is required."),
        ({"retryQueueNums": "0"}, "Retry queue nums must be between 1 and 64, not 0."),
        ({"retryQueueNums": "65"}, "Retry queue nums must be between 1 and 64, not 65."),
        ({"retryMaxTimes": "many"}, "Retry max times must be a whole number, not 'many'."),
    ],
)
def test_group_form_errors(changes: dict[str, str], message: str) -> None:
    with pytest.raises(FormError) as caught:
        read_group_config(form(**changes))
    assert message in str(caught.value)


def test_targets_need_a_cluster_or_broker() -> None:
    with pytest.raises(FormError, match="Choose at least one cluster or broker"):
        read_targets(FormData([]))


def test_outcome_says_where_it_applied_and_where_not() -> None:
    outcome = Outcome(["broker-b", "broker-a"], [BrokerFailure("broker-c", C, "timed out")])
    assert outcome.messages("Group G saved") == [
        ("ok", "Group G saved on broker-a, broker-b."),
        ("error", f"Failed on broker-c ({C}): timed out"),
    ]
    assert Outcome([], [BrokerFailure("broker-c", C, "x")]).messages("Saved")[0][0] == "error"


# Building the list against a scripted admin ------------------------------------------------
class ScriptedAdmin:
    """Answers like masters A and B with `groups` groups each (C never answers); counts
    requests by kind."""

    def __init__(
        self,
        groups: int,
        online: set[str],
        dead: frozenset[str] = frozenset(),
        mute: frozenset[str] = frozenset(),
    ) -> None:
        self.groups = [f"G{i:04d}" for i in range(groups)]
        self.online = online
        self.dead = dead
        self.mute = dead | mute  # brokers that do not answer connection lists
        self.calls: dict[str, int] = {}
        self.in_flight = self.most_in_flight = 0

    def _count(self, kind: str) -> None:
        self.calls[kind] = self.calls.get(kind, 0) + 1

    async def _maybe_dead(self, addr: str) -> None:
        if addr in self.dead:
            await asyncio.sleep(3600)

    async def cluster_info(self) -> ClusterInfo:
        self._count("cluster")
        brokers = {
            "broker-a": BrokerData("c1", "broker-a", {0: A}),
            "broker-b": BrokerData("c1", "broker-b", {0: B}),
            "broker-c": BrokerData("c1", "broker-c", {0: C}),
        }
        return ClusterInfo(brokers, {"c1": sorted(brokers)})

    async def get_all_subscription_group(self, addr: str) -> dict[str, dict[str, Any]]:
        self._count("201")
        await self._maybe_dead(addr)
        return {g: {"groupName": g} for g in self.groups}

    async def fetch_consume_stats_in_broker(self, addr: str) -> ConsumeStatsList:
        self._count("317")
        await self._maybe_dead(addr)
        name = {A: "broker-a", B: "broker-b", C: "broker-c"}[addr]
        return ConsumeStatsList(
            addr, 0, [(g, [stats(name, "T", (i % 7 + 3, 3))]) for i, g in enumerate(self.groups)]
        )

    async def get_consumer_connection(self, addr: str, group: str) -> ConsumerConnection:
        self._count("203")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if addr in self.mute:
                await asyncio.sleep(3600)
            await asyncio.sleep(0)
            if group not in self.online:
                raise ConsumerNotOnlineError(ResponseCode.CONSUMER_NOT_ONLINE, "not online")
            return connection(f"client-{group}")
        finally:
            self.in_flight -= 1

    async def group_broker_addrs(self, group: str) -> list[str]:
        self._count("route")
        return [A, B, C]

    async def get_consume_stats(self, addr: str, group: str) -> ConsumeStats:
        self._count("208")
        await self._maybe_dead(addr)
        return stats({A: "broker-a", B: "broker-b"}[addr], "T", (9, 4), (2, 2))

    async def get_consumer_running_info(
        self, group: str, client_id: str, broker_addr: str | None = None
    ) -> ConsumerRunningInfo:
        self._count("307")
        return ConsumerRunningInfo({}, [], {MessageQueue("T", "broker-b", 0): {}}, {}, None)


async def test_a_thousand_groups_take_few_requests_and_a_dead_broker_one_timeout(
    tmp_path: Path,
) -> None:
    admin = ScriptedAdmin(1000, online={"G0001", "G0500"}, dead=frozenset({C}))
    console = await make_console(tmp_path, admin)
    started = time.monotonic()
    snap = await collect_groups(console, limit=16)
    assert time.monotonic() - started < 2.0  # one 0.3 s timeout, not one per group
    assert admin.calls == {"cluster": 1, "201": 3, "317": 3, "203": 1000}
    assert admin.most_in_flight <= 16
    assert [(f.name, f.addr) for f in snap.failures] == [("broker-c", C)]
    assert "did not answer within 0.3 s" in snap.failures[0].reason
    assert len(snap.rows) == 1000
    by_name = {r.group: r for r in snap.rows}
    assert by_name["G0001"].clients == 1 and by_name["G0002"].clients == 0
    assert by_name["G0003"].lag == 2 * (3 % 7)  # A and B answered; C is missing


async def test_a_broker_that_stops_answering_is_asked_no_more(tmp_path: Path) -> None:
    admin = ScriptedAdmin(1000, online={"G0999"}, mute=frozenset({A}))
    console = await make_console(tmp_path, admin)
    started = time.monotonic()
    snap = await collect_groups(console, limit=16)
    assert time.monotonic() - started < 2.0
    # The first 16 wait on A once, then every group is asked at B.
    assert admin.calls["203"] <= 1000 + 16
    assert [(f.name, f.addr) for f in snap.failures] == [("broker-a", A)]
    assert {r.group: r.clients for r in snap.rows}["G0999"] == 1


async def test_group_progress_skips_a_dead_broker(tmp_path: Path) -> None:
    admin = ScriptedAdmin(1, online={"G0000"}, dead=frozenset({C}))
    console = await make_console(tmp_path, admin)
    progress, failures = await load_progress(console, "G0000")
    assert [f.addr for f in failures] == [C]
    assert progress.lag == 2 * (9 - 4) and progress.queue_count == 4
    owners = {(q.broker_name, q.queue_id): q.client for t in progress.topics for q in t.queues}
    assert owners[("broker-b", 0)] == "client-G0000" and owners[("broker-a", 0)] == "-"


async def test_cache_serves_the_old_copy_while_a_new_one_is_built(tmp_path: Path) -> None:
    admin = ScriptedAdmin(3, online=set())
    console = await make_console(tmp_path, admin)
    cache = GroupCache(max_age=60)
    first = await cache.get(console)
    assert await cache.get(console) is first and admin.calls["201"] == 3
    object.__setattr__(first, "taken_at", first.taken_at - 120)  # make it stale
    assert await cache.get(console) is first and cache.refreshing
    fresh = await cache.refresh(console)  # joins the build under way
    assert fresh is not first and cache.snapshot is fresh and admin.calls["201"] == 6
    cache.invalidate()  # e.g. a group was created: the next look builds anew
    assert await cache.get(console) is not fresh and admin.calls["201"] == 9


async def test_a_rows_refresh_reads_that_group_alone_into_the_cache(tmp_path: Path) -> None:
    admin = ScriptedAdmin(3, online=set(), dead=frozenset({C}))
    console = await make_console(tmp_path, admin)
    cache = GroupCache(max_age=60)
    before = await cache.get(console)
    old = {r.group: r for r in before.rows}
    assert (old["G0001"].lag, old["G0001"].clients) == (2 * (1 % 7), 0)
    admin.online.add("G0001")  # a client came and the group's lag moved since the build

    row, failures = await cache.refresh_group(console, "G0001")
    # 208 on each broker of the group (A and B answer (9, 4) and (2, 2)), 203 where online.
    assert row is not None and (row.lag, row.clients, row.consume_type) == (2 * 5, 1, "PUSH")
    assert [(f.name, f.addr) for f in failures] == [("broker-c", C)]  # dead: one line
    after = cache.snapshot
    assert after is not None and after.taken_at == before.taken_at
    assert {r.group: r for r in after.rows} == {**old, "G0001": row}
    assert admin.calls["201"] == admin.calls["317"] == 3  # no whole-list build
    assert await cache.get(console) is after

    assert await cache.refresh_group(console, "G0999") == (None, [])  # not listed

    # A change made from the console while the row is read drops the snapshot: the row
    # does not go into it.
    scripted = admin.get_consume_stats

    async def changed_meanwhile(addr: str, group: str) -> ConsumeStats:
        cache.invalidate()
        return await scripted(addr, group)

    admin.get_consume_stats = changed_meanwhile  # type: ignore[method-assign]
    row, _ = await cache.refresh_group(console, "G0002")
    assert row is not None and row.lag == 2 * 5
    assert cache.snapshot is after and await cache.get(console) is not after


async def test_nameserver_down_is_one_failure_line(tmp_path: Path) -> None:
    admin = ScriptedAdmin(1, online=set())

    async def refused() -> ClusterInfo:
        raise ConnectionRefusedError("connection refused")

    admin.cluster_info = refused  # type: ignore[method-assign]
    console = await make_console(tmp_path, admin)
    snap = await collect_groups(console)
    assert snap.rows == [] and [(f.name, f.reason) for f in snap.failures] == [
        ("NameServer", "connection refused")
    ]
    with pytest.raises(NameServerFailure):
        await load_progress(console, "G0000")

"""statsAll: per topic and consumer group, accumulation, in/out TPS and 24-hour counts
(tools/command/stats/StatsAllSubCommand.java).

The numbers come from the brokers' VIEW_BROKER_STATS_DATA (TOPIC_PUT_NUMS, GROUP_GET_NUMS;
see orbitmq/broker/handlers/admin_stats.py for how a broker keeps them) and the
accumulation from GET_CONSUME_STATS, as Java's command does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import click

from orbitmq.admin.runner import admin_command, client_options, output, resolve_namesrv, run_command
from orbitmq.admin.tables import front
from orbitmq.client.admin import MQAdmin
from orbitmq.client.route import MASTER_ID
from orbitmq.protocol.topics import is_group_topic

STATS_HEAD = "%-64s  %-64s %12s %11s %11s %14s %14s"
STATS_ROW = "%-64s  %-64s %12d %11.2f %11.2f %14d %14d"
STATS_NO_CONSUMER_ROW = "%-64s  %-64s %12d %11.2f %11s %14d %14s"
TOPIC_PUT_NUMS = "TOPIC_PUT_NUMS"
GROUP_GET_NUMS = "GROUP_GET_NUMS"
PARALLEL_TOPICS = 8


async def _sum_stats(admin: MQAdmin, masters: list[str], name: str, key: str) -> tuple[float, int]:
    """Minute TPS and 24-hour count of one stats item over the masters (missing: 0)."""
    tps, total = 0.0, 0
    for addr in masters:
        with contextlib.suppress(Exception):
            data = await admin.view_broker_stats_data(addr, name, key)
            tps += data.minute.tps
            total += data.sum_24h()
    return tps, total


async def topic_rows(admin: MQAdmin, topic: str, active_only: bool) -> list[dict[str, Any]]:
    """StatsAllSubCommand.printTopicDetail: one row per consumer group (or NO_CONSUMER)."""
    route = await admin.topic_route(topic)
    masters = [b.broker_addrs[MASTER_ID] for b in route.broker_datas if MASTER_ID in b.broker_addrs]
    groups: list[str] = []
    with contextlib.suppress(Exception):
        groups = await admin.query_topic_consume_by_who(topic)
    in_tps, in_count = await _sum_stats(admin, masters, TOPIC_PUT_NUMS, topic)
    rows = []
    for group in groups:
        out_tps, out_count = await _sum_stats(admin, masters, GROUP_GET_NUMS, f"{topic}@{group}")
        accumulation = 0
        with contextlib.suppress(Exception):
            accumulation = max((await admin.examine_consume_stats(group, topic)).total_diff(), 0)
        if not active_only or in_count > 0 or out_count > 0:
            rows.append(
                {"topic": topic, "group": group, "accumulation": accumulation, "inTps": in_tps,
                 "outTps": out_tps, "inMsg24Hour": in_count, "outMsg24Hour": out_count}
            )  # fmt: skip
    if not groups and (not active_only or in_count > 0):
        rows.append(
            {"topic": topic, "group": None, "accumulation": 0, "inTps": in_tps, "outTps": None,
             "inMsg24Hour": in_count, "outMsg24Hour": None}
        )  # fmt: skip
    return rows


def stats_line(row: dict[str, Any]) -> str:
    if row["group"] is None:
        return STATS_NO_CONSUMER_ROW % (
            front(row["topic"], 64),
            "",
            0,
            row["inTps"],
            "",
            row["inMsg24Hour"],
            "NO_CONSUMER",
        )
    return STATS_ROW % (
        front(row["topic"], 64), front(row["group"], 64), row["accumulation"], row["inTps"],
        row["outTps"], row["inMsg24Hour"], row["outMsg24Hour"],
    )  # fmt: skip


@admin_command("statsAll", help="Topic and Consumer tps stats")
@click.option("-a", "--activeTopic", "active_topic", is_flag=True, help="print active topic only")
@click.option("-t", "--topic", default=None, help="print select topic only")
def stats_all(namesrv_addr: str | None, active_topic: bool, topic: str | None) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    selected = topic.strip() if topic else None

    async def body() -> None:
        out = output()
        out.line(
            STATS_HEAD
            % ("#Topic", "#Consumer Group", "#Accumulation", "#InTPS", "#OutTPS", "#InMsg24Hour",
               "#OutMsg24Hour")
        )  # fmt: skip
        async with MQAdmin(namesrv, **client_options()) as admin:
            topics = [
                t
                for t in await admin.topic_list()
                if not is_group_topic(t) and (selected is None or t == selected)
            ]
            if selected is not None and not topics:
                await admin.topic_route(selected)  # unknown topic: a clear error
            limit = asyncio.Semaphore(PARALLEL_TOPICS)

            async def one(name: str) -> list[dict[str, Any]]:
                async with limit:
                    try:
                        return await topic_rows(admin, name, active_topic)
                    except Exception:  # as Java: a topic that cannot be read is skipped
                        return []

            for rows in await asyncio.gather(*(one(t) for t in topics)):
                for row in rows:
                    out.line(stats_line(row))
                    out.record(row)

    run_command("statsAll", body())


COMMANDS = [stats_all]

"""Consumer group inspection: consumerProgress and consumerStatus
(tools/command/consumer/ConsumerProgressSubCommand.java, ConsumerStatusSubCommand.java)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

import click

from orbitmq.admin.commands.group import SYSTEM_GROUPS
from orbitmq.admin.commands.topic_admin import mq_json
from orbitmq.admin.consumer_info import (
    STATUS_TABLE_LINE,
    STATUS_TABLE_ROW,
    process_queue_warnings,
    running_info_text,
    same_subscription,
)
from orbitmq.admin.runner import (
    JAVA_BOOL,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import (
    consumer_progress_lines,
    group_list_head,
    group_list_row,
    version_desc,
)
from orbitmq.client.admin import MQAdmin
from orbitmq.client.admin_bodies import ConsumerConnection, ConsumeStats
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX


async def _client_ips(admin: MQAdmin, group: str) -> dict[MessageQueue, str]:
    """Which client holds each queue, from every member's running info (best effort)."""
    ips: dict[MessageQueue, str] = {}
    with contextlib.suppress(Exception):  # as Java: no allocation shown if it cannot be had
        connection = await admin.examine_consumer_connection(group)
        for c in connection.connections:
            info = await admin.get_consumer_running_info(group, c.client_id)
            ips.update(dict.fromkeys(info.mq_table, c.client_id.split("@")[0]))
    return ips


async def _group_row(
    admin: MQAdmin, group: str
) -> tuple[str, ConsumerConnection | None, ConsumeStats | None]:
    """GroupConsumeInfo: what can be learnt of the group (nothing is fatal)."""
    stats: ConsumeStats | None = None
    connection: ConsumerConnection | None = None
    with contextlib.suppress(Exception):
        stats = await admin.examine_consume_stats(group)
    with contextlib.suppress(Exception):
        connection = await admin.examine_consumer_connection(group)
    return group, connection, stats


def _group_json(
    group: str, connection: ConsumerConnection | None, stats: ConsumeStats | None
) -> dict[str, Any]:
    return {
        "group": group,
        "count": len(connection.connections) if connection else 0,
        "consumeType": connection.consume_type if connection else None,
        "messageModel": connection.message_model if connection else None,
        "consumeTps": stats.consume_tps if stats else 0.0,
        "diffTotal": stats.total_diff() if stats else 0,
    }


def _progress_json(stats: ConsumeStats, ips: dict[MessageQueue, str] | None) -> dict[str, Any]:
    queues = []
    for mq, w in sorted(stats.offset_table.items()):
        item: dict[str, Any] = mq_json(mq.topic, mq.broker_name, mq.queue_id)
        item.update(
            brokerOffset=w.broker_offset,
            consumerOffset=w.consumer_offset,
            diff=w.diff,
            lastTimestamp=w.last_timestamp,
        )
        if ips is not None:
            item["clientIp"] = ips.get(mq)
        queues.append(item)
    return {"queues": queues, "consumeTps": stats.consume_tps, "diffTotal": stats.total_diff()}


async def _all_groups(admin: MQAdmin) -> list[str]:
    """Groups with a retry topic (Java's way) plus the brokers' subscription groups."""
    groups = {
        t[len(RETRY_GROUP_TOPIC_PREFIX) :]
        for t in await admin.topic_list()
        if t.startswith(RETRY_GROUP_TOPIC_PREFIX)
    }
    info = await admin.cluster_info()
    for broker in info.broker_addr_table.values():
        if broker.master_addr is not None:
            groups.update(await admin.get_all_subscription_group(broker.master_addr))
    return sorted(groups - SYSTEM_GROUPS)


@admin_command("consumerProgress", help="Query consumers's progress, speed")
@click.option("-g", "--groupName", "group", default=None, help="consumer group name")
@click.option(
    "-s",
    "--showClientIP",
    "show_ip",
    type=JAVA_BOOL,
    default=False,
    help="Show Client IP per Queue",
)
def consumer_progress(namesrv_addr: str | None, group: str | None, show_ip: bool) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            if group is not None:
                stats = await admin.examine_consume_stats(group.strip())
                ips = await _client_ips(admin, group.strip()) if show_ip else None
                out.lines(consumer_progress_lines(stats, ips))
                out.result(_progress_json(stats, ips))
                return
            rows = await asyncio.gather(*(_group_row(admin, g) for g in await _all_groups(admin)))
        out.line(group_list_head())
        for name, connection, stats in rows:
            out.line(group_list_row(name, connection, stats))
            out.record(_group_json(name, connection, stats))

    run_command("consumerProgress", body())


@admin_command("consumerStatus", help="Query consumer's internal data structure")
@click.option("-g", "--consumerGroup", "group", required=True, help="consumer group name")
@click.option("-i", "--clientId", "client_id", default=None, help="The consumer's client id")
@click.option("-b", "--brokerAddr", "broker_addr", default=None, help="broker address")
@click.option(
    "-s", "--jstack", "jstack", is_flag=True, help="Run jstack command in the consumer progress"
)
def consumer_status(
    namesrv_addr: str | None,
    group: str,
    client_id: str | None,
    broker_addr: str | None,
    jstack: bool,
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    group = group.strip()
    addr = broker_addr.strip() if broker_addr else None

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            cc = await admin.examine_consumer_connection(group, addr)
            if client_id is not None:
                info = await admin.get_consumer_running_info(group, client_id.strip(), jstack, addr)
                text = running_info_text(info)
                out.line(text.rstrip("\n"))
                out.result({"clientId": client_id.strip(), "runningInfo": text})
                return
            now = int(time.time() * 1000)
            out.line(
                STATUS_TABLE_LINE % ("#Index", "#ClientId", "#Version", "#ConsumerRunningInfoFile")
            )
            infos = {}
            for c in cc.connections:
                info = await admin.get_consumer_running_info(group, c.client_id, jstack, addr)
                infos[c.client_id] = info
                path = os.path.join(str(now), c.client_id)  # as Java: <now>/<clientId> in the cwd
                os.makedirs(str(now), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(running_info_text(info))
                out.line(
                    STATUS_TABLE_ROW % (len(infos), c.client_id, version_desc(c.version), path)
                )
                out.record(
                    {"clientId": c.client_id, "version": version_desc(c.version), "file": path}
                )
        if infos:
            if same_subscription(infos, now):
                out.lines(
                    [
                        "",
                        "",
                        "Same subscription in the same group of consumer",
                        "",
                        "",
                        "Rebalance OK",
                    ]
                )
                for cid, info in sorted(infos.items()):
                    out.lines(process_queue_warnings(cid, info, now))
            else:
                out.lines(["", "", "WARN: Different subscription in the same group of consumer!!!"])

    run_command("consumerStatus", body())


COMMANDS = [consumer_progress, consumer_status]

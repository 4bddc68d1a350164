"""Offset commands: resetOffsetByTime, cloneGroupOffset (tools/command/offset/*.java).

resetOffsetByTime asks the brokers to reset the group's offsets and tell its running
consumers (INVOKE_BROKER_TO_RESET_OFFSET); with no consumer online it falls back, as Java
does, to updating the committed offsets itself (ResetOffsetByTimeOldCommand's table).

cloneGroupOffset is done client side, as Java's command does: the source group's committed
offsets of the topic (GET_CONSUME_STATS) are written for the destination group with
UPDATE_CONSUMER_OFFSET. (The broker also answers CLONE_GROUP_OFFSET for Java's
DefaultMQAdminExt.cloneGroupOffset.)
"""

from __future__ import annotations

import click

from orbitmq.admin.commands.topic_admin import mq_json
from orbitmq.admin.message_format import parse_timestamp
from orbitmq.admin.runner import (
    JAVA_BOOL,
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import reset_offset_lines, rollback_lines
from orbitmq.client.admin import MQAdmin
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue


def parse_reset_timestamp(value: str) -> int:
    """`now` (-1: the end of every queue), ms since the epoch, or yyyy-MM-dd#HH:mm:ss:SSS."""
    text = value.strip()
    if text == "now":
        return -1
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="-s") from None


async def reset_offset_old(
    admin: MQAdmin, group: str, topic: str, timestamp: int, force: bool
) -> list[tuple[MessageQueue, int, int, int, int]]:
    """DefaultMQAdminExtImpl.resetOffsetByTimestampOld: (mq, broker offset, consumer
    offset, offset at the time, offset written) per queue of the topic."""
    rows = []
    for addr in await admin.topic_broker_addrs(topic):
        stats = await admin.get_consume_stats(addr, group)
        table = {
            mq: (w.broker_offset, w.consumer_offset)
            for mq, w in stats.offset_table.items()
            if mq.topic == topic
        }
        if not table:  # never consumed: start from the queues' min offsets
            topic_stats = await admin.get_topic_stats_info(addr, topic)
            table = {mq: (o.max_offset, o.min_offset) for mq, o in topic_stats.items()}
        for mq, (broker_offset, consumer_offset) in sorted(table.items()):
            if timestamp == -1:
                at_time = await admin.max_offset(mq)
            else:
                at_time = await admin.search_offset(mq, timestamp)
            rollback = consumer_offset
            if force or at_time <= consumer_offset:
                rollback = at_time
                await admin.update_consumer_offset(group, mq, at_time)
            rows.append((mq, broker_offset, consumer_offset, at_time, rollback))
    return rows


@admin_command(
    "resetOffsetByTime", help="Reset consumer offset by timestamp(without client restart)."
)
@click.option("-g", "--group", required=True, help="set the consumer group")
@click.option("-t", "--topic", required=True, help="set the topic")
@click.option(
    "-s",
    "--timestamp",
    required=True,
    help="set the timestamp[now|currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]",
)
@click.option(
    "-f",
    "--force",
    type=JAVA_BOOL,
    default=True,
    help="set the force rollback by timestamp switch[true|false]",
)
@click.option("-c", "--cplus", is_flag=True, help="reset c++ client offset")
def reset_offset_by_time(
    namesrv_addr: str | None, group: str, topic: str, timestamp: str, force: bool, cplus: bool
) -> None:
    stamp = parse_reset_timestamp(timestamp)
    namesrv = resolve_namesrv(namesrv_addr)
    group, topic, text = group.strip(), topic.strip(), timestamp.strip()
    title = (
        f"rollback consumer offset by specified %s[{group}], topic[{topic}], "
        f"force[{str(force).lower()}], timestamp(string)[{text}], timestamp(long)[{stamp}]"
    )

    async def body() -> None:
        out = output()
        async with MQAdmin(namesrv, **client_options()) as admin:
            try:
                offsets = await admin.reset_offset_by_time(topic, group, stamp, force=force)
            except ConsumerNotOnlineError:
                rows = await reset_offset_old(admin, group, topic, stamp, force)
                out.line(title % "consumerGroup")
                out.lines(rollback_lines(rows))
                out.result(
                    [
                        {**mq_json(mq.topic, mq.broker_name, mq.queue_id), "brokerOffset": b,
                         "consumerOffset": c, "timestampOffset": t, "rollbackOffset": r}
                        for mq, b, c, t, r in rows
                    ]
                )  # fmt: skip
                return
        out.line(title % "group")
        out.lines(reset_offset_lines(offsets))
        out.result(
            [
                {**mq_json(mq.topic, mq.broker_name, mq.queue_id), "offset": o}
                for mq, o in offsets.items()
            ]
        )

    run_command("resetOffsetByTime", body())


@admin_command("cloneGroupOffset", help="clone offset from other group.")
@click.option("-s", "--srcGroup", "src_group", required=True, help="set source consumer group")
@click.option(
    "-d", "--destGroup", "dest_group", required=True, help="set destination consumer group"
)
@click.option("-t", "--topic", required=True, help="set the topic")
@click.option(
    "-o", "--offline", type=JAVA_BOOL, default=False, help="the group or the topic is offline"
)
def clone_group_offset(
    namesrv_addr: str | None, src_group: str, dest_group: str, topic: str, offline: bool
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    src, dest, topic = src_group.strip(), dest_group.strip(), topic.strip()

    async def body() -> None:
        cloned = []
        async with MQAdmin(namesrv, **client_options()) as admin:
            await admin.topic_route(topic)  # an unknown topic fails here, clearly
            stats = await admin.examine_consume_stats(src)  # no offsets at all: an error
            table = {mq: w for mq, w in stats.offset_table.items() if mq.topic == topic}
            if not table:
                raise CommandError(f"consumer group {src!r} has no offsets of topic {topic!r}")
            for mq, wrapper in sorted(table.items()):
                if wrapper.consumer_offset >= 0:
                    await admin.update_consumer_offset(dest, mq, wrapper.consumer_offset)
                    cloned.append(
                        {
                            **mq_json(mq.topic, mq.broker_name, mq.queue_id),
                            "offset": wrapper.consumer_offset,
                        }
                    )
        output().line(
            f"clone group offset success. srcGroup[{src}], destGroup=[{dest}], topic[{topic}]"
        )
        output().result({"srcGroup": src, "destGroup": dest, "topic": topic, "offsets": cloned})

    run_command("cloneGroupOffset", body())


COMMANDS = [reset_offset_by_time, clone_group_offset]

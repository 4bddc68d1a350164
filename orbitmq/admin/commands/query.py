"""Message lookups: queryMsgById, queryMsgByKey, queryMsgByUniqueKey, queryMsgByOffset
(tools/command/message/QueryMsgBy*.java).

By id and by key use the brokers' index (MQAdmin.view_message: VIEW_MESSAGE_BY_ID at the
address inside the offset message id; MQAdmin.query_message: QUERY_MESSAGE on every master
of the topic); by offset pulls one message with the TOOLS_CONSUMER group. As in Java, a
message found by id or offset is printed with its body saved under /tmp/rocketmq/msgbodys
and with what each consumer group did with it (MessageTrack).
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import click

from orbitmq.admin.message_format import (
    message_detail_lines,
    message_json,
    message_queue_str,
    parse_timestamp,
)
from orbitmq.admin.runner import (
    JAVA_BOOL,
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.admin.tables import human_time2
from orbitmq.client.admin import MQAdmin
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullStatus
from orbitmq.client.errors import ConsumerNotOnlineError, MQBrokerError
from orbitmq.client.message import Message, MessageQueue
from orbitmq.client.producer import Producer
from orbitmq.protocol.message import MessageExt

BODY_DIR = "/tmp/rocketmq/msgbodys"
TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
MAX_LONG = 2**63 - 1
KEY_ROW = "%-50s %4d %40d"
KEY_HEAD = "%-50s %4s %40s"
# Properties the producer or broker sets again when a message is resent.
BROKER_PROPERTIES = frozenset({"UNIQ_KEY", "KEYS", "TAGS", "MIN_OFFSET", "MAX_OFFSET", "CLUSTER"})


def write_body(msg: MessageExt, index: int = 0) -> str:
    """Save the body as Java does: /tmp/rocketmq/msgbodys/<msgId>[_<index>]."""
    os.makedirs(BODY_DIR, exist_ok=True)
    path = os.path.join(BODY_DIR, msg.msg_id + (f"_{index}" if index > 0 else ""))
    with open(path, "wb") as fh:
        fh.write(msg.body)
    return path


async def message_tracks(admin: MQAdmin, msg: MessageExt) -> list[dict[str, Any]]:
    """DefaultMQAdminExtImpl.messageTrackDetail: per consumer group of the topic, whether
    it consumed the message (CONSUMED, CONSUMED_BUT_FILTERED, NOT_CONSUME_YET), pulls on
    its own (PULL), is offline (NOT_ONLINE) or cannot be asked (UNKNOWN)."""
    tracks = []
    for group in await admin.query_topic_consume_by_who(msg.topic):
        track: dict[str, Any] = {
            "consumerGroup": group,
            "trackType": "UNKNOWN",
            "exceptionDesc": None,
        }
        tracks.append(track)
        try:
            connection = await admin.examine_consumer_connection(group)
            if connection.consume_type == "CONSUME_ACTIVELY":
                track["trackType"] = "PULL"
                continue
            stats = await admin.examine_consume_stats(group)
        except MQBrokerError as exc:
            if isinstance(exc, ConsumerNotOnlineError):
                track["trackType"] = "NOT_ONLINE"
            track["exceptionDesc"] = f"CODE:{exc.code} DESC:{exc.remark}"
            continue
        except Exception as exc:
            track["exceptionDesc"] = str(exc)
            continue
        store = f"{msg.store_host[0]}:{msg.store_host[1]}"
        info = await admin.cluster_info()
        consumed = any(
            mq.topic == msg.topic
            and mq.queue_id == msg.queue_id
            and (b := info.broker_addr_table.get(mq.broker_name)) is not None
            and b.master_addr == store
            and w.consumer_offset > msg.queue_offset
            for mq, w in stats.offset_table.items()
        )
        track["trackType"] = "CONSUMED" if consumed else "NOT_CONSUME_YET"
        sub = connection.subscription_table.get(msg.topic)
        tags = list((sub or {}).get("tagsSet") or [])
        if consumed and sub is not None and tags and "*" not in tags and msg.tags not in tags:
            track["trackType"] = "CONSUMED_BUT_FILTERED"
    return tracks


async def print_message(
    admin: MQAdmin, msg: MessageExt, index: int = 0, offset_id: bool = True
) -> None:
    out = output()
    out.lines(message_detail_lines(msg, write_body(msg, index), human_time2, offset_id))
    tracks: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        tracks = await message_tracks(admin, msg)
    if not tracks:
        out.lines(["", "", "WARN: No Consumer"])
    else:
        out.lines(["", ""])
        for t in tracks:
            out.line(
                f"MessageTrack [consumerGroup={t['consumerGroup']}, trackType={t['trackType']}, "
                f"exceptionDesc={t['exceptionDesc'] or 'null'}]"
            )
    out.record({**message_json(msg), "tracks": tracks})


@admin_command("queryMsgById", help="Query Message by Id")
@click.option("-i", "--msgId", "msg_ids", required=True, help="Message Id")
@click.option("-s", "--sendMessage", "resend", type=JAVA_BOOL, default=False, help="resend message")
def query_msg_by_id(namesrv_addr: str | None, msg_ids: str, resend: bool) -> None:
    ids = [i.strip() for i in msg_ids.split(",") if i.strip()]
    if not ids:
        raise click.BadParameter("no message id given", param_hint="-i")
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            for msg_id in ids:
                msg = await admin.view_message(msg_id)
                if not resend:
                    await print_message(admin, msg)
                    continue
                output().line(f"prepare resend msg. originalMsgId={msg_id}")
                async with Producer(
                    "ReSendMsgById", namesrv, **client_options()
                ) as producer:
                    props = {k: v for k, v in msg.properties.items() if k not in BROKER_PROPERTIES}
                    keys = msg.properties.get("KEYS")
                    copy = Message(
                        msg.topic,
                        msg.body,
                        tags=msg.tags,
                        keys=keys,
                        properties=props,
                        flag=msg.flag,
                    )
                    result = await producer.send(copy)
                mq = result.message_queue
                queue = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
                output().line(
                    f"SendResult [sendStatus={result.status.name}, msgId={result.msg_id}, "
                    f"offsetMsgId={result.offset_msg_id}, messageQueue={queue}, "
                    f"queueOffset={result.queue_offset}]"
                )
                output().record({"originalMsgId": msg_id, "msgId": result.msg_id})

    run_command("queryMsgById", body())


@admin_command("queryMsgByKey", help="Query Message by Key")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option("-k", "--msgKey", "key", required=True, help="Message Key")
@click.option(
    "-b",
    "--beginTimestamp",
    "begin",
    default=None,
    help="Begin timestamp(ms). default:0, eg:1676730526212",
)
@click.option(
    "-e",
    "--endTimestamp",
    "end",
    default=None,
    help="End timestamp(ms). default:Long.MAX_VALUE, eg:1676730526212",
)
@click.option(
    "-c",
    "--maxNum",
    "max_num",
    type=click.IntRange(1),
    default=64,
    help="The maximum number of messages returned by the query, default:64",
)
def query_msg_by_key(
    namesrv_addr: str | None, topic: str, key: str, begin: str | None, end: str | None, max_num: int
) -> None:
    try:
        begin_ms = parse_timestamp(begin) if begin else 0
        end_ms = parse_timestamp(end) if end else MAX_LONG
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            msgs = await admin.query_message(topic.strip(), key.strip(), max_num, begin_ms, end_ms)
        output().line(KEY_HEAD % ("#Message ID", "#QID", "#Offset"))
        for msg in msgs:
            output().line(KEY_ROW % (msg.msg_id, msg.queue_id, msg.queue_offset))
            output().record(message_json(msg))

    run_command("queryMsgByKey", body())


@admin_command("queryMsgByUniqueKey", help="Query Message by Unique key")
@click.option("-i", "--msgId", "msg_id", required=True, help="Message Id")
@click.option("-t", "--topic", required=True, help="The topic of msg")
@click.option(
    "-a", "--showAll", "show_all", is_flag=True, help="Print all message, the limit is 32"
)
def query_msg_by_unique_key(
    namesrv_addr: str | None, msg_id: str, topic: str, show_all: bool
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        async with MQAdmin(namesrv, **client_options()) as admin:
            msgs = await admin.query_message(
                topic.strip(), msg_id.strip(), 32, 0, MAX_LONG, unique=True
            )
            if not msgs:
                raise CommandError(
                    f"no message with unique key {msg_id.strip()} in topic {topic.strip()}"
                )
            msgs.sort(key=lambda m: m.store_timestamp)
            for index, msg in enumerate(msgs if show_all else msgs[:1]):
                await print_message(admin, msg, index, offset_id=False)

    run_command("queryMsgByUniqueKey", body())


@admin_command("queryMsgByOffset", help="Query Message by offset")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option("-b", "--brokerName", "broker_name", required=True, help="Broker Name")
@click.option("-i", "--queueId", "queue_id", type=click.IntRange(0), required=True, help="Queue Id")
@click.option("-o", "--offset", type=click.IntRange(0), required=True, help="Queue Offset")
def query_msg_by_offset(
    namesrv_addr: str | None, topic: str, broker_name: str, queue_id: int, offset: int
) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    mq = MessageQueue(topic.strip(), broker_name.strip(), queue_id)

    async def body() -> None:
        async with (
            MQAdmin(namesrv, **client_options()) as admin,
            PullConsumer(TOOLS_CONSUMER_GROUP, namesrv, **client_options()) as consumer,
        ):
            await admin.topic_route(mq.topic)  # an unknown topic fails here, clearly
            result = await consumer.pull(mq, "*", offset, 1)
            if result.status is not PullStatus.FOUND or not result.messages:
                name = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
                status = result.status.value
                raise CommandError(
                    f"no message at offset {offset} of {name} (pull status {status})"
                )
            await print_message(admin, result.messages[0])

    run_command("queryMsgByOffset", body())


COMMANDS = [query_msg_by_id, query_msg_by_key, query_msg_by_unique_key, query_msg_by_offset]

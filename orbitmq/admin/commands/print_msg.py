"""printMsg, printMsgByQueue, checkMsgSendRT (tools/command/message/
PrintMessageSubCommand.java, PrintMessageByQueueCommand.java, CheckMsgSendRTCommand.java).

The print commands read with a pull consumer of the TOOLS_CONSUMER group, from the queue's
min offset (or the offset stored at `-b` time) to its max offset (or the one at `-e`).
"""

from __future__ import annotations

import codecs
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orbitmq.admin.message_format import (
    message_ext_str,
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
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullStatus
from orbitmq.client.message import Message, MessageQueue
from orbitmq.client.producer import Producer
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.subscription import parse_subscription

TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"
PULL_BATCH = 32
PRINT_TIMEOUT = 300.0
TIME_HELP = "timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]"
SUB_HELP = "Subscribe Expression(eg: TagA || TagB)"
RT_FORMAT = "%-32s  %-4s  %-20s    %s"

F = TypeVar("F", bound=Callable[..., Any])


def _read_options(fn: F) -> F:
    """`-c`, `-s`, `-b` and `-e`, which printMsg and printMsgByQueue share."""
    options = (
        click.option(
            "-c", "--charsetName", "charset", default="UTF-8", help="CharsetName(eg: UTF-8,GBK)"
        ),
        click.option("-s", "--subExpression", "expression", default="*", help=SUB_HELP),
        click.option("-b", "--beginTimestamp", "begin", default=None, help=f"Begin {TIME_HELP}"),
        click.option("-e", "--endTimestamp", "end", default=None, help=f"End {TIME_HELP}"),
    )
    for option in reversed(options):  # the first option is listed first in --help
        fn = option(fn)
    return fn


def _charset(value: str) -> str:
    try:
        return codecs.lookup(value.strip()).name
    except LookupError:
        raise click.BadParameter(f"unknown charset {value!r}", param_hint="-c") from None


def _expression(topic: str, value: str) -> str:
    try:
        parse_subscription(topic, value.strip())
    except ValueError as exc:
        raise click.BadParameter(
            f"bad subscribe expression {value!r}: {exc}", param_hint="-s"
        ) from None
    return value.strip()


def _stamp(value: str | None, flag: str) -> int | None:
    try:
        return parse_timestamp(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


def message_line(msg: MessageExt, broker_name: str, charset: str, print_body: bool) -> str:
    body = msg.body.decode(charset, errors="replace") if print_body else "NOT PRINT BODY"
    return f"MSGID: {msg.msg_id} {message_ext_str(msg, broker_name)} BODY: {body}"


async def _range(
    consumer: PullConsumer, mq: MessageQueue, begin: int | None, end: int | None
) -> tuple[int, int]:
    low = (
        await consumer.search_offset(mq, begin)
        if begin is not None
        else await consumer.min_offset(mq)
    )
    high = (
        await consumer.search_offset(mq, end) if end is not None else await consumer.max_offset(mq)
    )
    return low, high


@admin_command("printMsg", help="Print Message Detail")
@click.option("-t", "--topic", required=True, help="topic name")
@_read_options
@click.option("-d", "--printBody", "print_body", type=JAVA_BOOL, default=True, help="print body")
def print_msg(
    namesrv_addr: str | None, topic: str, charset: str, expression: str, begin: str | None,
    end: str | None, print_body: bool,
) -> None:  # fmt: skip
    topic = topic.strip()
    charset, expression = _charset(charset), _expression(topic, expression)
    begin_ms, end_ms = _stamp(begin, "-b"), _stamp(end, "-e")
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        async with PullConsumer(
            TOOLS_CONSUMER_GROUP, namesrv, **client_options()
        ) as consumer:
            for mq in await consumer.fetch_message_queues(topic):
                low, high = await _range(consumer, mq, begin_ms, end_ms)
                name = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
                out.line(f"minOffset={low}, maxOffset={high}, {name}")
                offset = low
                while offset < high:
                    result = await consumer.pull(mq, expression, offset, PULL_BATCH)
                    offset = result.next_begin_offset
                    if result.status is PullStatus.FOUND:
                        for msg in result.messages:
                            out.line(message_line(msg, mq.broker_name, charset, print_body))
                            out.record(message_json(msg, mq.broker_name, charset))
                    elif result.status is PullStatus.NO_MATCHED_MSG:
                        out.line(
                            f"{name} no matched msg. status={result.status.value}, offset={offset}"
                        )
                    else:
                        status = result.status.value
                        out.line(f"{name} print msg finished. status={status}, offset={offset}")
                        break
                out.line("--------------------------------------------------------")

    run_command("printMsg", body(), timeout=PRINT_TIMEOUT)


@admin_command("printMsgByQueue", help="Print Message Detail")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option("-a", "--brokerName", "broker_name", required=True, help="broker name")
@click.option("-i", "--queueId", "queue_id", type=click.IntRange(0), required=True, help="queue id")
@_read_options
@click.option(
    "-p",
    "--printMsg",
    "print_messages",
    type=JAVA_BOOL,
    default=False,
    help="print msg. eg: true | false(default)",
)
@click.option(
    "-d",
    "--printBody",
    "print_body",
    type=JAVA_BOOL,
    default=False,
    help="print body. eg: true | false(default)",
)
@click.option(
    "-f",
    "--calculate",
    type=JAVA_BOOL,
    default=False,
    help="calculate by tag. eg: true | false(default)",
)
def print_msg_by_queue(
    namesrv_addr: str | None, topic: str, broker_name: str, queue_id: int, charset: str,
    expression: str, begin: str | None, end: str | None, print_messages: bool, print_body: bool,
    calculate: bool,
) -> None:  # fmt: skip
    mq = MessageQueue(topic.strip(), broker_name.strip(), queue_id)
    charset, expression = _charset(charset), _expression(mq.topic, expression)
    begin_ms, end_ms = _stamp(begin, "-b"), _stamp(end, "-e")
    namesrv = resolve_namesrv(namesrv_addr)

    async def body() -> None:
        out = output()
        tags: Counter[str] = Counter()
        async with PullConsumer(
            TOOLS_CONSUMER_GROUP, namesrv, **client_options()
        ) as consumer:
            queues = await consumer.fetch_message_queues(mq.topic)  # an unknown topic fails here
            if mq not in queues:
                known = ", ".join(sorted({q.broker_name for q in queues}))
                raise CommandError(
                    f"{mq.topic} has no queue {queue_id} on {mq.broker_name} (brokers: {known})"
                )
            low, high = await _range(consumer, mq, begin_ms, end_ms)
            offset = low
            while offset < high:
                result = await consumer.pull(mq, expression, offset, PULL_BATCH)
                offset = result.next_begin_offset
                if result.status is not PullStatus.FOUND:
                    break
                for msg in result.messages:
                    if calculate and msg.tags and msg.tags.strip():
                        tags[msg.tags] += 1
                    if print_messages:
                        out.line(message_line(msg, mq.broker_name, charset, print_body))
                        out.record(message_json(msg, mq.broker_name, charset))
        for tag, count in sorted(tags.items(), key=lambda item: -item[1]):
            out.line(f"Tag: {tag:<30} Count: {count}")
        if calculate:
            out.result({"messages": out.records, "tags": dict(tags)})

    run_command("printMsgByQueue", body(), timeout=PRINT_TIMEOUT)


@admin_command("checkMsgSendRT", help="check message send response time")
@click.option("-t", "--topic", required=True, help="topic name")
@click.option(
    "-a", "--amount", type=click.IntRange(1), default=100, help="message amount | default 100"
)
@click.option(
    "-s", "--size", type=click.IntRange(1), default=128, help="message size | default 128 Byte"
)
def check_msg_send_rt(namesrv_addr: str | None, topic: str, amount: int, size: int) -> None:
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()

    async def body() -> None:
        out = output()
        out.line(RT_FORMAT % ("#Broker Name", "#QID", "#Send Result", "#RT"))
        elapsed = 0
        async with Producer(
            str(time.time_ns() // 1_000_000), namesrv, **client_options()
        ) as producer:
            queues = await producer.fetch_publish_queues(topic)
            for i in range(amount):
                mq = queues[i % len(queues)]  # the Java command's selector: arg % size
                start = time.monotonic()
                try:
                    await producer.send_to_queue(Message(topic, b"a" * size), mq)
                    ok = True
                except Exception:
                    ok = False
                rt = int((time.monotonic() - start) * 1000)
                if i:
                    elapsed += rt
                out.line(RT_FORMAT % (mq.broker_name, mq.queue_id, str(ok).lower(), rt))
                out.record(
                    {"brokerName": mq.broker_name, "queueId": mq.queue_id, "ok": ok, "rt": rt}
                )
        average = elapsed / max(amount - 1, 1)
        out.line(f"Avg RT: {average:.2f}")
        out.result({"sends": out.records, "avgRt": average})

    run_command("checkMsgSendRT", body())


COMMANDS = [print_msg, print_msg_by_queue, check_msg_send_rt]

"""Message commands: sendMessage, consumeMessage (tools/command/message/*.java)."""

from __future__ import annotations

import random
import time

import click

from orbitmq.admin.formatting import send_result_lines
from orbitmq.admin.message_format import (
    consume_message_line,
    message_json,
    message_queue_str,
    parse_timestamp,
)
from orbitmq.admin.runner import (
    CommandError,
    admin_command,
    client_options,
    output,
    resolve_namesrv,
    run_command,
)
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullStatus
from orbitmq.client.message import Message, MessageQueue, SendResult
from orbitmq.client.producer import Producer

TOOLS_CONSUMER_GROUP = "TOOLS_CONSUMER"  # MixAll.TOOLS_CONSUMER_GROUP
PULL_BATCH = 32
CONSUME_TIMEOUT = 300.0


@admin_command("sendMessage", help="Send a message")
@click.option("-t", "--topic", required=True, help="Topic name")
@click.option("-p", "--body", required=True, help="UTF-8 string format of the message body")
@click.option("-k", "--key", "keys", default=None, help="Message keys")
@click.option("-c", "--tags", default=None, help="Message tags")
@click.option("-b", "--broker", "broker_name", default=None, help="Send message to target broker")
@click.option(
    "-i", "--qid", "queue_id", type=int, default=None, help="Send message to target queue"
)
def send_message(
    namesrv_addr: str | None,
    topic: str,
    body: str,
    keys: str | None,
    tags: str | None,
    broker_name: str | None,
    queue_id: int | None,
) -> None:
    if queue_id is not None and broker_name is None:
        raise click.UsageError("Broker name must be set if the queue is chosen! (-b with -i)")
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()
    msg = Message(
        topic,
        body.strip().encode(),
        tags=tags.strip() if tags else None,
        keys=keys.strip() if keys else None,
    )

    async def run() -> None:
        # SendMessageCommand names its producer group after the current time.
        async with Producer(
            str(time.time_ns() // 1_000_000), namesrv, **client_options()
        ) as producer:
            result = await _send(producer, msg, broker_name, queue_id)
        for line in send_result_lines(
            result.message_queue.broker_name,
            result.message_queue.queue_id,
            result.status.name,
            result.msg_id,
        ):
            output().line(line)
        output().result(
            {
                "brokerName": result.message_queue.broker_name,
                "queueId": result.message_queue.queue_id,
                "sendStatus": result.status.name,
                "msgId": result.msg_id,
                "offsetMsgId": result.offset_msg_id,
                "queueOffset": result.queue_offset,
            }
        )

    run_command("sendMessage", run())


async def _send(
    producer: Producer, msg: Message, broker_name: str | None, queue_id: int | None
) -> SendResult:
    """To the given queue; to a random queue of `-b` alone; else round robin with retries."""
    if broker_name is None:
        return await producer.send(msg)
    broker_name = broker_name.strip()
    if queue_id is None:
        queues = [
            q
            for q in await producer.fetch_publish_queues(msg.topic)
            if q.broker_name == broker_name
        ]
        if not queues:
            raise CommandError(f"topic {msg.topic!r} has no writable queue on broker {broker_name}")
        return await producer.send_to_queue(msg, random.choice(queues))
    return await producer.send_to_queue(msg, MessageQueue(msg.topic, broker_name, queue_id))


@admin_command("consumeMessage", help="Consume message")
@click.option("-t", "--topic", required=True, help="Topic name")
@click.option("-b", "--brokerName", "broker_name", default=None, help="Broker name")
@click.option("-i", "--queueId", "queue_id", type=int, default=None, help="Queue Id")
@click.option("-o", "--offset", type=int, default=None, help="Queue offset")
@click.option("-g", "--consumerGroup", "group", default=TOOLS_CONSUMER_GROUP, show_default=True)
@click.option(
    "-s",
    "--beginTimestamp",
    "begin",
    default=None,
    help="Begin timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]",
)
@click.option(
    "-e",
    "--endTimestamp",
    "end",
    default=None,
    help="End timestamp[currentTimeMillis|yyyy-MM-dd#HH:mm:ss:SSS]",
)
@click.option(
    "-c",
    "--MessageNumber",
    "count",
    type=int,
    default=128,
    show_default=True,
    help="Number of message to be consumed",
)
def consume_message(
    namesrv_addr: str | None,
    topic: str,
    broker_name: str | None,
    queue_id: int | None,
    offset: int | None,
    group: str,
    begin: str | None,
    end: str | None,
    count: int,
) -> None:
    if count <= 0:
        raise click.UsageError("please input a positive messageNumber! (-c)")
    if queue_id is not None and broker_name is None:
        raise click.UsageError("Please set the brokerName before queueId! (-b with -i)")
    if offset is not None and queue_id is None:
        raise click.UsageError("please set queueId before offset! (-i with -o)")
    try:
        begin_ms = parse_timestamp(begin) if begin else 0
        end_ms = parse_timestamp(end) if end else 0
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    namesrv = resolve_namesrv(namesrv_addr)
    topic = topic.strip()

    async def run() -> None:
        async with PullConsumer(group.strip(), namesrv, **client_options()) as consumer:
            if queue_id is not None:
                assert broker_name is not None
                queues = [MessageQueue(topic, broker_name.strip(), queue_id)]
            else:
                queues = await consumer.fetch_message_queues(topic)
                if broker_name is not None:
                    queues = [q for q in queues if q.broker_name == broker_name.strip()]
                    if not queues:
                        raise CommandError(f"topic {topic!r} has no queue on broker {broker_name}")
            left = count
            for mq in queues:
                if left <= 0:
                    break
                left -= await _consume_queue(consumer, mq, left, begin_ms, end_ms, offset)

    run_command("consumeMessage", run(), timeout=CONSUME_TIMEOUT)


def plan_range(
    min_offset: int, max_offset: int, start_offset: int | None, left: int
) -> tuple[int, int] | None:
    """Offsets [lo, hi) to print from a queue holding [min_offset, max_offset).

    None when `start_offset` is past the end; at most `left` messages.
    """
    if start_offset is not None:
        if start_offset > max_offset:
            return None
        min_offset = max(min_offset, start_offset)
    return min_offset, min(max_offset, min_offset + left)


async def _consume_queue(
    consumer: PullConsumer,
    mq: MessageQueue,
    left: int,
    begin_ms: int,
    end_ms: int,
    start_offset: int | None,
) -> int:
    """Print the messages of one queue in range; returns how many were printed."""
    lo = await consumer.search_offset(mq, begin_ms) if begin_ms else await consumer.min_offset(mq)
    hi = await consumer.search_offset(mq, end_ms) if end_ms else await consumer.max_offset(mq)
    planned = plan_range(lo, hi, start_offset, left)
    name = message_queue_str(mq.topic, mq.broker_name, mq.queue_id)
    if planned is None:
        output().line(f"{name} no matched msg, offset={start_offset}")
        return 0
    lo, bounded_hi = planned
    if bounded_hi < hi:
        output().line(f"The older {left} message of the {mq.queue_id} queue will be provided")
    hi = bounded_hi
    printed = 0
    offset = lo
    status = PullStatus.NO_NEW_MSG
    while offset < hi:  # bounded: every round advances `offset` or stops
        result = await consumer.pull(mq, "*", offset, min(PULL_BATCH, hi - offset))
        status = result.status
        if status is PullStatus.FOUND:
            output().line("Consume ok")
            for msg in result.messages:
                if msg.queue_offset >= hi:
                    break
                output().line(consume_message_line(msg, mq.broker_name))
                output().record(message_json(msg, mq.broker_name))
                printed += 1
        elif status is PullStatus.NO_MATCHED_MSG:
            output().line(f"{name} no matched msg. status={status.value}, offset={offset}")
        else:
            break
        if result.next_begin_offset <= offset:
            break
        offset = result.next_begin_offset
    output().line(f"{name} print msg finished. status={status.value}, offset={offset}")
    return printed


COMMANDS = [send_message, consume_message]

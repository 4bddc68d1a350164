"""A push consumer's statusTable (ConsumerStatsManager/ConsumeStatus): windows of 10-second
buckets, the listener wrapper's counts, the pull loop's counts, and the running info a
live consumer answers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from orbitmq.admin.consumer_info import running_info_text
from orbitmq.client import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    Message,
    MessageExt,
    MQAdmin,
    Producer,
    PushConsumer,
)
from orbitmq.client.admin_bodies import parse_body, parse_running_info
from orbitmq.client.consumer import consume_stats
from orbitmq.client.consumer.broker_requests import running_info_body
from orbitmq.client.consumer.consume import is_async_listener
from orbitmq.client.consumer.consume_stats import ConsumerStatsManager, counted_listener
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.puller import QueuePuller
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.message import MessageConst, encode_record
from orbitmq.protocol.subscription import parse_subscription

from .conftest import Cluster, wait_for
from .test_push_consumer_live import create_topic

T0 = 1_700_000_000_000  # a bucket boundary


class Clock:
    def __init__(self) -> None:
        self.ms = T0

    def __call__(self) -> int:
        return self.ms


def test_figures_cover_the_complete_buckets_of_the_last_minute() -> None:
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    clock.ms = T0 + 1_000
    stats.inc_pull_rt("T", 100)
    stats.inc_pull_rt("T", 300)
    stats.inc_pull_tps("T", 32)
    stats.inc_pull_tps("T", 32)
    stats.inc_consume_rt("T", 8)
    stats.inc_consume_ok_tps("T", 60)
    stats.inc_consume_failed_tps("T", 3)
    clock.ms = T0 + 5_000  # the first bucket is not complete yet: nothing to report
    assert stats.consume_status("T") == {
        "pullRT": 0.0,
        "pullTPS": 0.0,
        "consumeRT": 0.0,
        "consumeOKTPS": 0.0,
        "consumeFailedTPS": 0.0,
        "consumeFailedMsgs": 0,
    }
    clock.ms = T0 + 10_000
    status = stats.consume_status("T")
    assert (status["pullRT"], status["pullTPS"], status["consumeRT"]) == (200.0, 6.4, 8.0)
    assert (status["consumeOKTPS"], status["consumeFailedTPS"]) == (6.0, 0.3)
    assert status["consumeFailedMsgs"] == 3
    clock.ms = T0 + 30_000  # three buckets since the first figure
    assert stats.consume_status("T")["pullTPS"] == pytest.approx(64 / 30)

    clock.ms = T0 + 80_000  # out of the minute, still in the hour
    status = stats.consume_status("T")
    assert status["pullTPS"] == status["consumeFailedTPS"] == status["pullRT"] == 0.0
    assert status["consumeRT"] == 8.0  # the hour's, as the minute had no call
    assert status["consumeFailedMsgs"] == 3
    assert stats.consume_status("Other")["consumeFailedMsgs"] == 0

    clock.ms = T0 + 3_700_000  # an hour later: forgotten
    stats.inc_consume_failed_tps("T", 1)
    clock.ms += 10_000
    assert stats.consume_status("T")["consumeFailedMsgs"] == 1


def _msgs(topic: str, count: int, retried: bool = False) -> list[MessageExt]:
    props = {MessageConst.RETRY_TOPIC: topic} if retried else {}
    return [MessageExt(topic, b"x", dict(props)) for _ in range(count)]


def _after_a_bucket(stats: ConsumerStatsManager, clock: Clock, topic: str) -> dict[str, Any]:
    clock.ms += 10_000
    return stats.consume_status(topic)


async def test_the_listener_wrapper_counts_outcomes_by_queue_topic() -> None:
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    outcomes: list[object] = [ConsumeStatus.CONSUME_SUCCESS, ConsumeStatus.RECONSUME_LATER, None]

    async def listener(msgs: list[MessageExt]) -> object:
        if not outcomes:
            raise RuntimeError("boom")
        return outcomes.pop(0)

    counted = counted_listener(listener, stats, "G", orderly=False)
    assert is_async_listener(counted)  # still awaited on the loop by the consume services
    assert await counted(_msgs("T", 4)) is ConsumeStatus.CONSUME_SUCCESS
    assert await counted(_msgs("T", 2)) is ConsumeStatus.RECONSUME_LATER
    assert await counted(_msgs("T", 1)) is None
    with pytest.raises(RuntimeError):
        await counted(_msgs("T", 3))
    status = _after_a_bucket(stats, clock, "T")
    assert (status["consumeOKTPS"], status["consumeFailedMsgs"]) == (0.4, 6)

    outcomes[:] = [ConsumeStatus.CONSUME_SUCCESS]
    await counted(_msgs("T", 5, retried=True))  # redelivered from the retry topic
    assert _after_a_bucket(stats, clock, "%RETRY%G")["consumeOKTPS"] == 0.5


def test_a_plain_listener_stays_plain_and_orderly_statuses_count() -> None:
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    results = [ConsumeOrderlyStatus.SUCCESS, ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT]
    counted = counted_listener(lambda msgs: results.pop(0), stats, "G", orderly=True)
    assert not is_async_listener(counted)  # still run on the consume threads
    assert counted(_msgs("T", 2)) is ConsumeOrderlyStatus.SUCCESS
    counted(_msgs("T", 1))
    status = _after_a_bucket(stats, clock, "T")
    assert (status["consumeOKTPS"], status["consumeFailedMsgs"]) == (0.2, 1)


class FakeInstance:
    """Answers the pulls with `responses`, in order."""

    def __init__(self, *responses: RemotingCommand) -> None:
        self.responses = list(responses)
        self.routes = SimpleNamespace(find_subscribe_addr=lambda name, broker_id: "b:1")

    async def invoke(self, addr: str, command: RemotingCommand, timeout: float) -> RemotingCommand:
        return self.responses.pop(0)


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[MessageExt]] = []

    def submit(self, mq: MessageQueue, pq: Any, msgs: list[MessageExt]) -> None:
        self.batches.append(msgs)


async def test_a_found_pull_counts_its_time_and_messages_under_the_queue_topic() -> None:
    mq = MessageQueue("%RETRY%G", "broker-a", 0)
    records = b"".join(
        bytes(encode_record(MessageExt(mq.topic, b"b", {}, queue_id=0, queue_offset=i)))
        for i in range(3)
    )
    ext = {"nextBeginOffset": "3", "minOffset": "0", "maxOffset": "3"}
    found = RemotingCommand(
        code=ResponseCode.SUCCESS, flag=FLAG_RESPONSE, ext_fields=ext, body=records
    )
    nothing = RemotingCommand(code=ResponseCode.PULL_NOT_FOUND, flag=FLAG_RESPONSE, ext_fields=ext)
    clock = Clock()
    stats = ConsumerStatsManager(clock)
    puller = QueuePuller(
        FakeInstance(found, nothing),  # type: ignore[arg-type]
        "G",
        mq,
        0,
        {mq.topic: parse_subscription(mq.topic)},
        OffsetStore(),
        Sink(),
        pull_batch_size=32,
        consume_batch_size=1,
        commit_offsets=False,
        stats=stats,
    )
    assert await puller._pull_once(parse_subscription(mq.topic)) == 0.0
    await puller._pull_once(parse_subscription(mq.topic))  # NO_NEW_MSG counts nothing
    status = _after_a_bucket(stats, clock, mq.topic)
    assert status["pullTPS"] == 0.3 and 0.0 <= status["pullRT"] < 1000


def test_the_status_table_reaches_the_admin_tools() -> None:
    table = {"T": {"pullRT": 1.5, "pullTPS": 2.0, "consumeRT": 3.0, "consumeOKTPS": 4.0,
                   "consumeFailedTPS": 0.5, "consumeFailedMsgs": 7}}  # fmt: skip
    subscriptions = [parse_subscription("T")]
    body = running_info_body("CONSUME_PASSIVELY", 20, 1, subscriptions, status_table=table)
    info = parse_running_info(parse_body(body, "ConsumerRunningInfo"))
    assert info.status_table == table
    row = f"{'T':<32}  {1.5:14.2f} {2.0:14.2f} {3.0:14.2f} {4.0:14.2f} {0.5:18.2f} {7:25d}"
    assert row in running_info_text(info)  # mqadmin consumerStatus prints it


async def test_a_live_consumer_answers_its_status_table(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consume_stats, "BUCKET_MS", 200)  # complete buckets within the test
    await create_topic(cluster, "StatsTopic", queues=2)
    bad = b"bad"

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        if any(m.body == bad for m in msgs):
            return ConsumeStatus.RECONSUME_LATER
        return ConsumeStatus.CONSUME_SUCCESS

    consumer = PushConsumer("StatsGroup", cluster.namesrv_addr)
    consumer.subscribe("StatsTopic")
    consumer.register_message_listener(listener)
    async with consumer, Producer("StatsPG", cluster.namesrv_addr) as producer:
        await wait_for(lambda: sum(q.topic == "StatsTopic" for q in consumer.owned_queues) == 2)
        for body in (b"a", b"b", b"c", bad):
            await producer.send(Message("StatsTopic", body))
        async with MQAdmin(cluster.namesrv_addr) as admin:

            async def counted() -> dict[str, Any] | None:
                info = await admin.get_consumer_running_info("StatsGroup", consumer.client_id)
                status = info.status_table.get("StatsTopic", {})
                done = status.get("consumeFailedMsgs") == 1 and status.get("consumeOKTPS")
                return info.status_table if done else None

            table = await wait_for(counted)
    assert set(table) == {"StatsTopic", "%RETRY%StatsGroup"}
    status = table["StatsTopic"]
    assert status["pullTPS"] > 0 and status["consumeOKTPS"] > 0 and status["consumeRT"] >= 0

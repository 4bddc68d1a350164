"""The timer checkpoint master -> slave (GET_TIMER_CHECKPOINT, slave_sync.py), between an
in-process master and slave; and the broker wiring (timer topic, send refusals)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from orbitmq.broker.slave_sync import SlaveSyncError, parse_timer_checkpoint
from orbitmq.broker.timer import GET_TIMER_CHECKPOINT, TIMER_TOPIC
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt
from orbitmq.remoting.client import RemotingClient
from tests.unit.inprocess import BrokerSet, start_broker_set, stop_broker_set


@pytest.fixture
async def broker_set(tmp_path: Path) -> AsyncIterator[BrokerSet]:
    brokers = await start_broker_set(tmp_path)
    try:
        yield brokers
    finally:
        await stop_broker_set(brokers)


async def _checkpoint_of(client: RemotingClient, addr: str) -> RemotingCommand:
    return await client.invoke(addr, RemotingCommand.request(GET_TIMER_CHECKPOINT), 3.0)


def test_a_bad_checkpoint_body_is_a_sync_error() -> None:
    with pytest.raises(SlaveSyncError, match="GET_TIMER_CHECKPOINT"):
        parse_timer_checkpoint(b'{"timerQueueOffset": 1}')
    good = {"timerQueueOffset": 1, "commitLogOffset": 5, "deliveredOffsets": [[3, 4]]}
    assert parse_timer_checkpoint(orjson.dumps(good)) == good


async def test_the_slave_copies_the_masters_timer_checkpoint(broker_set: BrokerSet) -> None:
    master, slave = broker_set.master, broker_set.slave
    assert master.topic_config_manager.get(TIMER_TOPIC) is not None  # configured, 1 queue
    far = time.time_ns() // 1_000_000 + 60_000
    msg = MessageExt(topic="Later", body=b"x", properties={"TIMER_DELIVER_MS": str(far)})
    assert master.timer_service.park(msg, prepared=False)
    assert master.message_store.append_messages([msg]).is_ok
    deadline = time.monotonic() + 5
    while master.timer_service.pending_count != 1:
        assert time.monotonic() < deadline, "the master did not take the timer in"
        await asyncio.sleep(0.01)
    client = RemotingClient()
    try:
        answer = await _checkpoint_of(client, master.config.broker_addr)
        assert answer.code == ResponseCode.SUCCESS
        assert orjson.loads(answer.body)["timerQueueOffset"] == 0  # one timer pending
        refused = await _checkpoint_of(client, slave.config.broker_addr)
        assert refused.code == ResponseCode.SERVICE_NOT_AVAILABLE
        assert "does not deliver timer messages" in (refused.remark or "")
    finally:
        await client.aclose()

    await slave.slave_synchronize.sync_all()
    copied = orjson.loads(Path(slave.timer_service.path).read_bytes())
    assert copied["timerQueueOffset"] == 0
    assert copied["commitLogOffset"] <= master.message_store.get_commit_log_max_offset()


@pytest.mark.parametrize(
    "properties", ["", "REAL_TOPIC\x01Elsewhere\x02REAL_QID\x010\x02TIMER_OUT_MS\x011"]
)
async def test_a_send_straight_to_the_timer_topic_is_refused(
    broker_set: BrokerSet, properties: str
) -> None:
    client = RemotingClient()
    try:
        response = await client.invoke(
            broker_set.master.config.broker_addr,
            RemotingCommand(
                code=RequestCode.SEND_MESSAGE_V2,
                ext_fields={
                    "a": "PG",
                    "b": TIMER_TOPIC,
                    "c": "TBW102",
                    "d": "4",
                    "e": "0",
                    "f": "0",
                    "g": str(int(time.time() * 1000)),
                    "h": "0",
                    "i": properties,
                },
                body=b"forged",
            ),
            3.0,
        )
    finally:
        await client.aclose()
    assert response.code == ResponseCode.NO_PERMISSION
    assert TIMER_TOPIC in (response.remark or "")

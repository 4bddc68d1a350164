"""GET_BROKER_RUNTIME_INFO against rocketmq-exporter's strict parser (see
tests/runtime_info_contract.py): every key it reads, in the format it parses, from the
first request on; and values that tell the truth about OrbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from orbitmq.broker.broker import BrokerController
from orbitmq.broker.handlers.admin import AdminHandler
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt
from orbitmq.remoting.connection import RemotingConnection
from tests.runtime_info_contract import (
    DISTRIBUTION_KEY,
    LONG_KEYS,
    exporter_problems,
    parse_distribution,
)
from tests.unit.inprocess import broker_config

JAVA_INT_MAX = "2147483647"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[BrokerController]:
    broker = BrokerController(broker_config(tmp_path, ""))
    await broker.start()
    try:
        yield broker
    finally:
        await broker.aclose()


def runtime_table(broker: BrokerController) -> dict[str, str]:
    request = RemotingCommand(code=RequestCode.GET_BROKER_RUNTIME_INFO)
    response = AdminHandler(broker).get_broker_runtime_info(
        RemotingConnection(broker.dispatcher), request
    )
    table: dict[str, str] = orjson.loads(response.body)["table"]
    return table


def message(body: bytes) -> MessageExt:
    return MessageExt(
        topic="RuntimeTopic",
        body=body,
        properties={"TAGS": "TagA"},
        queue_id=0,
        born_timestamp=int(time.time() * 1000),
        born_host=("127.0.0.1", 50000),
        store_host=("127.0.0.1", 10911),
    )


async def test_the_first_answer_already_parses(broker: BrokerController) -> None:
    # RocketMQ sends empty TPS strings in its first seconds, which breaks the exporter.
    assert exporter_problems(runtime_table(broker)) == []


async def test_after_traffic_every_value_parses_and_adds_up(broker: BrokerController) -> None:
    store = broker.message_store
    for i in range(20):
        assert (await store.put_message(message(b"x" * (100 + i)))).is_ok
    assert (await store.put_messages([message(b"y" * 64) for _ in range(30)])).is_ok
    await store.wait_dispatched(store.get_commit_log_max_offset())
    store.get_message("RuntimeTopic", 0, 0, 32).release()
    store.get_message("RuntimeTopic", 0, 50, 32).release()

    table = runtime_table(broker)
    assert exporter_problems(table) == []
    distribution = parse_distribution(table[DISTRIBUTION_KEY])
    assert sum(distribution.values()) == int(table["putMessageTimesTotal"]) == 50
    assert int(table["putMessageEntireTimeMax"]) >= 0
    assert int(table["getMessageEntireTimeMax"]) >= 0
    # Appends dispatch through reput's queue of ready requests; a batch of 30 left 30.
    assert int(table["dispatchMaxBuffer"]) >= 30
    # No transient store pool, no thread pool queues: what a Java broker says for those.
    assert table["remainTransientStoreBufferNumbs"] == JAVA_INT_MAX
    for pool in ("send", "pull", "query"):
        assert table[f"{pool}ThreadPoolQueueSize"] == "0"
        assert table[f"{pool}ThreadPoolQueueHeadWaitTimeMills"] == "0"
        assert table[f"{pool}ThreadPoolQueueCapacity"] == JAVA_INT_MAX


async def test_start_accept_send_request_time_is_when_start_finished(tmp_path: Path) -> None:
    broker = BrokerController(broker_config(tmp_path, ""))
    before = int(time.time() * 1000)
    await broker.start()
    try:
        await asyncio.sleep(0)  # the broker's services run from the next loop turn
        accepted = int(runtime_table(broker)["startAcceptSendRequestTimeStamp"])
        assert broker.boot_timestamp <= accepted and before <= accepted <= time.time() * 1000
    finally:
        await broker.aclose()


def test_the_checker_catches_what_the_exporter_would_choke_on() -> None:
    good = {key: "0" for key in LONG_KEYS}
    problems = exporter_problems(
        {
            **good,
            "dispatchMaxBuffer": "",
            "brokerVersion": "2147483648",  # past Integer.parseInt
            "putTps": "",  # RocketMQ's first seconds
            "getTransferredTps": "1.0 2.0 3.0",
            "getTransferedTps": "1.0 2.0",
            "commitLogDirCapacity": "Total : 49.0 GiB, Free : 20.0 GiB.",
            "remainHowManyDataToFlush": "0B",
            "putMessageDistributeTime": "[<=0ms]:0 [0~10ms]:3 ",
        }
    )
    text = "\n".join(problems)
    for expected in (
        "dispatchMaxBuffer: not a 64-bit integer",
        "brokerVersion: not a 32-bit integer",
        "putTps: not '<10s> <60s> <600s>'",
        "getTransferedTps: not '<10s> <60s> <600s>'",
        "remainHowManyDataToFlush: not '<n> <unit>'",
        "putMessageDistributeTime: not RocketMQ's 13 buckets",
        "getMissTps: missing",
        "runtime: missing",
        "commitLogDiskRatio: missing",
    ):
        assert expected in text
    assert "getTransferredTps" not in text and "commitLogDirCapacity" not in text

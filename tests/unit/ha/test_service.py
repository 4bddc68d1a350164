"""HAService and HAClient talking over loopback TCP, each with a real store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from orbitmq.ha.config import HAConfig
from orbitmq.ha.master import HAService
from orbitmq.ha.slave import HAClient
from orbitmq.protocol.codes import ResponseCode
from orbitmq.store import MessageStore
from tests.processes import free_port
from tests.unit.store.conftest import make_msg, put_all, small_config

FAST = {"heartbeat_interval_s": 0.2, "reconnect_interval_s": 0.1, "slave_timeout_s": 2.0}


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def master(tmp_path: Path) -> AsyncIterator[tuple[MessageStore, HAService]]:
    store = MessageStore(small_config(tmp_path / "master"))
    await store.start()
    ha = HAService(
        store, HAConfig(listen_host="127.0.0.1", listen_port=free_port(), sync_master=True, **FAST)
    )
    await ha.start()
    try:
        yield store, ha
    finally:
        await ha.aclose()
        await store.aclose()


async def start_slave(path: Path, ha: HAService) -> tuple[MessageStore, HAClient]:
    store = MessageStore(small_config(path))
    await store.start()
    client = HAClient(store, HAConfig(**FAST), lambda: f"127.0.0.1:{ha.config.listen_port}")
    await client.start()
    return store, client


async def stop_slave(store: MessageStore, client: HAClient) -> None:
    await client.aclose()
    await store.aclose()


async def put(store: MessageStore, count: int, size: int = 200) -> int:
    await put_all(store, [make_msg(queue_id=i % 3, body=b"m" * size) for i in range(count)])
    return store.get_commit_log_max_offset()


async def test_slave_catches_up_and_sync_sends_wait_for_it(
    master: tuple[MessageStore, HAService], tmp_path: Path
) -> None:
    store, ha = master
    await put(store, 10)
    slave, client = await start_slave(tmp_path / "slave", ha)
    try:
        await eventually(
            lambda: slave.get_commit_log_max_offset() == store.get_commit_log_max_offset()
        )
        for _ in range(20):
            appended = store.append_messages([make_msg(body=b"s" * 300)]).append_result
            assert appended is not None
            end = appended.wrote_offset + appended.wrote_bytes
            assert await ha.wait_replicated(end) == ResponseCode.SUCCESS
            assert ha.push2slave_max_offset >= end
            assert slave.get_commit_log_max_offset() >= end
        stats = ha.statistics()
        assert stats.connection_count == 1
        assert stats.slave_fall_behind_bytes == 0
        assert ha.runtime_info()["slaveFallBehindMuch"] == "0"
        assert client.statistics().connected
        await slave.wait_dispatched(slave.get_commit_log_max_offset())
        pulled = slave.get_message("TopicTest", 0, 0, 100)
        assert pulled.body() == store.get_message("TopicTest", 0, 0, 100).body() != b""
    finally:
        await stop_slave(slave, client)
    await eventually(lambda: ha.statistics().connection_count == 0)


async def test_no_slave_means_slave_not_available(master: tuple[MessageStore, HAService]) -> None:
    store, ha = master
    end = await put(store, 1)
    started = time.monotonic()
    assert await ha.wait_replicated(end) == ResponseCode.SLAVE_NOT_AVAILABLE
    assert time.monotonic() - started < 0.5


async def test_refused_sends_are_logged_with_why_at_most_every_ten_seconds(
    master: tuple[MessageStore, HAService], caplog: pytest.LogCaptureFixture
) -> None:
    store, ha = master
    end = await put(store, 1)
    with caplog.at_level(logging.WARNING, logger="orbitmq.ha.master"):
        for _ in range(3):
            assert await ha.wait_replicated(end) == ResponseCode.SLAVE_NOT_AVAILABLE
    [record] = [r for r in caplog.records if "SLAVE_NOT_AVAILABLE" in r.getMessage()]
    assert "no slave is connected" in record.getMessage()
    assert "stored on the master only" in record.getMessage()


async def test_slave_ahead_of_master_is_refused(
    master: tuple[MessageStore, HAService], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, ha = master
    master_end = await put(store, 2)
    foreign = MessageStore(small_config(tmp_path / "slave"))
    await foreign.start()
    await put(foreign, 8)  # more data than the master has
    slave_end = foreign.get_commit_log_max_offset()
    await foreign.aclose()
    with caplog.at_level(logging.INFO, logger="orbitmq.ha"):
        slave, client = await start_slave(tmp_path / "slave", ha)
        try:
            await eventually(lambda: "beyond this master's max offset" in caplog.text)
            await eventually(lambda: "refused our offset" in caplog.text)
        finally:
            await stop_slave(slave, client)
    assert f"reports offset {slave_end} beyond this master's max offset {master_end}" in caplog.text
    assert store.get_commit_log_max_offset() == master_end
    assert ha.push2slave_max_offset == 0


async def test_slave_off_a_record_boundary_is_refused(
    master: tuple[MessageStore, HAService], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, ha = master
    await put(store, 10, size=200)
    foreign = MessageStore(small_config(tmp_path / "slave"))
    await foreign.start()
    await put(foreign, 3, size=333)  # fewer, differently sized records: another history
    slave_end = foreign.get_commit_log_max_offset()
    await foreign.aclose()
    assert not store.commit_log.is_record_start(slave_end)
    with caplog.at_level(logging.INFO, logger="orbitmq.ha"):
        slave, client = await start_slave(tmp_path / "slave", ha)
        try:
            await eventually(lambda: "not a record boundary" in caplog.text)
            await asyncio.sleep(0.3)  # it retries, and is refused again
            assert slave.get_commit_log_max_offset() == slave_end  # nothing mixed in
        finally:
            await stop_slave(slave, client)
    assert f"asks for offset {slave_end}" in caplog.text


async def test_connections_over_ha_max_connections_are_refused_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = MessageStore(small_config(tmp_path / "capped"))
    await store.start()
    config = HAConfig(listen_host="127.0.0.1", listen_port=free_port(), max_connections=2)
    ha = HAService(store, config)
    await ha.start()
    streams = []
    try:
        for _ in range(5):
            streams.append(await asyncio.open_connection("127.0.0.1", config.listen_port))
        await eventually(lambda: len(ha.connections) == 2)
        for reader, _ in streams[2:]:
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(1), 2) == b""  # closed
        assert len(ha.connections) == 2
        assert caplog.text.count("connection refused from 127.0.0.1") == 1
        assert "(haMaxConnections)" in caplog.text
    finally:
        for _, writer in streams:
            writer.close()
        await ha.aclose()
        await store.aclose()

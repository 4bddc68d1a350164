"""Shared helpers for the store tests: small segments, message factory, store fixture."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orbitmq.protocol.message import MessageExt
from orbitmq.store import MessageStore, MessageStoreConfig

STORE_HOST = ("10.0.0.2", 10911)
BORN_HOST = ("10.0.0.1", 50000)


def small_config(root: Path | str, **overrides: Any) -> MessageStoreConfig:
    """4 KiB commit log segments, 10-unit (200-byte) consume queue segments, index files
    of 64 slots and 256 entries."""
    values: dict[str, Any] = {
        "mapped_file_size_commit_log": 4096,
        "mapped_file_size_consume_queue": 200,
        "max_hash_slot_num": 64,
        "max_index_num": 256,
        "flush_interval_commit_log_ms": 20,
        "flush_interval_consume_queue_ms": 20,
    }
    values.update(overrides)
    return MessageStoreConfig(str(root), **values)


def make_msg(
    topic: str = "TopicTest",
    queue_id: int = 0,
    body: bytes = b"hello",
    tags: str | None = None,
    **properties: str,
) -> MessageExt:
    props = dict(properties)
    if tags is not None:
        props["TAGS"] = tags
    return MessageExt(
        topic=topic,
        body=body,
        properties=props,
        queue_id=queue_id,
        born_timestamp=1_700_000_000_000,
        born_host=BORN_HOST,
        store_host=STORE_HOST,
    )


def commit_log_files(config: MessageStoreConfig) -> list[str]:
    assert config.store_path_commit_log is not None
    directory = config.store_path_commit_log
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))]


@pytest.fixture
def config(tmp_path: Path) -> MessageStoreConfig:
    return small_config(tmp_path / "store")


@pytest.fixture
async def store(config: MessageStoreConfig) -> AsyncIterator[MessageStore]:
    store = MessageStore(config)
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


async def put_all(store: MessageStore, msgs: list[MessageExt]) -> list[int]:
    """Put each message, assert PUT_OK, wait for dispatch; returns commit log offsets."""
    offsets = []
    for msg in msgs:
        result = await store.put_message(msg)
        assert result.is_ok, result
        assert result.append_result is not None
        offsets.append(result.append_result.wrote_offset)
    await store.wait_dispatched(store.get_commit_log_max_offset())
    return offsets

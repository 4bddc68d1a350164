"""Key index through the store: building, querying, rolling files, crash and damage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orbitmq.protocol.message import SysFlag, decode_records
from orbitmq.store import MessageStore, MessageStoreConfig

from .conftest import make_msg, put_all, small_config

ALL_TIME = (0, 2**63 - 1)


def keyed(i: int, **kwargs: object) -> object:
    return make_msg(
        queue_id=i % 2,
        body=b"k%03d" % i,
        KEYS=f"order-{i} shared",
        UNIQ_KEY=f"UNIQ{i:04d}",
        **kwargs,  # type: ignore[arg-type]
    )


def query(
    store: MessageStore, key: str, max_num: int = 64, topic: str = "TopicTest"
) -> list[bytes]:
    result = store.query_message(topic, key, max_num, *ALL_TIME)
    try:
        return [m.body for m in decode_records(result.body())]
    finally:
        result.release()


def index_files(config: MessageStoreConfig) -> list[str]:
    return sorted(os.listdir(config.index_dir)) if os.path.isdir(config.index_dir) else []


async def test_keys_and_unique_key_are_indexed(store: MessageStore) -> None:
    offsets = await put_all(store, [keyed(i) for i in range(12)])  # type: ignore[misc]
    assert query(store, "order-7") == [b"k007"]
    assert query(store, "UNIQ0003") == [b"k003"]
    assert sorted(query(store, "shared")) == [b"k%03d" % i for i in range(12)]
    assert query(store, "shared", max_num=5) != []
    assert len(query(store, "shared", max_num=5)) == 5
    assert query(store, "order-7", topic="OtherTopic") == []
    assert query(store, "missing") == []
    result = store.query_message("TopicTest", "order-7", 32, *ALL_TIME)
    assert result.index_last_update_phyoffset == offsets[-1]  # the newest indexed record
    assert result.index_last_update_timestamp > 0


async def test_records_come_back_byte_for_byte(store: MessageStore) -> None:
    (offset,) = await put_all(store, [keyed(1)])  # type: ignore[list-item]
    result = store.query_message("TopicTest", "order-1", 32, *ALL_TIME)
    stored = store.get_message_by_offset(offset)
    assert stored is not None and result.body() == stored
    assert store.get_message_by_offset(offset + 1) is None
    assert store.get_message_by_offset(10**9) is None


async def test_time_range_filters_by_seconds(store: MessageStore) -> None:
    await put_all(store, [keyed(1)])  # type: ignore[list-item]
    stored = decode_records(store.query_message("TopicTest", "order-1", 32, *ALL_TIME).body())[0]
    stamp = stored.store_timestamp
    assert query_range(store, "order-1", stamp - 5000, stamp + 5000) == [b"k001"]
    assert query_range(store, "order-1", stamp + 5000, stamp + 9000) == []
    assert query_range(store, "order-1", 0, stamp - 5000) == []


def query_range(store: MessageStore, key: str, begin: int, end: int) -> list[bytes]:
    return [
        m.body for m in decode_records(store.query_message("TopicTest", key, 32, begin, end).body())
    ]


async def test_rollback_records_are_not_indexed(store: MessageStore) -> None:
    await put_all(store, [make_msg(KEYS="rb")])
    msg = make_msg(KEYS="gone")
    msg.sys_flag = SysFlag.TRANSACTION_ROLLBACK
    await put_all(store, [msg])
    assert query(store, "gone") == []
    assert query(store, "rb") != []


async def test_full_file_rolls_over_and_a_message_never_splits(tmp_path: Path) -> None:
    config = small_config(tmp_path, max_index_num=8)  # 7 entries per file
    async with MessageStore(config) as store:
        await put_all(store, [keyed(i) for i in range(10)])  # type: ignore[misc]
        names = index_files(config)
        assert len(names) == 5  # 3 keys per message, 2 messages per file
        assert names == sorted(names) and all(len(n) == 17 for n in names)
        for index_file in store.index.files:  # type: ignore[union-attr]
            assert (index_file.header.index_count - 1) % 3 == 0
        assert sorted(query(store, "shared")) == [b"k%03d" % i for i in range(10)]
        assert query(store, "order-0") == [b"k000"]


async def test_disabled_index_answers_nothing(tmp_path: Path) -> None:
    config = small_config(tmp_path, message_index_enable=False)
    async with MessageStore(config) as store:
        await put_all(store, [keyed(1)])  # type: ignore[list-item]
        assert query(store, "order-1") == []
    assert index_files(config) == []


async def test_crash_keeps_every_key_once(config: MessageStoreConfig) -> None:
    store = MessageStore(config)
    await store.start()
    await put_all(store, [keyed(i) for i in range(20)])  # type: ignore[misc]
    await store._crash()  # the header in the mapping is older than the last entries
    async with MessageStore(config) as store:
        assert sorted(query(store, "shared")) == [b"k%03d" % i for i in range(20)]
        assert query(store, "order-19") == [b"k019"]
        await put_all(store, [keyed(20)])  # type: ignore[list-item]
        assert query(store, "order-20") == [b"k020"]
        assert len(query(store, "shared")) == 21


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
async def test_lost_or_damaged_index_file_is_rebuilt(
    config: MessageStoreConfig, damage: str
) -> None:
    async with MessageStore(config) as store:
        await put_all(store, [keyed(i) for i in range(15)])  # type: ignore[misc]
    (name,) = index_files(config)
    path = os.path.join(config.index_dir, name)
    if damage == "delete":
        os.unlink(path)
    elif damage == "truncate":
        os.truncate(path, 1000)
    else:
        with open(path, "r+b") as fh:
            fh.write(os.urandom(40))
    async with MessageStore(config) as store:
        assert sorted(query(store, "shared")) == [b"k%03d" % i for i in range(15)]
        assert query(store, "UNIQ0014") == [b"k014"]


async def test_entries_past_a_cut_log_tail_are_dropped(config: MessageStoreConfig) -> None:
    store = MessageStore(config)
    await store.start()
    offsets = await put_all(store, [keyed(i) for i in range(6)])  # type: ignore[misc]
    await store._crash()
    size = config.mapped_file_size_commit_log
    path = os.path.join(str(config.store_path_commit_log), f"{offsets[4] - offsets[4] % size:020d}")
    with open(path, "r+b") as fh:  # records 4 and 5 never reached the disk
        fh.seek(offsets[4] % size)
        fh.write(bytes(size - offsets[4] % size))
    async with MessageStore(config) as store:
        assert store.get_commit_log_max_offset() == offsets[4]
        assert query(store, "order-4") == [] and query(store, "order-5") == []
        assert len(query(store, "shared")) == 4
        await put_all(store, [make_msg(KEYS="order-4b")])  # lands where record 4 was
        assert query(store, "order-4b") != [] and query(store, "order-4") == []

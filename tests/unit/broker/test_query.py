"""QUERY_MESSAGE (12) and VIEW_MESSAGE_BY_ID (33) handlers over a real store."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orbitmq.broker.errors import MissingHeaderFieldError
from orbitmq.broker.handlers.query import QueryMessageHandler
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt, decode_records
from orbitmq.store import MessageStore, MessageStoreConfig

CONNECTION: Any = None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MessageStore]:
    config = MessageStoreConfig(
        str(tmp_path / "store"),
        mapped_file_size_commit_log=1 << 16,
        max_hash_slot_num=32,
        max_index_num=128,
        default_query_max_num=2,
    )
    async with MessageStore(config) as running:
        yield running


async def _put(store: MessageStore, body: bytes, **props: str) -> int:
    msg = MessageExt(
        topic="Orders",
        body=body,
        properties=props,
        born_host=("10.0.0.1", 5000),
        store_host=("127.0.0.1", 10911),
    )
    result = await store.put_message(msg)
    assert result.is_ok and result.append_result is not None
    await store.wait_dispatched(store.get_commit_log_max_offset())
    return result.append_result.wrote_offset


def _query(key: str, max_num: int = 32, **extra: str) -> RemotingCommand:
    ext = {
        "topic": "Orders",
        "key": key,
        "maxNum": str(max_num),
        "beginTimestamp": "0",
        "endTimestamp": str(2**63 - 1),
        **extra,
    }
    return RemotingCommand.request(RequestCode.QUERY_MESSAGE, ext)


def _handler(store: MessageStore) -> QueryMessageHandler:
    return QueryMessageHandler(SimpleNamespace(message_store=store))  # type: ignore[arg-type]


def _stored_bytes(store: MessageStore, offset: int, size: int) -> bytes:
    path = os.path.join(str(store.config.store_path_commit_log), f"{0:020d}")
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


async def test_query_by_key_returns_the_stored_records(store: MessageStore) -> None:
    first = await _put(store, b"one", KEYS="order-1 customer-9")
    await _put(store, b"two", KEYS="order-2 customer-9")
    response = _handler(store).query_message(CONNECTION, _query("order-1"))
    assert response.code == ResponseCode.SUCCESS
    assert int(response.ext_fields["indexLastUpdatePhyoffset"]) > first
    assert int(response.ext_fields["indexLastUpdateTimestamp"]) > 0
    assert response.body == _stored_bytes(store, first, len(response.body))
    both = _handler(store).query_message(CONNECTION, _query("customer-9"))
    assert sorted(m.body for m in decode_records(both.body)) == [b"one", b"two"]


async def test_unknown_key_is_query_not_found(store: MessageStore) -> None:
    await _put(store, b"one", KEYS="order-1")
    response = _handler(store).query_message(CONNECTION, _query("order-404"))
    assert response.code == ResponseCode.QUERY_NOT_FOUND
    assert response.body == b""
    assert "indexLastUpdateTimestamp" in response.ext_fields


async def test_unique_key_query_uses_default_query_max_num(store: MessageStore) -> None:
    for i in range(4):  # e.g. a message sent again with the same client id
        await _put(store, b"copy%d" % i, UNIQ_KEY="AC11000100002A9F0000000000000001")
    unique = _query("AC11000100002A9F0000000000000001", 10, _UNIQUE_KEY_QUERY="true")
    response = _handler(store).query_message(CONNECTION, unique)
    assert len(decode_records(response.body)) == 2  # defaultQueryMaxNum, not maxNum
    plain = _handler(store).query_message(CONNECTION, _query("AC11000100002A9F0000000000000001"))
    assert len(decode_records(plain.body)) == 4


async def test_missing_field_is_named(store: MessageStore) -> None:
    request = RemotingCommand.request(RequestCode.QUERY_MESSAGE, {"topic": "Orders"})
    with pytest.raises(MissingHeaderFieldError, match="key"):
        _handler(store).query_message(CONNECTION, request)


async def test_view_message_by_id_returns_the_bytes_as_stored(store: MessageStore) -> None:
    await _put(store, b"first")
    offset = await _put(store, b"second", KEYS="k", TAGS="TagA")
    request = RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(offset)})
    response = _handler(store).view_message_by_id(CONNECTION, request)
    assert response.code == ResponseCode.SUCCESS
    assert response.body == _stored_bytes(store, offset, len(response.body))
    (msg,) = decode_records(response.body)
    assert msg.body == b"second" and msg.commit_log_offset == offset

    for bad in (offset + 3, 10**9):
        request = RemotingCommand.request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": str(bad)})
        response = _handler(store).view_message_by_id(CONNECTION, request)
        assert response.code == ResponseCode.SYSTEM_ERROR
        assert f"can not find message by the offset, {bad}" == response.remark


async def test_matches_are_by_hash_as_in_rocketmq(store: MessageStore) -> None:
    """Keys "Aa" and "BB" have the same Java hash: the broker answers both records and
    leaves it to the client to keep the one whose key really matches."""
    await _put(store, b"aa", KEYS="Aa")
    await _put(store, b"bb", KEYS="BB")
    response = _handler(store).query_message(CONNECTION, _query("Aa"))
    assert sorted(m.body for m in decode_records(response.body)) == [b"aa", b"bb"]

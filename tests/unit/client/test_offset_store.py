from pathlib import Path

import orjson

from orbitmq.client.consumer.offset_store import LocalFileOffsetStore, OffsetStore
from orbitmq.client.message import MessageQueue

MQ = MessageQueue("T", "b", 0)


def test_memory_updates() -> None:
    store = OffsetStore()
    assert store.read_memory(MQ) == -1
    store.update(MQ, 5)
    store.update(MQ, 3)
    assert store.read_memory(MQ) == 5
    store.update(MQ, 3, increase_only=False)
    assert store.read_memory(MQ) == 3
    store.update(MQ, -1, increase_only=False)
    assert store.read_memory(MQ) == 3
    store.remove(MQ)
    assert store.read_memory(MQ) == -1


async def test_local_file_round_trip(tmp_path: Path) -> None:
    directory = tmp_path / "client" / "G"
    store = LocalFileOffsetStore(directory)
    assert await store.read_store(MQ) is None
    other = MessageQueue("T", "b", 1)
    store.update(MQ, 10)
    store.update(other, 20)
    await store.persist_all([MQ, other])
    raw = orjson.loads((directory / "offsets.json").read_bytes())
    assert {"topic": "T", "brokerName": "b", "queueId": 0, "offset": 10} in raw["offsetTable"]
    reopened = LocalFileOffsetStore(directory)
    assert await reopened.read_store(MQ) == 10
    assert reopened.read_memory(MQ) == 10
    # persisting one queue keeps the others in the file
    reopened.update(MQ, 11)
    await reopened.persist(MQ)
    assert await LocalFileOffsetStore(directory).read_store(other) == 20
    assert await LocalFileOffsetStore(directory).read_store(MQ) == 11


async def test_local_file_unreadable_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "offsets.json").write_text("{broken")
    assert await LocalFileOffsetStore(tmp_path).read_store(MQ) is None


async def test_local_file_write_failure_is_logged_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = LocalFileOffsetStore(blocker / "sub")
    store.update(MQ, 1)
    await store.persist_all([MQ])  # mkdir fails: logged

"""Consumer offsets: at the broker (clustering) or in a local file (broadcasting).

An offset is the next offset to consume. Both stores keep a table in memory that the
consume path updates without I/O; `persist_all` writes it out (every 5 s, and on
shutdown or queue release).
  RemoteOffsetStore     QUERY_CONSUMER_OFFSET to read, UPDATE_CONSUMER_OFFSET (one-way)
                        to persist, at the queue's master, or at a slave of its broker
                        set while the master is down (the slave keeps them; the memory
                        table overwrites the master's older ones once it is back).
  LocalFileOffsetStore  <dir>/offsets.json, written atomically (temp file + rename):
                        {"offsetTable": [{"topic", "brokerName", "queueId", "offset"}]}
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import orjson

from orbitmq.client import broker_api
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue

log = logging.getLogger(__name__)


class OffsetStore:
    """In-memory offsets; subclasses decide where they live."""

    def __init__(self) -> None:
        self.table: dict[MessageQueue, int] = {}

    def update(self, mq: MessageQueue, offset: int, increase_only: bool = True) -> None:
        """Record a new offset in memory (ignored if lower than the current one and
        `increase_only`)."""
        if offset < 0:
            return
        current = self.table.get(mq)
        if current is None or not increase_only or offset > current:
            self.table[mq] = offset

    def read_memory(self, mq: MessageQueue) -> int:
        """The offset in memory, -1 if none."""
        return self.table.get(mq, -1)

    async def read_store(self, mq: MessageQueue, zero_if_not_found: bool = True) -> int | None:
        """The persisted offset, None if there is none; also cached in memory.

        `zero_if_not_found=False`: a broker must not answer 0 for a young queue the group
        never committed (RocketMQ 5's setZeroIfNotFound).
        """
        raise NotImplementedError

    async def persist(self, mq: MessageQueue) -> None:
        await self.persist_all([mq])

    async def persist_all(self, mqs: list[MessageQueue]) -> None:
        raise NotImplementedError

    def remove(self, mq: MessageQueue) -> None:
        self.table.pop(mq, None)


class RemoteOffsetStore(OffsetStore):
    """Offsets kept by the broker (clustering mode)."""

    def __init__(self, instance: ClientInstance, group: str) -> None:
        super().__init__()
        self._instance = instance
        self._group = group

    async def read_store(self, mq: MessageQueue, zero_if_not_found: bool = True) -> int | None:
        addr = await self._instance.routes.find_offset_addr(mq.broker_name, mq.topic)
        offset = await broker_api.query_consumer_offset(
            self._instance, addr, self._group, mq, zero_if_not_found=zero_if_not_found
        )
        if offset is not None:
            self.update(mq, offset, increase_only=False)
        return offset

    async def persist_all(self, mqs: list[MessageQueue]) -> None:
        for mq in mqs:
            offset = self.table.get(mq)
            if offset is None:
                continue
            addr = self._instance.routes.find_subscribe_addr(mq.broker_name)
            if addr is None:
                log.warning("cannot persist offset of %s: no broker of the set is known", mq)
                continue
            try:
                await broker_api.update_consumer_offset(
                    self._instance, addr, self._group, mq, offset
                )
            except Exception as exc:
                log.warning("persisting offset %d of %s failed: %s", offset, mq, exc)


def default_offset_dir(client_id: str, group: str) -> Path:
    """~/.orbitmq_offsets/<client id>/<group>."""
    return Path.home() / ".orbitmq_offsets" / client_id / group


class LocalFileOffsetStore(OffsetStore):
    """Offsets kept in a JSON file (broadcasting mode: every member has its own)."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = directory / "offsets.json"
        self._loaded: dict[MessageQueue, int] = self._load()

    def _load(self) -> dict[MessageQueue, int]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("ignoring unreadable offset file %s: %s", self.path, exc)
            return {}
        table = {}
        for item in raw.get("offsetTable") or []:
            try:
                mq = MessageQueue(str(item["topic"]), str(item["brokerName"]), int(item["queueId"]))
                table[mq] = int(item["offset"])
            except (KeyError, TypeError, ValueError):
                continue
        return table

    async def read_store(self, mq: MessageQueue, zero_if_not_found: bool = True) -> int | None:
        offset = self._loaded.get(mq)
        if offset is not None:
            self.update(mq, offset, increase_only=False)
        return offset

    async def persist_all(self, mqs: list[MessageQueue]) -> None:
        for mq in mqs:
            if mq in self.table:
                self._loaded[mq] = self.table[mq]
        entries = [
            {"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o}
            for mq, o in sorted(self._loaded.items())
        ]
        data = orjson.dumps({"offsetTable": entries}, option=orjson.OPT_INDENT_2)
        try:
            await asyncio.to_thread(self._write, data)
        except OSError as exc:
            log.warning("cannot write offsets to %s: %s", self.path, exc)

    def _write(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

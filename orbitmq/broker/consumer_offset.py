"""Committed consumer offsets, persisted as `config/consumerOffset.json`.

Keys are `topic@group`; values map queue id to the next offset to consume. fastjson
writes the queue ids unquoted, which `load_json_file` accepts.
"""

from __future__ import annotations

import os
from typing import Any

from orbitmq.config_file import load_json_file, persist_json_file

TOPIC_GROUP_SEPARATOR = "@"


class ConsumerOffsetManager:
    def __init__(self, store_path_root_dir: str) -> None:
        self.path = os.path.join(store_path_root_dir, "config", "consumerOffset.json")
        self.offset_table: dict[str, dict[int, int]] = {}
        self._dirty = False

    def load(self) -> None:
        data = load_json_file(self.path)
        if not data:
            return
        for key, queues in (data.get("offsetTable") or {}).items():
            self.offset_table[key] = {int(q): int(o) for q, o in queues.items()}

    def persist(self) -> None:
        persist_json_file(self.path, self.to_json())
        self._dirty = False

    def persist_if_dirty(self) -> None:
        if self._dirty:
            self.persist()

    def to_json(self) -> dict[str, Any]:
        return {
            "offsetTable": {
                key: {str(q): o for q, o in sorted(queues.items())}
                for key, queues in self.offset_table.items()
            }
        }

    def commit_offset(self, group: str, topic: str, queue_id: int, offset: int) -> None:
        key = f"{topic}{TOPIC_GROUP_SEPARATOR}{group}"
        queues = self.offset_table.get(key)
        if queues is None:
            queues = self.offset_table[key] = {}
        if queues.get(queue_id) != offset:
            queues[queue_id] = offset
            self._dirty = True

    def merge_offsets(self, offsets: dict[str, dict[int, int]]) -> None:
        """Slave sync: the master's table replaces ours key by key (Java's putAll), and is
        persisted at once."""
        self.offset_table.update(offsets)
        self.persist()

    def query_offset(self, group: str, topic: str, queue_id: int) -> int:
        """Committed offset, or -1 when the group never committed for that queue."""
        queues = self.offset_table.get(f"{topic}{TOPIC_GROUP_SEPARATOR}{group}")
        if queues is None:
            return -1
        return queues.get(queue_id, -1)

    def groups_of_topic(self, topic: str) -> set[str]:
        prefix = topic + TOPIC_GROUP_SEPARATOR
        return {k[len(prefix) :] for k in self.offset_table if k.startswith(prefix)}

    def topics_of_group(self, group: str) -> set[str]:
        suffix = TOPIC_GROUP_SEPARATOR + group
        return {k[: -len(suffix)] for k in self.offset_table if k.endswith(suffix)}

    def remove_group(self, group: str) -> None:
        suffix = TOPIC_GROUP_SEPARATOR + group
        for key in [k for k in self.offset_table if k.endswith(suffix)]:
            del self.offset_table[key]
        self._dirty = True

    def remove_topic(self, topic: str) -> None:
        prefix = topic + TOPIC_GROUP_SEPARATOR
        for key in [k for k in self.offset_table if k.startswith(prefix)]:
            del self.offset_table[key]
        self._dirty = True

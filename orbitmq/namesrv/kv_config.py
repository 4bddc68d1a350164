"""The NameServer's namespaced key/value store (namesrv/kvconfig/KVConfigManager.java).

Persisted as `{"configTable":{namespace:{key:value}}}` at `kvConfigPath`, the file a Java
NameServer writes, so either can take over the other's file. Every change rewrites the
whole file (it is tiny and changes only on operator commands) through a temporary file
and an atomic rename, so a crash leaves the old or the new table, never half of one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from orbitmq.namesrv.codec import loads_tolerant
from orbitmq.namesrv.errors import BodyDecodeError, ConfigError

log = logging.getLogger(__name__)

NAMESPACE_ORDER_TOPIC_CONFIG = "ORDER_TOPIC_CONFIG"


class KvConfigManager:
    """Args:
    path: the JSON file; None keeps the table in memory only (tests, embedded use).
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self._table: dict[str, dict[str, str]] = {}

    def load(self) -> None:
        """Read the file if it exists.

        Raises:
            ConfigError: the file exists but is not a config table. Starting empty would
                overwrite the operator's data at the next PUT_KV_CONFIG.
        """
        if self.path is None or not self.path.exists():
            return
        try:
            doc = loads_tolerant(self.path.read_bytes())
        except (OSError, BodyDecodeError) as exc:
            raise ConfigError(f"kvConfigPath {self.path} is unreadable: {exc}") from exc
        table = doc.get("configTable") if isinstance(doc, dict) else None
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise ConfigError(f"kvConfigPath {self.path} has no configTable object")
        self._table = {
            str(ns): {str(k): str(v) for k, v in entries.items()} for ns, entries in table.items()
        }
        log.info("loaded %d KV namespaces from %s", len(self._table), self.path)

    def put(self, namespace: str, key: str, value: str) -> None:
        self._table.setdefault(namespace, {})[key] = value
        self._persist()

    def get(self, namespace: str, key: str) -> str | None:
        return self._table.get(namespace, {}).get(key)

    def delete(self, namespace: str, key: str) -> None:
        entries = self._table.get(namespace)
        if entries is None or entries.pop(key, None) is None:
            return
        if not entries:
            del self._table[namespace]
        self._persist()

    def get_namespace(self, namespace: str) -> dict[str, str] | None:
        entries = self._table.get(namespace)
        return dict(entries) if entries else None

    def snapshot(self) -> dict[str, dict[str, str]]:
        return {ns: dict(entries) for ns, entries in self._table.items()}

    def _persist(self) -> None:
        # Synchronous on purpose: a few hundred bytes, written only on admin commands, and
        # ordering matters (two quick PUTs must not land on disk in the wrong order).
        if self.path is None:
            return
        data = orjson.dumps({"configTable": self._table})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

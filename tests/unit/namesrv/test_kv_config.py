"""KvConfigManager persistence in the Java NameServer's file format."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from orbitmq.namesrv.errors import ConfigError
from orbitmq.namesrv.kv_config import KvConfigManager


def test_persist_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "kvConfig.json"
    kv = KvConfigManager(path)
    kv.load()  # absent file: empty table
    kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4")
    kv.put("ns", "k", "v")
    kv.delete("ns", "k")
    kv.delete("ns", "never")
    assert orjson.loads(path.read_bytes()) == {
        "configTable": {"ORDER_TOPIC_CONFIG": {"T": "broker-a:4"}}
    }
    assert [p.name for p in path.parent.iterdir()] == ["kvConfig.json"]  # no tmp left
    again = KvConfigManager(path)
    again.load()
    assert again.get("ORDER_TOPIC_CONFIG", "T") == "broker-a:4"
    assert again.get_namespace("ns") is None


def test_loads_java_written_file(tmp_path: Path) -> None:
    path = tmp_path / "kvConfig.json"
    path.write_text('{\n\t"configTable":{\n\t\t"ns":{\n\t\t\t"k":"v"\n\t\t}\n\t}\n}')
    kv = KvConfigManager(path)
    kv.load()
    assert kv.snapshot() == {"ns": {"k": "v"}}


@pytest.mark.parametrize("content", ["{broken", '{"configTable":[1]}', '{"configTable":{"a":1}}'])
def test_corrupt_file_refuses_to_start(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kvConfig.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="kvConfigPath"):
        KvConfigManager(path).load()
    assert path.read_text() == content  # untouched


def test_memory_only() -> None:
    kv = KvConfigManager(None)
    kv.load()
    kv.put("a", "b", "c")
    assert kv.get("a", "b") == "c"

"""Reading RocketMQ `.properties` files into typed settings, and persisting JSON configs.

A key's Java name maps to one typed field; unknown keys are logged and ignored, as a
Java broker does, but a bad value is a startup error naming the key (ARCHITECTURE.md §3).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import Mapping
from typing import Any

import javaproperties
import orjson

from orbitmq.errors import OrbitMQError

log = logging.getLogger(__name__)


class ConfigError(OrbitMQError):
    """A configuration value cannot be used; the message names the key."""


def read_properties(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return {k.strip(): v.strip() for k, v in javaproperties.load(fh).items()}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _convert(key: str, text: str, kind: Any) -> Any:
    if kind is bool or kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ConfigError(f"{key}={text!r}: expected true or false")
        return lowered == "true"
    if kind is int or kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected an integer") from None
    if kind is float or kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}={text!r}: expected a number") from None
    return text


def apply_properties(
    settings: Any,
    properties: Mapping[str, str],
    *,
    ignored_keys: frozenset[str] = frozenset(),
    source: str = "config",
) -> list[str]:
    """Set dataclass fields whose metadata `key` (or `aliases`) match a property.

    Returns the unknown keys (already logged). Fields may carry `choices` in metadata.
    """
    by_key: dict[str, dataclasses.Field[Any]] = {}
    for f in dataclasses.fields(settings):
        for key in (f.metadata.get("key"), *f.metadata.get("aliases", ())):
            if key:
                by_key[key] = f
    unknown: list[str] = []
    for key, text in properties.items():
        f = by_key.get(key)
        if f is None:
            if key in ignored_keys:
                log.info("%s: %s has no effect in OrbitMQ and is ignored", source, key)
            else:
                log.warning("%s: unknown key %s is ignored", source, key)
                unknown.append(key)
            continue
        value = _convert(key, text, f.type)
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{key}={text!r}: expected one of {', '.join(choices)}")
        setattr(settings, f.name, value)
    return unknown


def to_properties(settings: Any) -> dict[str, str]:
    """The settings as RocketMQ key/value text (for GET_BROKER_CONFIG)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(settings):
        key = f.metadata.get("key")
        if key:
            value = getattr(settings, f.name)
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


# fastjson writes integer map keys unquoted ({0:12}); quote them before strict parsing.
_BARE_INT_KEY = re.compile(rb"([{,]\s*)(-?\d+)(\s*:)")


def loads_lenient(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return orjson.loads(_BARE_INT_KEY.sub(rb'\1"\2"\3', data))


def load_json_file(path: str) -> Any | None:
    """Load a config JSON file, falling back to `<path>.bak` as RocketMQ does."""
    for candidate in (path, path + ".bak"):
        try:
            with open(candidate, "rb") as fh:
                data = fh.read()
            if data.strip():
                return loads_lenient(data)
        except FileNotFoundError:
            continue
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("cannot read %s: %s", candidate, exc)
    return None


def persist_json_file(path: str, value: Any) -> None:
    """Write `<path>.tmp`, keep the previous version as `<path>.bak`, then rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
        fh.flush()
        os.fsync(fh.fileno())
    if os.path.exists(path):
        shutil.copyfile(path, path + ".bak")
    os.replace(tmp, path)

"""Reading RocketMQ `.properties` files into typed settings, and persisting JSON configs.

A key's Java name maps to one typed field; unknown keys are logged and ignored, as a
Java broker does, but a bad value is a startup error naming the key (ARCHITECTURE.md §3).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Mapping
from typing import Any

import javaproperties
import orjson

from orbitmq.errors import OrbitMQError
from orbitmq.protocol.fastjson import loads_tolerant

log = logging.getLogger(__name__)


class ConfigError(OrbitMQError):
    """A configuration value cannot be used; the message names the key."""


def setting(
    key: str,
    *aliases: str,
    choices: tuple[str, ...] = (),
    bounds: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Field metadata for `apply_properties`: the Java property name, its old spellings,
    the allowed values, and an inclusive (low, high) range for a number."""
    return {"key": key, "aliases": aliases, "choices": choices, "bounds": bounds}


def read_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return {k.strip(): v.strip() for k, v in javaproperties.load(fh).items()}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc


def _convert(key: str, text: str, kind: Any) -> Any:
    if kind is bool or kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            # Java's Boolean.parseBoolean reads any typo as false; refusing it is kinder.
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


def _parse(f: dataclasses.Field[Any], key: str, raw: object) -> Any:
    text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw).strip()
    value = _convert(key, text, f.type)
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{key}={text!r}: expected one of {', '.join(choices)}")
    bounds = f.metadata.get("bounds")
    if bounds and not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{key}={text!r}: expected {bounds[0]} to {bounds[1]}")
    return value


def _fields_by_key(settings: Any, field_names: bool) -> dict[str, dataclasses.Field[Any]]:
    by_key: dict[str, dataclasses.Field[Any]] = {}
    for f in dataclasses.fields(settings):
        for key in (f.metadata.get("key"), *f.metadata.get("aliases", ())):
            if key:
                by_key[key] = f
        if field_names and f.metadata.get("key"):
            by_key.setdefault(f.name, f)
    return by_key


def apply_properties(
    settings: Any,
    properties: Mapping[str, object],
    *,
    ignored_keys: frozenset[str] = frozenset(),
    source: str = "config",
    field_names: bool = False,
) -> list[str]:
    """Set dataclass fields whose metadata `key` (or `aliases`) match a property.

    Args:
        settings: a dataclass whose fields carry `setting(...)` metadata.
        properties: key -> value text (a bool or number is taken as its text).
        ignored_keys: real Java keys with no effect here: logged quietly, not warned.
        source: names the settings in log lines ("broker config").
        field_names: also accept the Python field names (`listen_port`) as keys.

    Returns:
        The unknown keys (already logged).

    Raises:
        ConfigError: a value does not parse or is out of range; nothing is changed then.
    """
    by_key = _fields_by_key(settings, field_names)
    updates: dict[str, Any] = {}
    unknown: list[str] = []
    for key, raw in properties.items():
        f = by_key.get(key)
        if f is None:
            if key in ignored_keys:
                log.info("%s key %s has no effect in OrbitMQ and is ignored", source, key)
            else:
                log.warning("unknown %s key %s ignored", source, key)
                unknown.append(key)
            continue
        updates[f.name] = _parse(f, key, raw)
    for name, value in updates.items():
        setattr(settings, name, value)
    return unknown


def to_properties(settings: Any) -> dict[str, str]:
    """The settings as RocketMQ key/value text (GET_BROKER_CONFIG, GET_NAMESRV_CONFIG)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(settings):
        key = f.metadata.get("key")
        if key:
            value = getattr(settings, f.name)
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def load_json_file(path: str) -> Any | None:
    """Load a config JSON file, falling back to `<path>.bak` as RocketMQ does."""
    for candidate in (path, path + ".bak"):
        try:
            with open(candidate, "rb") as fh:
                data = fh.read()
            if data.strip():
                return loads_tolerant(data)
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

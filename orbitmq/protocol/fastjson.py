"""Reading and writing JSON the way fastjson (Java RocketMQ's serialiser) does. Pure code.

fastjson's default mode is not strict JSON (remoting-protocol.md §1.10):
  * integer map keys are left unquoted:   {"brokerAddrs":{0:"ip:port"}}
  * object map keys are written as objects (Map<MessageQueue, V> in admin bodies):
      {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:{"brokerOffset":5}}}
Strict parsers refuse both. `loads_tolerant` tries orjson, then orjson with the integer
keys quoted, then a small recursive-descent parser that also takes object keys; those come
back as hashable `ObjectKey`s. `dumps` writes fastjson's shape (compact, sorted keys,
`ObjectKey` keys as objects), which Java's admin tools require for MessageQueue maps.
Text inside JSON strings is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["ObjectKey", "dumps", "loads_tolerant", "quote_numeric_keys"]

# A JSON string (kept as it is) or a bare integer key after `{` or `,` (quoted).
_BARE_INT_KEY = re.compile(r'"(?:[^"\\]|\\.)*"|([{,]\s*)(-?\d+)(?=\s*:)', re.DOTALL)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SPACE = re.compile(r"\s*")
_LITERALS = {"true": True, "false": False, "null": None}
# Nesting the fallback parser follows; it recurses per level, so deeper text would end in
# RecursionError (orjson stops at 1024). RocketMQ's bodies nest a handful of levels.
_MAX_DEPTH = 100


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """A JSON object used as a map key, e.g. a MessageQueue; `fields` sorted by name."""

    fields: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, mapping: Mapping[str, Any]) -> ObjectKey:
        return cls(tuple(sorted((str(k), _freeze(v)) for k, v in mapping.items())))

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.as_dict() if isinstance(v, ObjectKey) else v) for k, v in self.fields}

    def get(self, name: str, default: Any = None) -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        return default


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ObjectKey.of(value)
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _quote_key(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return match.group(0)
    return f'{match.group(1)}"{match.group(2)}"'


def quote_numeric_keys(text: str) -> str:
    """Quote fastjson's unquoted integer object keys (`{0:"a"}` -> `{"0":"a"}`)."""
    return _BARE_INT_KEY.sub(_quote_key, text)


def loads_tolerant(data: bytes | str) -> Any:
    """orjson.loads that also accepts fastjson's unquoted integer keys and object keys.

    Integer keys come back as strings (`"0"`), object keys as `ObjectKey`s.

    Raises:
        orjson.JSONDecodeError: the data is not fastjson's JSON either; the error is the
            one for the data as given.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first_error:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            return orjson.loads(quote_numeric_keys(text))
        except orjson.JSONDecodeError:
            pass
        try:
            return _Parser(text).parse_document()
        except (ValueError, IndexError, orjson.JSONDecodeError):
            raise first_error from None


class _Parser:
    """Recursive descent over fastjson text; only used when orjson refuses the data."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.in_key = False

    def parse_document(self) -> Any:
        value = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise ValueError(f"trailing data at {self.pos}")
        return value

    def skip(self) -> None:
        match = _SPACE.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def expect(self, char: str) -> None:
        self.skip()
        if self.text[self.pos] != char:
            raise ValueError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def value(self) -> Any:
        self.skip()
        char = self.text[self.pos]
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char == '"':
            return self.string()
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return literal
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"unexpected {char!r} at {self.pos}")
        self.pos = match.end()
        return orjson.loads(match.group(0))

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"unterminated string at {self.pos}")
        self.pos = match.end()
        result: str = orjson.loads(match.group(0))
        return result

    def key(self) -> Any:
        self.skip()
        char = self.text[self.pos]
        if char == '"':
            return self.string()
        if char == "{":
            # fastjson's object keys are flat MessageQueues. An object key inside one
            # would be copied into every enclosing key's str(): memory doubling per level.
            if self.in_key:
                raise ValueError(f"object key inside an object key at {self.pos}")
            self.in_key = True
            try:
                return ObjectKey.of(self.object())
            finally:
                self.in_key = False
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"bad object key at {self.pos}")
        self.pos = match.end()
        return match.group(0)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ValueError(f"nested deeper than {_MAX_DEPTH} levels at {self.pos}")

    def object(self) -> dict[Any, Any]:
        self.expect("{")
        self.nest()
        result: dict[Any, Any] = {}
        self.skip()
        if self.text[self.pos] == "}":
            self.pos += 1
            self.depth -= 1
            return result
        while True:
            key = self.key()
            self.expect(":")
            result[key] = self.value()
            self.skip()
            if self.text[self.pos] == "}":
                self.pos += 1
                self.depth -= 1
                return result
            self.expect(",")

    def array(self) -> list[Any]:
        self.expect("[")
        self.nest()
        result: list[Any] = []
        self.skip()
        if self.text[self.pos] == "]":
            self.pos += 1
            self.depth -= 1
            return result
        while True:
            result.append(self.value())
            self.skip()
            if self.text[self.pos] == "]":
                self.pos += 1
                self.depth -= 1
                return result
            self.expect(",")


def _key_order(key: Any) -> tuple[int, Any]:
    return (1, key.fields) if isinstance(key, ObjectKey) else (0, str(key))


def dumps(value: Any) -> bytes:
    """fastjson's shape: compact, map keys sorted, `ObjectKey` keys written as objects."""
    return "".join(_write(value)).encode()


def _write(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        parts = []
        for key in sorted(value, key=_key_order):
            name = (
                dumps(key.as_dict()).decode() if isinstance(key, ObjectKey) else _scalar(str(key))
            )
            parts.append(name + ":" + "".join(_write(value[key])))
        return ["{", ",".join(parts), "}"]
    if isinstance(value, list | tuple):
        return ["[", ",".join("".join(_write(v)) for v in value), "]"]
    if isinstance(value, ObjectKey):
        return _write(value.as_dict())
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    return orjson.dumps(value).decode()

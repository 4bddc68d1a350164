"""Reading JSON written by fastjson, which may leave integer map keys unquoted.

Java brokers and NameServers serialise `Map<Long, String>` (brokerAddrs), offset tables
and config files as `{0:"ip:port"}`. Strict JSON parsers refuse that, so a body that does
not parse is parsed again with those keys quoted. Text inside JSON strings is never
touched. Pure code: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["loads_tolerant", "quote_numeric_keys"]

# A JSON string (kept as it is) or a bare integer key after `{` or `,` (quoted).
_BARE_INT_KEY = re.compile(r'"(?:[^"\\]|\\.)*"|([{,]\s*)(-?\d+)(?=\s*:)', re.DOTALL)


def _quote_key(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return match.group(0)
    return f'{match.group(1)}"{match.group(2)}"'


def quote_numeric_keys(text: str) -> str:
    """Quote fastjson's unquoted integer object keys (`{0:"a"}` -> `{"0":"a"}`)."""
    return _BARE_INT_KEY.sub(_quote_key, text)


def loads_tolerant(data: bytes | str) -> Any:
    """orjson.loads that also accepts fastjson's unquoted integer keys.

    Raises:
        orjson.JSONDecodeError: the data is not JSON even with its keys quoted; the
            error is the one for the data as given.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as first_error:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            return orjson.loads(quote_numeric_keys(text))
        except orjson.JSONDecodeError:
            raise first_error from None

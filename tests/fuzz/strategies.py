"""Hypothesis strategies for fuzzing: random bytes find little behind a magic number or
a length check, so most inputs here are valid encodings with a few targeted mutations."""

from __future__ import annotations

import struct
from typing import Any

import orjson
from hypothesis import strategies as st

# Values that sit on the edges of the integer fields the decoders read.
INTERESTING_INTS = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    20,
    21,
    127,
    128,
    255,
    256,
    32767,
    32768,
    65535,
    65536,
    2**24 - 1,
    2**24,
    2**31 - 1,
    2**31,
    2**32 - 1,
    -1,
    -2,
    -4,
    -5,
    -8,
    -32768,
    -(2**31),
]


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes], max_mutations: int = 4) -> bytes:
    """`base` with up to `max_mutations` byte edits: overwrite a 1/2/4-byte integer with
    an edge value, flip a byte, insert or delete a run, truncate."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(0, max_mutations))):
        kind = draw(st.sampled_from(["int", "byte", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "int":
            width = draw(st.sampled_from([1, 2, 4]))
            value = draw(st.sampled_from(INTERESTING_INTS)) & ((1 << (8 * width)) - 1)
            data[pos : pos + width] = value.to_bytes(width, "big")
        elif kind == "byte" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


def chunked(stream: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """The frame targets' input: a chunk-size byte, then the stream."""
    return st.tuples(st.integers(0, 255), stream).map(lambda t: bytes([t[0]]) + t[1])


# JSON values with the odd members a peer may send: huge and negative numbers, floats,
# nulls, nesting, objects where strings belong.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from(INTERESTING_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    key = st.one_of(st.sampled_from(keys), st.text(max_size=6)) if keys else st.text(max_size=6)
    return st.recursive(
        json_scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(key, children, max_size=5)
        ),
        max_leaves=20,
    )


def json_documents(keys: list[str]) -> st.SearchStrategy[bytes]:
    """An object with the decoder's member names, as JSON; now and then fastjson's
    unquoted integer keys or a mutation on top."""

    def dump(value: Any) -> bytes:
        try:
            return orjson.dumps(value)
        except orjson.JSONEncodeError:  # an integer past 64 bits: write it by hand
            return str(value).encode()

    documents = st.dictionaries(st.sampled_from(keys), json_values(keys), max_size=6).map(dump)
    unquoted = documents.map(lambda d: d.replace(b'"0":', b"0:").replace(b'"1":', b"1:"))
    return st.one_of(documents, unquoted, mutated(documents, max_mutations=2))


def deep_nesting(open_: bytes, close: bytes, inner: bytes = b"") -> st.SearchStrategy[bytes]:
    return st.integers(1, 5000).map(lambda n: open_ * n + inner + close * n)


I32 = struct.Struct(">i")

"""The two header codecs: JSON (serializeType 0) and ROCKETMQ binary (1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.header_json import encode_json_header
from orbitmq.protocol.header_rocketmq import encode_rocketmq_header
from tests.fuzz import targets
from tests.fuzz.budget import FUZZ
from tests.fuzz.strategies import deep_nesting, json_documents, mutated
from tests.strategies import remoting_commands

_MEMBERS = ["code", "opaque", "flag", "version", "language", "remark", "extFields"]


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        json_documents(_MEMBERS),
        mutated(remoting_commands().map(encode_json_header)),
        deep_nesting(b'{"code":1,"extFields":{"a":', b"}", b"[]"),
    )
)
def test_json_header(data: bytes) -> None:
    targets.header_json(data)


@FUZZ
@given(st.one_of(st.binary(max_size=200), mutated(remoting_commands().map(encode_rocketmq_header))))
def test_rocketmq_header(data: bytes) -> None:
    targets.header_rocketmq(data)

"""The stored-record decoder, message properties and the batch body decoder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.message import BatchEntry, MessageExt, encode_batch, encode_record
from tests.fuzz import targets
from tests.fuzz.budget import FUZZ
from tests.fuzz.strategies import mutated

_props = st.dictionaries(
    st.text(
        st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=8,
    ),
    st.text(
        st.characters(blacklist_characters="\x01\x02", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=8,
    ),
    max_size=4,
)
_hosts = st.tuples(
    st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "fe80::1"]), st.integers(0, 65535)
)


@st.composite
def _records(draw: st.DrawFn) -> bytes:
    messages = draw(
        st.lists(
            st.builds(
                MessageExt,
                topic=st.text(st.characters(codec="ascii"), min_size=1, max_size=20),
                body=st.binary(max_size=40),
                properties=_props,
                queue_id=st.integers(-(2**31), 2**31 - 1),
                sys_flag=st.integers(0, 0xFF),
                born_host=_hosts,
                store_host=_hosts,
            ),
            min_size=1,
            max_size=3,
        )
    )
    return b"".join(bytes(encode_record(m)) for m in messages)


_batches = st.lists(
    st.builds(BatchEntry, body=st.binary(max_size=30), flag=st.integers(0, 9), properties=_props),
    max_size=4,
).map(encode_batch)


@FUZZ
@given(st.one_of(st.binary(max_size=200), _records(), mutated(_records())))
def test_record(data: bytes) -> None:
    targets.record(data)


@FUZZ
@given(st.one_of(st.binary(max_size=100), st.text(max_size=60).map(str.encode)))
def test_properties(data: bytes) -> None:
    targets.properties(data)


@FUZZ
@given(st.one_of(st.binary(max_size=200), _batches, mutated(_batches)))
def test_batch(data: bytes) -> None:
    targets.batch(data)

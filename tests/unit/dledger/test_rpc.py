"""Raft messages on the remoting protocol (orbitmq/dledger/rpc.py): every kind survives
encoding and the frame codec, and malformed input raises RemoteProtocolError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Entry,
    Message,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from orbitmq.dledger.rpc import LEADERSHIP_TRANSFER, PUSH, VOTE, decode_message, encode_message
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.frame import FrameDecoder, encode_frame

MESSAGES: list[tuple[Message, int]] = [
    (VoteRequest(3, "n0", "n1", 41, 2, pre_vote=True, transfer=False), VOTE),
    (VoteRequest(4, "n2", "n0", -1, -1, pre_vote=False, transfer=True), VOTE),
    (VoteResponse(3, "n1", "n0", True, pre_vote=True, reason=""), VOTE),
    (VoteResponse(5, "n1", "n0", False, reason="REJECT_EXPIRED_LEDGER_TERM"), VOTE),
    (
        AppendRequest(7, "n0", "n2", 9, 6, (Entry(10, 7, b""), Entry(11, 7, b"\x00record\xff")), 9),
        PUSH,
    ),
    (AppendRequest(7, "n0", "n2", -1, -1, (), -1), PUSH),
    (AppendResponse(7, "n2", "n0", True, 11), PUSH),
    (AppendResponse(7, "n2", "n0", False, 9, hint_index=4), PUSH),
    (TimeoutNow(8, "n0", "n1"), LEADERSHIP_TRANSFER),
]


def _through_the_wire(message: Message) -> Message:
    command = encode_message("RaftNode00", "127.0.0.1:30911", message)
    decoder = FrameDecoder()
    decoder.feed(encode_frame(command))
    received = decoder.next_frame()
    assert received is not None and received.is_oneway
    envelope = decode_message(received)
    assert envelope.group == "RaftNode00"
    assert envelope.broker_addr == "127.0.0.1:30911"
    return envelope.message


@pytest.mark.parametrize(("message", "code"), MESSAGES)
def test_every_kind_round_trips(message: Message, code: int) -> None:
    assert encode_message("g", "a:1", message).code == code
    assert _through_the_wire(message) == message


@given(
    st.lists(st.tuples(st.integers(0, 2**40), st.binary(max_size=300)), max_size=8),
    st.integers(-1, 2**40),
)
def test_entries_round_trip(raw: list[tuple[int, bytes]], commit: int) -> None:
    entries = tuple(Entry(i, term, body) for i, (term, body) in enumerate(raw))
    message = AppendRequest(3, "n0", "n1", -1, -1, entries, commit)
    assert _through_the_wire(message) == message


def test_truncated_entries_are_a_protocol_error() -> None:
    command = encode_message(
        "g", "a:1", AppendRequest(1, "n0", "n1", -1, -1, (Entry(0, 1, b"abcdef"),), -1)
    )
    command.body = command.body[:-3]
    with pytest.raises(RemoteProtocolError, match="past the body"):
        decode_message(command)
    command.body = command.body[:6]
    with pytest.raises(RemoteProtocolError, match="truncated"):
        decode_message(command)


def test_missing_or_bad_fields_are_named() -> None:
    command = encode_message("g", "a:1", TimeoutNow(2, "n0", "n1"))
    command.ext_fields["term"] = "two"
    with pytest.raises(RemoteProtocolError, match="term"):
        decode_message(command)
    command.ext_fields["term"] = "2"
    del command.ext_fields["localId"]
    with pytest.raises(RemoteProtocolError, match="localId"):
        decode_message(command)
    command.ext_fields["localId"] = "n0"
    command.ext_fields["kind"] = "Snapshot"
    with pytest.raises(RemoteProtocolError, match="Snapshot"):
        decode_message(command)

"""Raft messages on the remoting protocol, between the members of one DLedger group.

Pure: RemotingCommand values in and out, no sockets. Every message goes oneway (Raft
tolerates loss, and responses are messages of their own), with DLedger's request codes
(DLedgerRequestCode.java): VOTE 51001 for votes and their answers, PUSH 51004 for
appends, heartbeats and their answers, LEADERSHIP_TRANSFER 51005 for TimeoutNow.
Common ext fields: `group`, `localId` (sender), `remoteId` (receiver), `term`,
`kind` (the message class) and `brokerAddr`, the sender's broker address, so that a
follower knows where the leader's broker listens without waiting for a NameServer.

Append entries travel in the body:
    count i32 | (index i64 | term i64 | length i32 | body)*
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from orbitmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Entry,
    Message,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.command import RemotingCommand

METADATA = 50000
VOTE = 51001
PUSH = 51004
LEADERSHIP_TRANSFER = 51005

_COUNT = struct.Struct(">i")
_ENTRY_HEADER = struct.Struct(">qqi")

_CODES: dict[type, int] = {
    VoteRequest: VOTE,
    VoteResponse: VOTE,
    AppendRequest: PUSH,
    AppendResponse: PUSH,
    TimeoutNow: LEADERSHIP_TRANSFER,
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded Raft message with the group and broker address it came with."""

    group: str
    broker_addr: str
    message: Message


def encode_entries(entries: Sequence[Entry]) -> bytes:
    parts: list[bytes] = [_COUNT.pack(len(entries))]
    for entry in entries:
        parts.append(_ENTRY_HEADER.pack(entry.index, entry.term, len(entry.body)))
        parts.append(entry.body)
    return b"".join(parts)


def decode_entries(body: bytes) -> tuple[Entry, ...]:
    try:
        (count,) = _COUNT.unpack_from(body, 0)
        pos = _COUNT.size
        entries = []
        for _ in range(count):
            index, term, length = _ENTRY_HEADER.unpack_from(body, pos)
            pos += _ENTRY_HEADER.size
            if length < 0 or pos + length > len(body):
                raise RemoteProtocolError(f"entry {index} declares {length} bytes past the body")
            entries.append(Entry(index, term, bytes(body[pos : pos + length])))
            pos += length
    except struct.error as exc:
        raise RemoteProtocolError(f"append body is truncated: {exc}") from exc
    return tuple(entries)


def encode_message(group: str, broker_addr: str, message: Message) -> RemotingCommand:
    ext = {
        "group": group,
        "localId": message.src,
        "remoteId": message.dst,
        "term": str(message.term),
        "kind": type(message).__name__,
        "brokerAddr": broker_addr,
    }
    body = b""
    match message:
        case VoteRequest():
            ext["ledgerEndIndex"] = str(message.last_index)
            ext["ledgerEndTerm"] = str(message.last_term)
            ext["preVote"] = _flag(message.pre_vote)
            ext["transfer"] = _flag(message.transfer)
        case VoteResponse():
            ext["granted"] = _flag(message.granted)
            ext["preVote"] = _flag(message.pre_vote)
            ext["voteResult"] = message.reason
        case AppendRequest():
            ext["prevIndex"] = str(message.prev_index)
            ext["prevTerm"] = str(message.prev_term)
            ext["commitIndex"] = str(message.commit_index)
            body = encode_entries(message.entries)
        case AppendResponse():
            ext["success"] = _flag(message.success)
            ext["index"] = str(message.match_index)
            ext["hintIndex"] = str(message.hint_index)
        case TimeoutNow():
            pass
    return RemotingCommand.request(_CODES[type(message)], ext, body, oneway=True)


def decode_message(command: RemotingCommand) -> Envelope:
    """Raises:
    RemoteProtocolError: a field is missing or malformed (the remark names it).
    """
    ext = command.ext_fields
    term = _int(ext, "term")
    src = _str(ext, "localId")
    dst = _str(ext, "remoteId")
    kind = ext.get("kind")
    message: Message
    if kind == "VoteRequest":
        message = VoteRequest(
            term,
            src,
            dst,
            _int(ext, "ledgerEndIndex"),
            _int(ext, "ledgerEndTerm"),
            pre_vote=ext.get("preVote") == "1",
            transfer=ext.get("transfer") == "1",
        )
    elif kind == "VoteResponse":
        message = VoteResponse(
            term,
            src,
            dst,
            ext.get("granted") == "1",
            pre_vote=ext.get("preVote") == "1",
            reason=ext.get("voteResult", ""),
        )
    elif kind == "AppendRequest":
        message = AppendRequest(
            term,
            src,
            dst,
            _int(ext, "prevIndex"),
            _int(ext, "prevTerm"),
            decode_entries(command.body),
            _int(ext, "commitIndex"),
        )
    elif kind == "AppendResponse":
        message = AppendResponse(
            term,
            src,
            dst,
            ext.get("success") == "1",
            _int(ext, "index"),
            _int(ext, "hintIndex"),
        )
    elif kind == "TimeoutNow":
        message = TimeoutNow(term, src, dst)
    else:
        raise RemoteProtocolError(f"unknown DLedger message kind {kind!r}")
    return Envelope(ext.get("group", ""), ext.get("brokerAddr", ""), message)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _str(ext: dict[str, str], key: str) -> str:
    value = ext.get(key)
    if not value:
        raise RemoteProtocolError(f"DLedger message without {key}")
    return value


def _int(ext: dict[str, str], key: str) -> int:
    value = ext.get(key)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise RemoteProtocolError(f"DLedger message field {key}={value!r} is not a number") from exc

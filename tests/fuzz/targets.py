"""Fuzz targets: one function per decoder, each taking arbitrary bytes.

The property every target checks (h11's fuzz/afl-server.py invariant): decoding any input
returns a value or raises the decoder's documented error, never anything else, never
hangs and never sizes an allocation from an unchecked length field. Where an encoder
exists, what decodes also re-encodes and decodes to the same value. A target returns
None when the input was handled as the contract says; any other exception escaping it is
a finding (an AssertionError for a broken round trip).

The same functions serve the Hypothesis tests run in CI (tests/fuzz/test_*.py), the
crash corpus replay (tests/fuzz/test_corpus.py, one folder of tests/fuzz/corpus per
target name) and the long Atheris runs (`python -m tests.fuzz`). Targets import orbitmq
lazily so that the Atheris runner can first make it load the .py sources (pure.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

Target = Callable[[bytes], None]

# Small on purpose: the fuzzer reaches the limit checks with short inputs.
_FUZZ_MAX_FRAME = 4096


def _chunks(data: bytes) -> tuple[list[bytes], bytes]:
    """The first byte picks a chunk size (0: one chunk); the rest is the stream."""
    if not data:
        return [], b""
    step, stream = data[0], data[1:]
    if step == 0:
        return [stream], stream
    return [stream[i : i + step] for i in range(0, len(stream), step)], stream


def _same_command(a: Any, b: Any) -> bool:
    fields = ("code", "opaque", "flag", "language", "version", "remark", "ext_fields", "body")
    return all(getattr(a, f) == getattr(b, f) for f in fields) and int(a.serialize_type) == int(
        b.serialize_type
    )


def _check_command_round_trip(command: Any) -> None:
    """A decoded command re-encodes to itself, and its response can be written (the
    dispatcher answers every request with the request's opaque and serialisation)."""
    from orbitmq.protocol.frame import FrameDecoder, encode_frame

    decoder = FrameDecoder(1 << 30)
    decoder.feed(encode_frame(command))
    again = decoder.next_frame()
    assert again is not None and _same_command(command, again), (command, again)
    encode_frame(command.response(0, "fuzz"))


# ------------------------------------------------------------------------------- frames
def frame(data: bytes) -> None:
    """FrameDecoder (orbitmq/protocol/frame.py), fed in chunks: next_frame and the
    batching reader's whole_frames must agree, and errors are RemoteProtocolError."""
    from orbitmq.errors import RemoteProtocolError
    from orbitmq.protocol.frame import FrameDecoder

    chunks, stream = _chunks(data)
    decoder = FrameDecoder(_FUZZ_MAX_FRAME)
    commands = []
    failed = False
    try:
        for chunk in chunks:
            decoder.feed(chunk)
            # A length field never makes the decoder hold more than it was given.
            assert decoder.buffered <= len(stream)
            while (command := decoder.next_frame()) is not None:
                commands.append(command)
    except RemoteProtocolError:
        failed = True
    for command in commands:
        _check_command_round_trip(command)

    # The broker's send lane reads whole_frames() and trusts the lengths it checked.
    batcher = FrameDecoder(_FUZZ_MAX_FRAME)
    frames = b""
    try:
        for chunk in chunks:
            batcher.feed(chunk)
            frames += batcher.whole_frames()
    except RemoteProtocolError:
        # Both readers check the same lengths; whole_frames checks the header length
        # as soon as 8 bytes are in, next_frame once the whole frame is: the batcher
        # may fail early only on a frame next_frame has not finished reading.
        assert failed or decoder.buffered > 0, "whole_frames refused what next_frame took"
        return
    replay = FrameDecoder(_FUZZ_MAX_FRAME)
    replay.feed(frames)
    replayed = []
    try:
        while (command := replay.next_frame()) is not None:
            replayed.append(command)
    except RemoteProtocolError:
        assert failed
        return
    assert replay.buffered == 0
    if not failed:
        assert len(replayed) == len(commands)


class _FakeTransport:
    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _RecordingDispatcher:
    lane = None

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def dispatch(self, connection: Any, request: Any) -> None:
        self.requests.append(request)


_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    """One loop for the process: ClientConnection only creates futures on it."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
        atexit.register(_LOOP.close)
    return _LOOP


def client_transport(data: bytes) -> None:
    """The client's own frame splitter (orbitmq/client/transport.py data_received): a bad
    frame closes the connection, nothing else escapes; raw-answer requests included."""
    from orbitmq.client.transport import ClientConnection

    chunks, _ = _chunks(data)
    loop = _loop()
    dispatcher = _RecordingDispatcher()
    connection = ClientConnection(loop, dispatcher, _FUZZ_MAX_FRAME)  # type: ignore[arg-type]
    transport = _FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    # Requests waiting for answers, two of them raw (JSON fields, no command built).
    for opaque in range(4):
        connection._pending[opaque] = (loop.create_future(), 1e18, 0, opaque < 2)
    connection._raw_pending = 2
    for chunk in chunks:
        if transport.closing:
            break
        connection.data_received(chunk)
    for entry in connection._pending.values():
        entry[0].cancel()
    for command in dispatcher.requests:
        _check_command_round_trip(command)


# ------------------------------------------------------------------------------ headers
def header_json(data: bytes) -> None:
    """decode_json_header (orbitmq/protocol/header_json.py): RemoteProtocolError only."""
    from orbitmq.errors import RemoteProtocolError
    from orbitmq.protocol.header_json import decode_json_header

    try:
        command = decode_json_header(data, b"")
    except RemoteProtocolError:
        return
    _check_command_round_trip(command)


def header_rocketmq(data: bytes) -> None:
    """decode_rocketmq_header (orbitmq/protocol/header_rocketmq.py): RemoteProtocolError
    only, and no hang on negative lengths."""
    from orbitmq.errors import RemoteProtocolError
    from orbitmq.protocol.header_rocketmq import decode_rocketmq_header

    try:
        command = decode_rocketmq_header(data, b"")
    except RemoteProtocolError:
        return
    _check_command_round_trip(command)


# ------------------------------------------------------------------------------ records
def _same_message(a: Any, b: Any) -> bool:
    fields = (
        "topic",
        "body",
        "properties",
        "queue_id",
        "flag",
        "queue_offset",
        "commit_log_offset",
        "born_timestamp",
        "store_timestamp",
        "reconsume_times",
        "prepared_transaction_offset",
        "born_host",
        "store_host",
    )
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def record(data: bytes) -> None:
    """decode_records / decode_record (orbitmq/protocol/message.py): RemoteProtocolError
    only; what decodes re-encodes to the same message."""
    from orbitmq.errors import RemoteProtocolError
    from orbitmq.protocol.message import decode_record, decode_records, encode_record

    try:
        messages = decode_records(data)
    except RemoteProtocolError:
        messages = []
    with contextlib.suppress(RemoteProtocolError):
        decode_record(data, check_crc=True)
    for message in messages:
        try:
            encoded = encode_record(message)
        except ValueError:
            continue  # a topic over 127 bytes decodes (u8 length) but is refused on write
        assert _same_message(message, decode_record(encoded)), message


def properties(data: bytes) -> None:
    """decode_properties never raises; a decoded table survives a round trip."""
    from orbitmq.protocol.message import decode_properties, encode_properties

    table = decode_properties(data.decode("utf-8", "replace"))
    assert decode_properties(encode_properties(table)) == table


def batch(data: bytes) -> None:
    """decode_batch (orbitmq/protocol/message.py): RemoteProtocolError only; round trip."""
    from orbitmq.errors import RemoteProtocolError
    from orbitmq.protocol.message import decode_batch, encode_batch

    try:
        entries = decode_batch(data)
    except RemoteProtocolError:
        return
    assert decode_batch(encode_batch(entries)) == entries


# -------------------------------------------------------------------------------- sql92
def sql92(data: bytes) -> None:
    """compile_sql (orbitmq/protocol/sql92.py): SqlSyntaxError only; a compiled filter
    evaluates on any properties without raising."""
    from orbitmq.protocol.sql92 import SqlSyntaxError, compile_sql

    text, _, props = data.partition(b"\x00")
    try:
        selector = compile_sql.__wrapped__(text.decode("utf-8", "replace"))
    except SqlSyntaxError:
        return
    # Property values from the rest of the input: "name=value" pairs separated by \x01.
    table: dict[str, str] = {}
    for pair in props.decode("utf-8", "replace").split("\x01"):
        name, _, value = pair.partition("=")
        table[name] = value
    for candidate in (table, {}, {name: "1" for name in table}):
        assert selector.evaluate(candidate) in (True, False, None)
        assert isinstance(selector.matches(candidate), bool)


# ------------------------------------------------------------------------ request bodies
def fastjson(data: bytes) -> None:
    """loads_tolerant (orbitmq/protocol/fastjson.py): orjson.JSONDecodeError only; what
    loads is written back by dumps and loads again to the same value."""
    import orjson

    from orbitmq.protocol.fastjson import dumps, loads_tolerant

    try:
        value = loads_tolerant(data)
    except orjson.JSONDecodeError:
        return
    # dumps writes our own bodies (shallow) and recurses per level: only those round-trip.
    if _json_depth(value) <= 100:
        assert loads_tolerant(dumps(value)) == value


def _json_depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth + 1) for k in item if not isinstance(k, str))
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
        elif hasattr(item, "fields"):  # an ObjectKey
            stack.extend((v, depth + 1) for _, v in item.fields)
    return deepest


def route(data: bytes) -> None:
    """parse_topic_route (orbitmq/client/route.py): ValueError only."""
    from orbitmq.client.route import parse_topic_route

    try:
        parse_topic_route(data)
    except ValueError:
        return


def namesrv_register(data: bytes) -> None:
    """REGISTER_BROKER / QUERY_DATA_VERSION bodies (orbitmq/namesrv/codec.py) in their
    three forms: BodyDecodeError only. The first byte picks the form; form 2 compresses
    the rest here so that the fuzzer explores the inflated layout itself."""
    from orbitmq.namesrv.codec import (
        LEGACY_REGISTER_VERSION,
        decode_data_version,
        decode_register_body,
    )
    from orbitmq.namesrv.errors import BodyDecodeError

    if not data:
        return
    mode, body = data[0] % 4, data[1:]
    compressed = mode >= 2
    if mode == 2:
        body = zlib.compress(body)
    version = LEGACY_REGISTER_VERSION - 1 if mode == 1 else 409
    with contextlib.suppress(BodyDecodeError):
        decode_register_body(body, compressed, version)
    with contextlib.suppress(BodyDecodeError):
        decode_data_version(data)


def slave_sync(data: bytes) -> None:
    """The wrappers a slave reads from its master (orbitmq/broker/slave_sync.py): topic
    configs, subscription groups, consumer and delay offsets; SlaveSyncError only."""
    from orbitmq.broker import slave_sync as sync

    parsers = (
        sync.parse_topic_configs,
        sync.parse_subscription_groups,
        sync.parse_consumer_offsets,
        sync.parse_delay_offsets,
        sync.parse_timer_checkpoint,
    )
    for parse in parsers:
        with contextlib.suppress(sync.SlaveSyncError):
            parse(data)  # type: ignore[operator]


_BROKER: Any = None


def _fake_broker() -> Any:
    """The parts of a BrokerController the body-parsing handlers touch: the real client
    registry; configs that find no group (the handlers must not need a store)."""
    global _BROKER
    if _BROKER is None:
        from orbitmq.broker.client_manager import ClientManager

        _BROKER = SimpleNamespace(
            client_manager=ClientManager(notify_enabled=False),
            subscription_group_manager=SimpleNamespace(find=lambda group: None),
            topic_config_manager=SimpleNamespace(create_system_topic=lambda *a: None),
            config=SimpleNamespace(enable_property_filter=True),
            schedule_register=lambda: None,
        )
    return _BROKER


class _FakeConnection:
    peer_address = "127.0.0.1:1"
    attributes: dict[str, Any] = {}

    def add_close_callback(self, callback: Any) -> None:
        pass


def broker_bodies(data: bytes) -> None:
    """HEART_BEAT, CHECK_CLIENT_CONFIG, LOCK/UNLOCK_BATCH_MQ bodies through their
    handlers (orbitmq/broker/handlers/client.py, lock.py): each answers or raises an
    OrbitMQError, which the dispatcher turns into a response code (dispatch.py); any
    other exception would be logged there as a handler bug."""
    from orbitmq.broker.handlers.client import ClientHandler
    from orbitmq.broker.handlers.lock import LockHandler
    from orbitmq.errors import OrbitMQError
    from orbitmq.protocol.codes import RequestCode
    from orbitmq.protocol.command import RemotingCommand

    broker = _fake_broker()
    clients = ClientHandler(broker)
    locks = LockHandler(broker)
    connection = _FakeConnection()
    handlers = (
        (RequestCode.HEART_BEAT, clients.heart_beat),
        (RequestCode.CHECK_CLIENT_CONFIG, clients.check_client_config),
        (RequestCode.LOCK_BATCH_MQ, locks.lock_batch_mq),
        (RequestCode.UNLOCK_BATCH_MQ, locks.unlock_batch_mq),
    )
    for code, handler in handlers:
        request = RemotingCommand(code=code, body=data, ext_fields={"consumerGroup": "g"})
        with contextlib.suppress(OrbitMQError):
            handler(connection, request)  # type: ignore[arg-type]
    # Registrations pile up across examples otherwise.
    broker.client_manager.producer_groups.clear()
    broker.client_manager.consumer_groups.clear()


TARGETS: dict[str, Target] = {
    "frame": frame,
    "client_transport": client_transport,
    "header_json": header_json,
    "header_rocketmq": header_rocketmq,
    "record": record,
    "properties": properties,
    "batch": batch,
    "sql92": sql92,
    "fastjson": fastjson,
    "route": route,
    "namesrv_register": namesrv_register,
    "slave_sync": slave_sync,
    "broker_bodies": broker_bodies,
}

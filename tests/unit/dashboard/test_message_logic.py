"""The Message, DLQMessage and MessageTrace pages' logic without a cluster: time-range
planning and paging, message-id kinds, the detail's body and flags, the track per group,
trace records into send/consume views and a timeline, the DLQ export, and the consumer's
side of CONSUME_MESSAGE_DIRECTLY."""

from __future__ import annotations

import base64
import csv
import io
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.datastructures import QueryParams

from orbitmq.client import ConsumeOrderlyStatus, ConsumeStatus
from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import (
    ClientConnection,
    ConsumerConnection,
    ConsumeStats,
    OffsetWrapper,
)
from orbitmq.client.consumer.consume_directly import (
    ConsumeResult,
    consume_directly,
    consume_result_of,
    message_for_listener,
)
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue
from orbitmq.client.route import BrokerData
from orbitmq.client.trace import ConsumeReturnType, TraceRecord, TraceType
from orbitmq.dashboard.dlq_export import CSV_COLUMNS, export_text
from orbitmq.dashboard.message_queries import parse_consume_directly_result
from orbitmq.dashboard.message_resend import NoConsumerOnline, resend
from orbitmq.dashboard.message_search import (
    QueueRange,
    SearchTask,
    TaskCache,
    cut_to_newest,
    page_slices,
    trim_edges,
)
from orbitmq.dashboard.message_track import (
    TrackType,
    broker_name_of,
    decide_track,
    message_tracks,
    tag_subscribed,
)
from orbitmq.dashboard.message_view import body_view, is_offset_id, offset_id_addr, sys_flag_text
from orbitmq.dashboard.pages.common import FormError
from orbitmq.dashboard.pages.message import parse_time, range_fields, time_range
from orbitmq.dashboard.trace_view import trace_views
from orbitmq.protocol.message import (
    MessageConst,
    MessageExt,
    SysFlag,
    create_offset_msg_id,
    encode_record,
)
from tests.unit.dashboard.scripted import make_console

A, B = "127.0.0.1:10911", "127.0.0.1:10921"


def rng(queue: int, start: int, end: int, broker: str = "broker-a") -> QueueRange:
    return QueueRange(MessageQueue("T", broker, queue), A, start, end)


def message(**fields: Any) -> MessageExt:
    defaults: dict[str, Any] = {
        "topic": "T",
        "body": b"hello",
        "properties": {MessageConst.UNIQ_KEY: "U1", MessageConst.TAGS: "TagA"},
        "queue_id": 1,
        "queue_offset": 5,
        "commit_log_offset": 1234,
        "store_host": ("127.0.0.1", 10911),
        "born_host": ("127.0.0.1", 50000),
    }
    return MessageExt(**{**defaults, **fields})


# Time range planning and paging --------------------------------------------------------------
def test_a_range_under_the_cap_is_kept_whole() -> None:
    ranges = [rng(0, 0, 10), rng(1, 5, 25)]
    assert cut_to_newest(ranges, 100) == ranges


def test_a_range_over_the_cap_keeps_small_queues_whole_and_the_newest_of_the_rest() -> None:
    ranges = [rng(0, 0, 1000), rng(1, 0, 10), rng(2, 100, 700)]
    cut = cut_to_newest(ranges, 300)
    assert [(r.start, r.end) for r in cut] == [(855, 1000), (0, 10), (555, 700)]
    assert sum(r.count for r in cut) == 300


def test_pages_lay_the_queues_end_to_end() -> None:
    ranges = [rng(0, 10, 40), rng(1, 0, 0), rng(2, 100, 150)]  # 30 + 0 + 50
    assert [(r.mq.queue_id, s, e) for r, s, e in page_slices(ranges, 1, 50)] == [
        (0, 10, 40),
        (2, 100, 120),
    ]
    assert [(r.mq.queue_id, s, e) for r, s, e in page_slices(ranges, 2, 50)] == [(2, 120, 150)]
    assert page_slices(ranges, 3, 50) == []


@pytest.mark.parametrize(
    ("first_time", "last_time", "expected"),
    [
        (1000, 1500, (3, 8)),  # both edge messages are in [1000, 2000)
        (999, 2000, (4, 7)),  # the one found for begin is older, the one for end is not before it
        (None, None, (3, 8)),  # unknown: kept
    ],
)
def test_the_edges_of_a_searched_range_follow_their_store_times(
    first_time: int | None, last_time: int | None, expected: tuple[int, int]
) -> None:
    assert trim_edges(3, 7, first_time, last_time, 1000, 2000) == expected


def test_a_range_after_every_message_is_empty() -> None:
    # Both searches answer the last message, stored before `begin`.
    assert trim_edges(9, 9, 500, 500, 1000, 2000) == (10, 10)


def task(task_id: str, created: float) -> SearchTask:
    return SearchTask(task_id, "ns:9876", "T", 0, 1, [rng(0, 0, 3)], 3, created)


def test_search_tasks_expire_and_are_capped() -> None:
    cache = TaskCache(ttl=60, max_tasks=2)
    cache.put(task("a", 0))
    assert cache.get("a", 59.0) is not None
    assert cache.get("a", 60.0) is None
    cache.put(task("b", 100))
    cache.put(task("c", 101))
    cache.put(task("d", 102))
    assert [cache.get(i, 103) is not None for i in "bcd"] == [False, True, True]


def test_a_task_says_when_it_was_cut() -> None:
    found = SearchTask("t", "ns", "T", 0, 1, [rng(0, 0, 2000)], 2500, 0.0)
    assert found.cut and found.total == 2000


def test_end_includes_its_second_and_the_fields_round_trip() -> None:
    params = QueryParams({"begin": "2024-05-01T10:00:00", "end": "2024-05-01T10:00:05"})
    begin, end = time_range(params)
    assert end - begin == 6000
    assert range_fields(begin, end) == {
        "begin": "2024-05-01T10:00:00",
        "end": "2024-05-01T10:00:05",
    }
    assert parse_time("2024-05-01 10:00", "Begin") == begin


def test_the_default_range_is_the_last_hour_to_the_end_of_this_second() -> None:
    begin, end = time_range(QueryParams({}))
    now = time.time() * 1000
    assert end - begin == 3600 * 1000
    assert now < end <= now + 1000 and end % 1000 == 0


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"begin": "yesterday"}, "Begin must be a date and time"),
        (
            {"begin": "2024-05-01T10:00:00", "end": "2024-05-01T09:00:00"},
            "Begin must be before End",
        ),
    ],
)
def test_bad_ranges_say_what_is_wrong(params: dict[str, str], error: str) -> None:
    with pytest.raises(FormError, match=error):
        time_range(QueryParams(params))


# Message ids and the detail ------------------------------------------------------------------
def test_an_id_is_an_offset_id_only_when_it_names_a_broker_here() -> None:
    offset_id = create_offset_msg_id(("127.0.0.1", 10911), 4096)
    assert offset_id_addr(offset_id) == A
    assert is_offset_id(offset_id, {A, B})
    assert not is_offset_id(offset_id, {B})
    # A producer's UNIQ_KEY id: ip, pid, class-loader hash... decodes to no broker port.
    assert not is_offset_id("7F0000010C5A18B4AAC2730E54A00000", {A, B})
    assert offset_id_addr("not hex") is None
    assert offset_id_addr("ABCD") is None


def test_text_bodies_show_as_utf8_and_others_as_hex() -> None:
    text = body_view("héllo\n".encode())
    assert (text.encoding, text.text, text.cut) == ("UTF-8", "héllo\n", False)
    binary = body_view(bytes(range(40)))
    assert binary.encoding == "hex"
    assert binary.text.splitlines()[1].startswith("00000020  20 21 22")
    assert body_view(b"abc\x00def").encoding == "hex"


def test_a_long_text_body_is_cut_even_inside_a_character() -> None:
    body = b"a" * (64 * 1024 - 1) + "é".encode() + b"tail"
    view = body_view(body)
    assert (view.encoding, view.cut, len(view.text)) == ("UTF-8", True, 64 * 1024 - 1)


def test_sys_flags_are_named() -> None:
    flag = SysFlag.COMPRESSED | SysFlag.TRANSACTION_COMMIT
    assert sys_flag_text(flag) == f"{flag} (COMPRESSED, TRANSACTION_COMMIT)"
    assert sys_flag_text(0) == "0 (TRANSACTION_NOT_TYPE)"


# Track -------------------------------------------------------------------------------------
def connection(
    consume_type: str = "CONSUME_PASSIVELY",
    model: str = "CLUSTERING",
    tags: list[str] | None = None,
) -> ConsumerConnection:
    subscriptions = {} if tags is None else {"T": {"topic": "T", "tagsSet": tags}}
    client = ClientConnection("c1", "127.0.0.1:1", "JAVA", 400)
    return ConsumerConnection([client], subscriptions, consume_type, model, "")


def offsets(consumer_offset: int) -> dict[MessageQueue, OffsetWrapper]:
    return {MessageQueue("T", "broker-a", 1): OffsetWrapper(10, consumer_offset, 0)}


@pytest.mark.parametrize(
    ("conn", "consumer_offset", "expected"),
    [
        (connection("CONSUME_ACTIVELY"), 0, TrackType.PULL),
        (connection(model="BROADCASTING"), 0, TrackType.CONSUME_BROADCASTING),
        (connection(tags=["TagA", "TagB"]), 6, TrackType.CONSUMED),
        (connection(tags=["*"]), 6, TrackType.CONSUMED),
        (connection(), 6, TrackType.CONSUMED),
        (connection(tags=["TagB"]), 6, TrackType.CONSUMED_BUT_FILTERED),
        (connection(tags=["TagA"]), 5, TrackType.NOT_CONSUME_YET),  # offset 5 is the next one
    ],
)
def test_the_track_of_a_group(
    conn: ConsumerConnection, consumer_offset: int, expected: TrackType
) -> None:
    assert decide_track(conn, offsets(consumer_offset), message(), "broker-a") == expected


def test_a_queue_of_another_broker_set_is_not_consumed_yet() -> None:
    assert (
        decide_track(connection(), offsets(6), message(), "broker-b") is TrackType.NOT_CONSUME_YET
    )


def test_sql92_subscriptions_carry_no_tags_and_take_every_tag() -> None:
    assert tag_subscribed({"tagsSet": [], "expressionType": "SQL92"}, "TagX")
    assert tag_subscribed(None, None)
    assert not tag_subscribed({"tagsSet": ["TagA"]}, None)


def test_the_broker_set_of_a_message_is_the_one_whose_master_stored_it() -> None:
    info = ClusterInfo(
        {
            "broker-a": BrokerData("c", "broker-a", {0: A, 1: "127.0.0.1:10915"}),
            "broker-b": BrokerData("c", "broker-b", {0: B}),
        },
        {"c": ["broker-a", "broker-b"]},
    )
    assert broker_name_of(("127.0.0.1", 10921), info) == "broker-b"
    assert broker_name_of(("127.0.0.1", 10915), info) is None


class TrackAdmin:
    """Three groups subscribe T: one has no member online, one consumed it, one errs."""

    async def query_topic_consume_by_who(self, topic: str) -> list[str]:
        return ["G_DONE", "G_GONE", "G_SLOW"]

    async def cluster_info(self) -> ClusterInfo:
        return ClusterInfo({"broker-a": BrokerData("c", "broker-a", {0: A})}, {"c": ["broker-a"]})

    async def examine_consumer_connection(self, group: str) -> ConsumerConnection:
        if group == "G_GONE":
            raise ConsumerNotOnlineError(206, f"Not found the consumer group connection: {group}")
        return connection(tags=["TagA"])

    async def examine_consume_stats(self, group: str, topic: str | None = None) -> ConsumeStats:
        if group == "G_SLOW":
            raise TimeoutError
        return ConsumeStats(offsets(6))

    async def get_consumer_connection(self, broker_addr: str, group: str) -> ConsumerConnection:
        raise ConsumerNotOnlineError(206, "no consumer")


async def test_tracks_of_every_subscribing_group(tmp_path: Path) -> None:
    console = await make_console(tmp_path, TrackAdmin())
    tracks, failures = await message_tracks(console, message())
    assert failures == []
    assert [(t.group, t.track_type) for t in tracks] == [
        ("G_DONE", TrackType.CONSUMED),
        ("G_GONE", TrackType.NOT_ONLINE),
        ("G_SLOW", TrackType.UNKNOWN),
    ]
    assert tracks[1].detail == "Not found the consumer group connection: G_GONE"
    assert tracks[2].detail == "did not answer within 0.3 s"


async def test_resend_without_an_online_member_names_the_group(tmp_path: Path) -> None:
    console = await make_console(tmp_path, TrackAdmin())
    with pytest.raises(NoConsumerOnline, match="no consumer of group G_DONE online"):
        await resend(console, message(), "G_DONE")


def test_a_consume_directly_result_is_read_as_consumers_send_it() -> None:
    result = parse_consume_directly_result(
        {"order": False, "autoCommit": True, "consumeResult": "CR_LATER", "remark": None,
         "spentTimeMills": 7}
    )  # fmt: skip
    assert (result.consume_result, result.remark, result.spent_ms) == ("CR_LATER", "", 7)


# Trace ---------------------------------------------------------------------------------------
class TraceMessage:
    """What trace_views reads of a trace message: its body and the host that sent it."""

    def __init__(self, records: list[TraceRecord], host: str) -> None:
        self.body = "".join(r.encode() for r in records).encode()
        self.born_host = (host, 40000)


def pub(msg_id: str, timestamp: int, success: bool = True) -> TraceRecord:
    return TraceRecord(
        TraceType.Pub, msg_id, timestamp=timestamp, group="PG", topic="T", tags="TagA",
        keys="order-1", store_host=A, body_length=5, cost_time=10, offset_msg_id="OFF",
        success=success,
    )  # fmt: skip


def sub(kind: TraceType, msg_id: str, request: str, timestamp: int, **kw: Any) -> TraceRecord:
    return TraceRecord(
        kind, msg_id, timestamp=timestamp, group="CG", request_id=request, keys="order-1", **kw
    )


def test_send_and_consume_attempts_of_a_message() -> None:
    messages = [
        TraceMessage([pub("M1", 1000, success=False), pub("M1", 1100)], "10.0.0.1"),
        TraceMessage(
            [
                sub(TraceType.SubBefore, "M1", "R1", 1200),
                sub(
                    TraceType.SubAfter,
                    "M1",
                    "R1",
                    1250,
                    cost_time=50,
                    success=False,
                    context_code=int(ConsumeReturnType.EXCEPTION),
                ),
                sub(TraceType.SubBefore, "M1", "R2", 1400, retry_times=1),
                sub(TraceType.SubAfter, "M1", "R2", 1420, cost_time=20),
                sub(TraceType.SubBefore, "OTHER", "R3", 1500),
            ],
            "10.0.0.2",
        ),
    ]
    [view] = trace_views(messages, "M1")  # type: ignore[arg-type]
    assert view.send is not None
    assert (view.send.time, view.send.status, view.send.retries) == (1100, "SUCCESS", 1)
    assert (view.send.client_host, view.send.msg_type, view.send.store_host) == (
        "10.0.0.1", "Normal_Msg", A,
    )  # fmt: skip
    attempts = [(c.begin, c.end, c.status, c.retries, c.client_host) for c in view.consumes["CG"]]
    assert attempts == [
        (1200, 1250, "EXCEPTION", 0, "10.0.0.2"),
        (1400, 1420, "SUCCESS", 1, "10.0.0.2"),
    ]
    # Timeline from the send's start (1100) to the last consume's end (1420): 320 ms.
    assert [(b.kind, b.left, b.width) for b in view.bars] == [
        ("send", 0.0, 3.12),
        ("failed", 31.25, 15.62),
        ("ok", 93.75, 6.25),
    ]


def test_a_trace_is_found_by_key_and_a_lone_sub_after_still_shows() -> None:
    messages = [TraceMessage([sub(TraceType.SubAfter, "M2", "R9", 2000, cost_time=30)], "h")]
    [view] = trace_views(messages, "order-1")  # type: ignore[arg-type]
    assert view.msg_id == "M2" and view.send is None
    [attempt] = view.consumes["CG"]
    assert (attempt.begin, attempt.end, attempt.status) == (1970, 2000, "SUCCESS")
    assert trace_views(messages, "nothing") == []  # type: ignore[arg-type]


# DLQ export ----------------------------------------------------------------------------------
def test_exports_keep_ids_keys_properties_and_any_body() -> None:
    msgs = [message(body=b"\x00\xffbin", properties={"KEYS": "k1 k2", "UNIQ_KEY": "U1", "a": "b"})]
    [line] = export_text(msgs, "jsonl").splitlines()
    row = orjson.loads(line)
    assert (row["msgId"], row["keys"], row["properties"]["a"]) == ("U1", "k1 k2", "b")
    assert base64.b64decode(row["bodyBase64"]) == b"\x00\xffbin"
    assert row["offsetMsgId"] == create_offset_msg_id(("127.0.0.1", 10911), 1234)
    [parsed] = list(csv.DictReader(io.StringIO(export_text(msgs, "csv").decode())))
    assert tuple(parsed) == CSV_COLUMNS
    assert orjson.loads(parsed["properties"]) == row["properties"]
    assert parsed["bodyBase64"] == row["bodyBase64"]


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    msgs = [message(properties={"KEYS": "=HYPERLINK(1)", "TAGS": "@x", "UNIQ_KEY": "U1"})]
    [parsed] = list(csv.DictReader(io.StringIO(export_text(msgs, "csv").decode())))
    assert (parsed["keys"], parsed["tags"], parsed["msgId"]) == ("'=HYPERLINK(1)", "'@x", "U1")
    [line] = export_text(msgs, "jsonl").splitlines()
    assert orjson.loads(line)["keys"] == "=HYPERLINK(1)"  # JSON lines keep the data as is


# The consumer's side of CONSUME_MESSAGE_DIRECTLY ---------------------------------------------
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ConsumeStatus.CONSUME_SUCCESS, ConsumeResult.CR_SUCCESS),
        (ConsumeStatus.RECONSUME_LATER, ConsumeResult.CR_LATER),
        (ConsumeOrderlyStatus.SUCCESS, ConsumeResult.CR_SUCCESS),
        (ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT, ConsumeResult.CR_LATER),
        (None, ConsumeResult.CR_RETURN_NULL),
        ("something else", None),
    ],
)
def test_listener_results_map_to_cm_results(status: object, expected: ConsumeResult | None) -> None:
    assert consume_result_of(status) == expected


def test_a_relayed_retry_message_is_given_under_its_topic_and_inflated() -> None:
    stored = message(
        topic="%RETRY%CG",
        body=zlib.compress(b"payload"),
        sys_flag=SysFlag.COMPRESSED,
        properties={MessageConst.RETRY_TOPIC: "T", MessageConst.UNIQ_KEY: "U1"},
    )
    msg = message_for_listener(bytes(encode_record(stored)), "CG")
    assert (msg.topic, msg.body, msg.msg_id) == ("T", b"payload", "U1")
    other_group = message_for_listener(bytes(encode_record(stored)), "CG2")
    assert other_group.topic == "%RETRY%CG"


async def test_consume_directly_runs_plain_and_async_listeners() -> None:
    seen: list[str] = []

    def plain(msgs: list[MessageExt]) -> ConsumeStatus:
        seen.extend(m.msg_id for m in msgs)
        return ConsumeStatus.RECONSUME_LATER

    async def failing(msgs: list[MessageExt]) -> ConsumeStatus:
        raise ValueError("bad payload")

    answer = orjson.loads(await consume_directly(plain, message(), orderly=False))
    assert (answer["consumeResult"], answer["order"], answer["autoCommit"]) == (
        "CR_LATER", False, True,
    )  # fmt: skip
    assert seen == ["U1"]
    answer = orjson.loads(await consume_directly(failing, message(), orderly=True))
    assert (answer["consumeResult"], answer["remark"], answer["order"]) == (
        "CR_THROW_EXCEPTION", "ValueError: bad payload", True,
    )  # fmt: skip

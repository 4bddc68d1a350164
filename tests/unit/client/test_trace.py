"""Trace records in TraceDataEncoder's format."""

from __future__ import annotations

from orbitmq.client.trace import TraceRecord, TraceType, decode_traces


def test_pub_record_fields_in_java_order() -> None:
    record = TraceRecord(
        TraceType.Pub,
        "7F00000100002A9F0000000000000000",
        timestamp=1700000000000,
        group="PG",
        topic="T",
        tags="TagA",
        keys="k1 k2",
        store_host="127.0.0.1:10911",
        body_length=5,
        cost_time=3,
        offset_msg_id="7F00000100002A9F00000000000000C8",
    )
    assert record.encode() == (
        "Pub\x011700000000000\x01DefaultRegion\x01PG\x01T\x017F00000100002A9F0000000000000000"
        "\x01TagA\x01k1 k2\x01127.0.0.1:10911\x015\x013\x010\x01"
        "7F00000100002A9F00000000000000C8\x01true\x02"
    )
    assert record.index_keys() == {"7F00000100002A9F0000000000000000", "k1", "k2"}


def test_sub_records_round_trip() -> None:
    before = TraceRecord(
        TraceType.SubBefore, "ID1", timestamp=5, group="CG", request_id="R", retry_times=2
    )
    after = TraceRecord(
        TraceType.SubAfter,
        "ID1",
        timestamp=9,
        group="CG",
        request_id="R",
        cost_time=4,
        success=False,
        keys="k",
        context_code=4,
    )
    assert before.encode() == "SubBefore\x015\x01DefaultRegion\x01CG\x01R\x01ID1\x012\x01null\x02"
    assert after.encode() == "SubAfter\x01R\x01ID1\x014\x01false\x01k\x014\x019\x01CG\x02"
    decoded = decode_traces((before.encode() + after.encode() + "Junk\x01x\x02").encode())
    assert [(r.trace_type, r.msg_id, r.request_id) for r in decoded] == [
        (TraceType.SubBefore, "ID1", "R"),
        (TraceType.SubAfter, "ID1", "R"),
    ]
    assert decoded[0].retry_times == 2 and decoded[0].group == "CG"
    assert decoded[1].cost_time == 4 and not decoded[1].success and decoded[1].context_code == 4
    assert decoded[1].group == "CG" and decoded[1].timestamp == 9


def test_java_four_nine_pub_record_decodes() -> None:
    text = (
        "Pub\x011700000000000\x01DefaultRegion\x01PID\x01TopicTest\x01AC1\x01TagA\x01"
        "OrderID188\x01192.168.0.2:10911\x0111\x0117\x010\x01C0A8000200002A9F\x01true\x02"
    )
    [record] = decode_traces(text)
    assert record.topic == "TopicTest" and record.keys == "OrderID188"
    assert record.store_host == "192.168.0.2:10911" and record.cost_time == 17
    assert record.success

"""Transactional messages: the pure transforms (bridge.py) and the resolution state."""

from __future__ import annotations

from orbitmq.broker.topic_config import TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC
from orbitmq.broker.transaction.bridge import (
    check_request,
    commit_message,
    is_transaction_prepared,
    op_message,
    parse_op_body,
    to_half_message,
)
from orbitmq.broker.transaction.state import TransactionState
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.message import MessageExt, SysFlag, decode_record

STORE_HOST = ("127.0.0.1", 10911)


def prepared() -> MessageExt:
    return MessageExt(
        topic="Orders",
        body=b"order #1",
        properties={"TRAN_MSG": "true", "PGROUP": "PG", "UNIQ_KEY": "TXID1", "TAGS": "T"},
        queue_id=3,
        flag=9,
        sys_flag=SysFlag.TRANSACTION_PREPARED | SysFlag.COMPRESSED,
        born_timestamp=1_700_000_000_000,
        born_host=("10.0.0.1", 4000),
        store_host=STORE_HOST,
    )


def stored_half() -> MessageExt:
    half = prepared()
    to_half_message(half)
    half.queue_offset, half.commit_log_offset, half.store_timestamp = 5, 4096, 1_700_000_000_010
    return half


def test_tran_msg_is_read_like_java_parse_boolean() -> None:
    assert is_transaction_prepared({"TRAN_MSG": "true"})
    assert is_transaction_prepared({"TRAN_MSG": "TRUE"})
    assert not is_transaction_prepared({"TRAN_MSG": "1"})
    assert not is_transaction_prepared({})


def test_half_message_is_parked_in_queue_0_of_the_half_topic_as_type_not() -> None:
    half = stored_half()
    assert (half.topic, half.queue_id) == (TRANS_HALF_TOPIC, 0)
    assert half.properties["REAL_TOPIC"] == "Orders" and half.properties["REAL_QID"] == "3"
    # type NOT, so the store gives it a consume-queue unit; other bits kept
    assert half.sys_flag == SysFlag.COMPRESSED


def test_commit_restores_the_real_topic_and_marks_the_commit() -> None:
    final = commit_message(stored_half())
    assert final is not None
    assert (final.topic, final.queue_id, final.body, final.flag) == ("Orders", 3, b"order #1", 9)
    assert final.sys_flag == SysFlag.COMPRESSED | SysFlag.TRANSACTION_COMMIT
    assert final.prepared_transaction_offset == 4096
    assert final.properties == {"PGROUP": "PG", "UNIQ_KEY": "TXID1", "TAGS": "T"}
    assert final.born_timestamp == 1_700_000_000_000


def test_commit_of_a_record_without_real_topic_is_refused() -> None:
    assert commit_message(prepared()) is None


def test_op_message_names_the_half_offset() -> None:
    op = op_message(5, 123, STORE_HOST)
    assert (op.topic, op.queue_id, op.body, op.tags) == (TRANS_OP_HALF_TOPIC, 0, b"5", "d")
    assert parse_op_body(b"5") == [5]
    assert parse_op_body(b"5,6,7,") == [5, 6, 7]  # 5.x batches offsets
    assert parse_op_body(b"junk") == []


def test_check_request_carries_the_real_message_and_its_ids() -> None:
    half = stored_half()
    request = check_request(half)
    assert request is not None
    assert request.code == RequestCode.CHECK_TRANSACTION_STATE and request.is_oneway
    assert request.ext_fields == {
        "tranStateTableOffset": "5",
        "commitLogOffset": "4096",
        "msgId": "TXID1",
        "transactionId": "TXID1",
        "offsetMsgId": half.offset_msg_id,
    }
    body = decode_record(request.body)
    assert (body.topic, body.queue_id, body.body) == ("Orders", 3, b"order #1")
    assert (body.queue_offset, body.commit_log_offset) == (5, 4096)


def test_state_progress_waits_at_the_oldest_open_transaction() -> None:
    state = TransactionState()
    state.mark_resolved(1, op_queue_offset=0)
    state.mark_resolved(2, op_queue_offset=1)
    assert not state.advance()  # 0 is still open
    assert state.is_resolved(1) and not state.is_resolved(0)
    assert state.open_count(3) == 1
    state.mark_resolved(0, op_queue_offset=2)
    assert state.advance()
    assert (state.half_offset, state.op_offset) == (3, 3)
    assert state.resolved == set() and not state.op_log
    assert state.is_resolved(0) and not state.is_resolved(3)


def test_state_rebuilt_from_an_op_queue_that_starts_before_the_progress() -> None:
    # persisted: half 2, op 1; the op queue holds 1:(half 1) 2:(half 3) 3:(half 2)
    state = TransactionState(half_offset=2, op_offset=1)
    for op_offset, half in ((1, 1), (2, 3), (3, 2)):
        state.mark_resolved(half, op_offset)
    state.advance()
    assert (state.half_offset, state.op_offset) == (4, 4)


def test_check_counts_and_deleted_half_files() -> None:
    state = TransactionState()
    assert state.record_check(0) == 1 and state.record_check(0) == 2
    assert state.checks_of(0) == 2
    state.record_check(7)
    state.mark_resolved(9, 0)
    state.advance(half_min_offset=5)  # units below 5 were deleted with their file
    assert state.half_offset == 5 and state.check_times == {7: 1}
    assert state.resolved == {9}

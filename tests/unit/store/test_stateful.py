"""A Hypothesis state machine: appends, batches, reads, clean and crash restarts, torn
tails, compared with a plain list model."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orbitmq.protocol.message import decode_records
from orbitmq.store import GetMessageStatus, MessageStore, PutMessageStatus

from .conftest import make_msg, small_config

T = TypeVar("T")
TOPICS = st.sampled_from(["A", "B"])
QUEUES = st.integers(0, 1)
BODIES = st.binary(min_size=0, max_size=600)
SMALL_BODIES = st.binary(min_size=0, max_size=200)
CQ_UNITS_PER_FILE = 10


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.root = tempfile.mkdtemp(prefix="orbitmq-store-sm-")
        self.config = small_config(self.root)
        self.model: dict[tuple[str, int], list[bytes]] = {}
        self.log: list[tuple[tuple[str, int], int, int]] = []  # key, offset, size in log order
        # topic, KEYS value, body, commit log offset of each keyed record, in log order
        self.keys: list[tuple[str, str, bytes, int]] = []
        self.counter = 0
        self.store = self._open()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def _open(self) -> MessageStore:
        store = MessageStore(self.config)
        self._run(store.start())
        return store

    def teardown(self) -> None:
        try:
            self._run(self.store.aclose())
        finally:
            self.loop.close()
            shutil.rmtree(self.root, ignore_errors=True)

    @rule(topic=TOPICS, queue_id=QUEUES, body=BODIES, tags=st.sampled_from([None, "x", "y"]))
    def append(self, topic: str, queue_id: int, body: bytes, tags: str | None) -> None:
        self.counter += 1
        key = f"key{self.counter}"
        msg = make_msg(topic=topic, queue_id=queue_id, body=body, tags=tags, KEYS=key)
        result = self._run(self.store.put_message(msg))
        assert result.status is PutMessageStatus.PUT_OK, result
        queue = self.model.setdefault((topic, queue_id), [])
        assert msg.queue_offset == len(queue)
        queue.append(body)
        self.log.append(((topic, queue_id), msg.commit_log_offset, msg.store_size))
        self.keys.append((topic, key, body, msg.commit_log_offset))

    @rule(topic=TOPICS, queue_id=QUEUES, bodies=st.lists(SMALL_BODIES, min_size=1, max_size=4))
    def append_batch(self, topic: str, queue_id: int, bodies: list[bytes]) -> None:
        msgs = [make_msg(topic=topic, queue_id=queue_id, body=b) for b in bodies]
        result = self._run(self.store.put_messages(msgs))
        assert result.status is PutMessageStatus.PUT_OK, result
        queue = self.model.setdefault((topic, queue_id), [])
        assert result.append_result is not None
        assert result.append_result.queue_offset == len(queue)
        queue.extend(bodies)
        for msg in msgs:
            self.log.append(((topic, queue_id), msg.commit_log_offset, msg.store_size))

    @rule(topic=TOPICS, queue_id=QUEUES, offset=st.integers(0, 40), max_nums=st.integers(1, 40))
    def read(self, topic: str, queue_id: int, offset: int, max_nums: int) -> None:
        self._run(self.store.wait_dispatched(self.store.get_commit_log_max_offset()))
        got = self.store.get_message(topic, queue_id, offset, max_nums)
        expected = self.model.get((topic, queue_id), [])
        size = len(expected)
        if size == 0:
            assert (got.status, got.next_begin_offset) == (GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0)
        elif offset == size:
            assert got.status is GetMessageStatus.OFFSET_OVERFLOW_ONE
        elif offset > size:
            assert (got.status, got.next_begin_offset) == (
                GetMessageStatus.OFFSET_OVERFLOW_BADLY,
                size,
            )
        else:
            count = min(max_nums, 32, size - offset, CQ_UNITS_PER_FILE - offset % CQ_UNITS_PER_FILE)
            assert got.status is GetMessageStatus.FOUND
            assert got.next_begin_offset == offset + count
            records = decode_records(got.body())
            assert [m.body for m in records] == expected[offset : offset + count]
            assert [m.queue_offset for m in records] == list(range(offset, offset + count))
        got.release()

    @rule()
    def reopen(self) -> None:
        self._run(self.store.aclose())
        self.store = self._open()

    @rule()
    def crash_and_reopen(self) -> None:
        self._run(self.store._crash())
        self.store = self._open()

    @precondition(lambda self: bool(self.log))
    @rule(keep=st.integers(0, 90))
    def crash_with_torn_tail(self, keep: int) -> None:
        """The last record only partly reached the disk: recovery must drop just that."""
        key, offset, size = self.log[-1]
        self._run(self.store._crash())
        file_size = self.config.mapped_file_size_commit_log
        name = f"{offset - offset % file_size:020d}"
        path = os.path.join(str(self.config.store_path_commit_log), name)
        with open(path, "r+b") as fh:
            fh.seek(offset % file_size + keep)
            lost = fh.read(size - keep)
            fh.seek(offset % file_size + keep)
            fh.write(bytes(size - keep))
        self.store = self._open()
        if any(lost):
            self.log.pop()
            self.model[key].pop()
            if self.keys and self.keys[-1][3] == offset:
                self.keys.pop()  # the dropped record was indexed under this key
            assert self.store.get_commit_log_max_offset() == offset
        else:  # the missing bytes were zeros anyway: nothing was lost
            assert self.store.get_commit_log_max_offset() == offset + size

    @rule()
    def os_crash_and_reopen(self) -> None:
        """As if the machine went down: recovery trusts only the checkpoint's offsets."""
        self._run(self.store._crash(os_crash=True))
        self.store = self._open()

    @invariant()
    def newest_keys_are_found(self) -> None:
        self._run(self.store.wait_dispatched(self.store.get_commit_log_max_offset()))
        for topic, key, body, _ in self.keys[-3:]:
            result = self.store.query_message(topic, key, 32, 0, 2**63 - 1)
            assert [m.body for m in decode_records(result.body())] == [body]
            result.release()

    @invariant()
    def offsets_match_model(self) -> None:
        self._run(self.store.wait_dispatched(self.store.get_commit_log_max_offset()))
        for (topic, queue_id), bodies in self.model.items():
            assert self.store.get_max_offset_in_queue(topic, queue_id) == len(bodies)
            assert self.store.get_min_offset_in_queue(topic, queue_id) == 0


StoreMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("STORE_SM_EXAMPLES", "30")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_store_state_machine = StoreMachine.TestCase

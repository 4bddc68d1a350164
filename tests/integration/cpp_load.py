"""The official C++ client (PyPI ``rocketmq==0.4.4``, librocketmq 1.2.x) as a second load in
the DLedger fault scenarios: a paced sync producer and a PushConsumer, each a
``tests/compatibility/cpp_driver.py`` process, run on the scenario's topic next to its
Python load and through its fault.

What `verdict` checks (each row must be empty):
* lost / moved: every send the producer reported SEND_OK is in the final read, with the
  UNIQ_KEY it was acknowledged with, at the queue offset it was acknowledged at (the C API
  does not report the queue id);
* stored_twice: no UNIQ_KEY (one attempt of one send) is read at two positions;
* unexpected: no C++ message is read that the producer never tried to send;
* not_consumed: the PushConsumer received every acknowledged message;
* phantom: every delivery is the message the final read has at that (queue, offset) -- a
  consumer never saw something that was not kept.
Messages delivered more than once, and copies stored by attempts the library gave up on
(each attempt gets a new UNIQ_KEY), are counted, not forbidden.

What librocketmq 1.2.x does on a failover of a single broker set (its source, tag 1.2.3,
and its logs here):
* Its producer refreshes routes 3 s after start, then every 30 s, and otherwise only
  after some failures (e.g. before every attempt while its route names no master). It
  retries a send on the same brokerName only (of its 5 attempts, the 1st, 3rd and 5th
  reach a broker). After a SIGKILL of the leader it was mostly sending again within a
  second of the new master's registration; but while its route names a live member that
  lost the lead (resumed, healed, restarted by a supervisor, or handed the lead over),
  that member refuses every attempt with SERVICE_NOT_AVAILABLE until the next 30 s
  refresh. `recovered` waits for the producer to work again.
* Its PushConsumer does not fail the long-polling pulls pending on a connection that
  breaks: they wait out their 30 s timeout before the queue is pulled again. After a
  failed pull it re-pulls a dead address in a tight loop that can starve its route
  refresh (tests/compatibility/test_cpp_dledger.py), so the scenarios restart a killed
  member once the new master is registered, as a supervisor would.
* It uses the first NameServer of its list until a request to it fails.

The C++ client's venv is built by ``scripts/setup.sh --test`` (as for tests/compatibility,
whose rule this follows: a missing or broken venv fails the test, never skips it).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from orbitmq.protocol.message import MessageConst, MessageExt
from tests.compatibility.cpp_harness import (
    CPP_CLIENT_VERSION,
    EXIT_ERROR,
    EXIT_OK,
    CppClient,
    CppClientError,
    CppProcess,
    build_cpp_env,
    cpp_log_files,
    run_cpp,
)
from tests.integration.send_history import read_messages

CPP_TAG = "CppLoad"
# Bodies are "cpp-<i>": what tells the scenarios' Python verdicts to leave them out.
BODY_PREFIX = "cpp"
KEYS_PREFIX = "cppkey"
SEND_INTERVAL_MS = 100
# Sends to acknowledge (and a first delivery) before the fault, so that the run spans it.
ACKED_BEFORE_FAULT = 5
# librocketmq's route refresh period plus slack: how long a failover may keep it failing.
ROUTE_REFRESH_S = 30.0


@functools.cache
def _cpp_python() -> str:
    python = build_cpp_env()
    info = run_cpp(python, "info", timeout=60)
    if not info or info[0].get("rocketmq_version") != CPP_CLIENT_VERSION:
        raise CppClientError(f"wrong C++ client in {python}: {info}")
    return python


def cpp_python() -> str:
    """Python of the C++ client's venv (built once a process); failing it fails the test."""
    try:
        return _cpp_python()
    except CppClientError as e:
        pytest.fail(str(e), pytrace=False)


def is_cpp_body(body: str) -> bool:
    return body.startswith(f"{BODY_PREFIX}-")


def without_cpp(read: dict[tuple[str, int, int], str]) -> dict[tuple[str, int, int], str]:
    """A final read (position -> body) without the C++ load's messages, for send_history's
    verdict, which flags every message its own history never sent."""
    return {where: body for where, body in read.items() if not is_cpp_body(body)}


@dataclass
class CppVerdict:
    rows: dict[str, list[object]]
    sends: int
    acked: int
    failed: int
    deliveries: int
    duplicates: int  # deliveries beyond the first of a message
    stored_copies: int  # copies stored by attempts the producer gave up on

    @property
    def bad(self) -> dict[str, list[object]]:
        return {row: items[:10] for row, items in self.rows.items() if items}


def verdict(
    sends: list[dict], deliveries: list[dict], read: dict[tuple[str, int, int], MessageExt]
) -> CppVerdict:
    """Check the C++ producer's records and consumer's deliveries against a final read
    (position -> message) of the topic; see the module docstring."""
    sent_keys = {s["keys"] for s in sends}
    acked = [s for s in sends if s.get("status") == 0]
    stored: dict[str, tuple[int, int]] = {}  # UNIQ_KEY -> (queue, offset)
    by_position: dict[tuple[int, int], str] = {}
    copies: Counter[str] = Counter()
    unexpected, stored_twice = [], []
    for (_name, queue, offset), msg in read.items():
        if not is_cpp_body(msg.body.decode(errors="replace")):
            continue
        keys = msg.properties.get(MessageConst.KEYS, "")
        uniq = msg.properties.get(MessageConst.UNIQ_KEY, "")
        if uniq in stored:
            stored_twice.append((keys, uniq, stored[uniq], (queue, offset)))
        stored[uniq] = (queue, offset)
        by_position[(queue, offset)] = uniq
        copies[keys] += 1
        if keys not in sent_keys:
            unexpected.append(keys)
    phantom = []
    consumed: Counter[str] = Counter()
    for d in deliveries:
        uniq = d["properties"].get("UNIQ_KEY", "")
        position = (d["queue_id"], d["queue_offset"])
        if d.get("result") == "CONSUME_SUCCESS":
            consumed[uniq] += 1
        if by_position.get(position) != uniq:
            phantom.append((d["keys"], uniq, position, by_position.get(position)))
    lost, moved, not_consumed = [], [], []
    for s in acked:
        where = stored.get(s["msg_id"])
        if where is None:
            lost.append(s["keys"])
            continue
        if where[1] != s["offset"]:
            moved.append((s["keys"], s["offset"], where))
        if not consumed[s["msg_id"]]:
            not_consumed.append(s["keys"])
    return CppVerdict(
        rows={
            "lost": lost,
            "moved": moved,
            "stored_twice": stored_twice,
            "unexpected": unexpected,
            "not_consumed": not_consumed,
            "phantom": phantom,
        },
        sends=len(sends),
        acked=len(acked),
        failed=len(sends) - len(acked),
        deliveries=len(deliveries),
        duplicates=sum(n - 1 for n in consumed.values() if n > 1),
        stored_copies=sum(n - 1 for n in copies.values() if n > 1),
    )


def _longest_gap(times_ms: list[float]) -> float:
    """Seconds of the longest pause between two of `times_ms`."""
    ordered = sorted(times_ms)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0) / 1000


@dataclass
class CppLoad:
    """A C++ producer (one sync send every `interval_ms`, tagged CPP_TAG) and a C++
    PushConsumer subscribed to that tag, on `topic` through `namesrv` ("a;b;c" allowed).
    Call `close()` in a finally."""

    workdir: Path
    namesrv: str
    topic: str
    interval_ms: float = SEND_INTERVAL_MS
    client: CppClient = field(init=False)
    producer: CppProcess | None = None
    consumer: CppProcess | None = None

    def __post_init__(self) -> None:
        self.client = CppClient(cpp_python(), self.workdir / "cpp")
        self._stop_producer = self.workdir / "cpp-stop-producer"
        self._stop_consumer = self.workdir / "cpp-stop-consumer"

    async def start(self) -> None:
        """Start the consumer, then the producer; return once the producer has had
        ACKED_BEFORE_FAULT sends acknowledged and the consumer received one of them."""
        # A new group starts at offset 0 while a queue's first message is in memory, so
        # the consumer sees every C++ message however late its rebalance comes.
        self.consumer = self.client.start(
            "consume", "--namesrv", self.namesrv, "--topic", self.topic,
            "--group", "GID_CPP_LOAD", "--expression", CPP_TAG, "--expect", 0,
            "--timeout", 600, "--linger", 1, "--threads", 2,
            "--stop-file", self._stop_consumer,
        )  # fmt: skip
        self.consumer.wait_started()
        self.producer = self.client.start(
            "produce", "--namesrv", self.namesrv, "--topic", self.topic,
            "--group", "PID_CPP_LOAD", "--tag", CPP_TAG, "--count", 1_000_000,
            "--keys-prefix", KEYS_PREFIX, "--body-prefix", BODY_PREFIX,
            "--interval-ms", self.interval_ms, "--keep-going", "--allow-not-ok",
            # librocketmq's first heartbeat races the first sends for a lock (see
            # tests/compatibility/test_cpp_dledger.py).
            "--start-delay-ms", 300, "--stop-file", self._stop_producer, "--timeout", 600,
        )  # fmt: skip
        self.producer.wait_started()
        await self._until(
            lambda: len(self.acked()) >= ACKED_BEFORE_FAULT and bool(self.deliveries()),
            20,
            "the C++ clients did not get going",
        )

    def sends(self) -> list[dict]:
        assert self.producer is not None
        return self.producer.records_so_far()

    def acked(self) -> list[dict]:
        return [s for s in self.sends() if s.get("status") == 0]

    def deliveries(self) -> list[dict]:
        assert self.consumer is not None
        return self.consumer.records_so_far()

    async def _until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            for proc in (self.producer, self.consumer):
                if proc is not None and proc.poll() is not None:
                    raise CppClientError(proc.wait(0).describe(f"{what}: a driver ended early"))
            if time.monotonic() > deadline:
                raise CppClientError(f"{what} within {timeout:.0f} s\n{self.describe()}")
            await asyncio.sleep(0.1)

    async def recovered(self, since_ms: float, ok_after: int = 10) -> float:
        """Wait until `ok_after` sends completed after `since_ms` (epoch ms, e.g. when the
        new master was registered) were acknowledged; return the seconds from `since_ms`
        to the first of them."""
        await self._until(
            lambda: len([s for s in self.acked() if s["t_ms"] > since_ms]) >= ok_after,
            ROUTE_REFRESH_S + 15,
            f"the C++ producer did not get {ok_after} sends acknowledged after the failover",
        )
        first = min(s["t_ms"] for s in self.acked() if s["t_ms"] > since_ms)
        return (first - since_ms) / 1000

    async def stop_producer(self) -> list[dict]:
        """Let the producer finish its send in flight and exit; return its records (again
        on a second call)."""
        assert self.producer is not None
        self._stop_producer.touch()
        # A send in flight may take its 5 attempts of up to 3 s each.
        run = await asyncio.to_thread(self.producer.wait, 30)
        failed = [s for s in run.records if s.get("status") != 0]
        # --keep-going: exit 1 says some sends failed, which the records show.
        if (
            run.timed_out
            or run.returncode not in (EXIT_OK, EXIT_ERROR)
            or (run.returncode == EXIT_ERROR and not failed)
        ):
            raise CppClientError(run.describe())
        return run.records

    async def stop_consumer(self, timeout: float) -> list[dict]:
        """Stop the producer if still running; wait (up to `timeout` s) until every
        acknowledged send was delivered, then stop the consumer (1 s of linger catches
        late duplicates); return its records."""
        assert self.consumer is not None
        sends = await self.stop_producer()
        want = {s["msg_id"] for s in sends if s.get("status") == 0}

        def received() -> set[str]:
            return {
                d["properties"].get("UNIQ_KEY", "")
                for d in self.deliveries()
                if d.get("result") == "CONSUME_SUCCESS"
            }

        deadline = time.monotonic() + timeout
        while not want <= received() and time.monotonic() < deadline:
            assert self.consumer.poll() is None, self.consumer.wait(0).describe("consumer died")
            await asyncio.sleep(0.2)
        self._stop_consumer.touch()
        run = await asyncio.to_thread(self.consumer.wait, 60)
        return run.check(EXIT_OK)

    async def finish(
        self, since_ms: float, broker_names: list[str], queues: int, consume_timeout: float = 45
    ) -> tuple[CppVerdict, str]:
        """After the fault: wait until the producer works again (see `recovered`), stop
        it, wait for the consumer, read the topic and judge; return the verdict and a
        one-line report."""
        recovery = await self.recovered(since_ms)
        result, report = await self.stop(broker_names, queues, consume_timeout)
        return result, f"first C++ SEND_OK {recovery:.1f} s after the failover; {report}"

    async def stop(
        self, broker_names: list[str], queues: int, consume_timeout: float = 45
    ) -> tuple[CppVerdict, str]:
        """Stop both clients (see `stop_consumer`), read the topic and judge; return the
        verdict and a one-line report."""
        sends = await self.stop_producer()
        # A pull pending on a connection that broke waits out its 30 s timeout: that is
        # the bound on the consumer's stall, counted from the fault.
        deliveries = await self.stop_consumer(consume_timeout)
        read = await read_messages(self.namesrv, self.topic, broker_names, queues)
        result = verdict(sends, deliveries, read)
        return result, self.summary(result, sends, deliveries)

    def summary(self, result: CppVerdict, sends: list[dict], deliveries: list[dict]) -> str:
        # The library says why attempts failed only in its log.
        refused = self._log_count(self.producer, "DLedger follower")
        unreachable = self._log_count(self.producer, "can not connect to server")
        timed_out = self._log_count(self.producer, "waitResponse of code:10 ")
        failed_pulls = self._log_count(self.consumer, "pullMessageAsync failed of addr")
        pulls_timed_out = self._log_count(self.consumer, "no response got for opaque")
        send_gap = _longest_gap([s["t_ms"] for s in sends if s.get("status") == 0])
        delivery_gap = _longest_gap([d["received_ms"] for d in deliveries])
        return (
            f"C++ producer {result.sends} sends: {result.acked} SEND_OK, {result.failed} "
            f"failed (attempts: {refused} refused by a follower, {unreachable} could not "
            f"connect, {timed_out} timed out), longest gap between acks {send_gap:.1f} s, "
            f"{result.stored_copies} copies stored by abandoned attempts; C++ consumer "
            f"{result.deliveries} deliveries, {result.duplicates} duplicates, longest gap "
            f"{delivery_gap:.1f} s, {failed_pulls} failed and {pulls_timed_out} timed-out pulls"
        )

    @staticmethod
    def _log_count(proc: CppProcess | None, needle: str) -> int:
        if proc is None:
            return 0
        return sum(
            f.read_text(errors="replace").count(needle) for f in cpp_log_files(proc.home, proc.pid)
        )

    def assert_clean(self, result: CppVerdict) -> None:
        assert not result.bad, f"C++ load: {result.bad}\n{self.describe()}"

    def describe(self) -> str:
        parts = []
        for proc in (self.producer, self.consumer):
            if proc is not None:
                parts.append(f"--- {proc.args[0]} (pid {proc.pid}): stderr tail ---")
                parts.append("\n".join(proc.stderr_so_far().splitlines()[-15:]))
        return "\n".join(parts)

    def close(self) -> None:
        self.client.close()

"""Send load through the official RocketMQ C++ client (PyPI rocketmq==0.4.4); a fleet worker.

Run by `orbitmq bench cpp-producer` with the interpreter of the C++ client's own venv
(scripts/cpp_client_env.sh), as `python -I cpp_load.py …`. That venv has no orbitmq
dependencies, so this script imports nothing from orbitmq: it loads the stdlib-only
stats.py beside it by file path and speaks the fleet protocol of fleet.py itself.

Modes (the 0.4.4 wrapper's three send calls):
  sync    `--threads` threads, each calling `send_sync` in a loop; ctypes releases the
          GIL during the call, so the threads really are concurrent senders
  async   one loop issuing `send_async` with up to `--window` sends in flight; the
          success/exception callbacks (librocketmq's threads) record and free a slot
  oneway  `--threads` threads calling `send_oneway`; RT is the time of the call
RT is measured around the send call only, with time.perf_counter_ns. One warm-up
`send_sync` before `ready` makes the client fetch the route (not counted).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

_TICK_PERIOD = 0.5
_STATUS_OK = 0


def _load_stats() -> ModuleType:
    path = Path(__file__).with_name("stats.py")
    spec = importlib.util.spec_from_file_location("orbitmq_bench_stats", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


stats_module = _load_stats()


class _Budget:
    """Count and deadline shared by all sender threads."""

    def __init__(self, count: int | None, duration: float) -> None:
        self._lock = threading.Lock()
        self._remaining = count
        self._deadline = time.monotonic() + duration

    def stop(self) -> None:
        with self._lock:
            self._deadline = 0.0

    def take(self) -> bool:
        with self._lock:
            if time.monotonic() >= self._deadline:
                return False
            if self._remaining is None:
                return True
            if self._remaining <= 0:
                return False
            self._remaining -= 1
            return True


class _Recorder:
    """The run's SendStats behind a lock (callbacks and threads record concurrently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stats = stats_module.SendStats(time.monotonic())

    def ok(self, started_ns: int) -> None:
        micros = (time.perf_counter_ns() - started_ns) // 1000
        with self._lock:
            self.stats.record_ok(micros)

    def send_failed(self) -> None:
        with self._lock:
            self.stats.record_send_failed()

    def response_failed(self) -> None:
        with self._lock:
            self.stats.record_response_failed()

    def take_interval(self) -> Any:
        with self._lock:
            return self.stats.take_interval(time.monotonic())

    def run_tally(self) -> Any:
        with self._lock:
            return self.stats.run_tally(time.monotonic())


_out_lock = threading.Lock()
_failures_noted = [0]
_FAILURES_SHOWN = 5


def _note_failure(exc: Exception) -> None:
    """The first few send errors go to stderr, which the parent forwards."""
    with _out_lock:
        _failures_noted[0] += 1
        if _failures_noted[0] <= _FAILURES_SHOWN:
            print(f"cpp_load: send failed: {type(exc).__name__}: {exc}", file=sys.stderr)


def _emit(event: str, tally: Any = None) -> None:
    record: dict[str, Any] = {"event": event}
    if tally is not None:
        record["tally"] = tally.to_wire()
    with _out_lock:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


class _Load:
    def __init__(self, client: ModuleType, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.body = (b"C++ client benchmark body. " * (args.size // 27 + 1))[: args.size]
        self._seq = 0
        self._seq_lock = threading.Lock()

    def message(self) -> Any:
        a = self.args
        msg = self.client.Message(a.topic)
        msg.set_body(self.body)
        if a.tags or a.keys:
            with self._seq_lock:
                seq = self._seq
                self._seq += 1
            if a.tags:
                msg.set_tags(f"tag{seq % 10}")
            if a.keys:
                msg.set_keys(f"key{seq}")
        return msg

    def sender(self, producer: Any, budget: _Budget, rec: _Recorder) -> None:
        oneway = self.args.mode == "oneway"
        while budget.take():
            msg = self.message()
            started = time.perf_counter_ns()
            try:
                if oneway:
                    producer.send_oneway(msg)
                    rec.ok(started)
                    continue
                result = producer.send_sync(msg)
            except Exception as exc:  # the wrapper's ProducerSendSyncFailed & co
                rec.send_failed()
                _note_failure(exc)
                time.sleep(0.1)
                continue
            if int(result.status) == _STATUS_OK:
                rec.ok(started)
            else:
                rec.response_failed()

    def async_loop(self, producer: Any, budget: _Budget, rec: _Recorder) -> None:
        slots = threading.BoundedSemaphore(self.args.window)
        while True:
            slots.acquire()
            if not budget.take():
                slots.release()
                break
            msg = self.message()
            started = time.perf_counter_ns()

            def ok(result: Any, started: int = started, msg: Any = msg) -> None:
                # `msg` is bound here so the C message outlives the send.
                if int(result.status) == _STATUS_OK:
                    rec.ok(started)
                else:
                    rec.response_failed()
                slots.release()

            def bad(exc: Exception) -> None:
                rec.send_failed()
                _note_failure(exc)
                slots.release()

            try:
                producer.send_async(msg, ok, bad)
            except Exception as exc:
                rec.send_failed()
                _note_failure(exc)
                slots.release()
        # Wait for the window to drain: every slot back, or the send timeout passed.
        deadline = time.monotonic() + self.args.send_timeout_ms / 1000 + 1
        for _ in range(self.args.window):
            if not slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break


def _watch_stdin(budget: _Budget) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    budget.stop()


def _ticker(rec: _Recorder, finished: threading.Event) -> None:
    while not finished.wait(_TICK_PERIOD):
        _emit("tick", rec.take_interval())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namesrv", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--mode", choices=("sync", "async", "oneway"), default="sync")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tags", action="store_true")
    parser.add_argument("--keys", action="store_true")
    parser.add_argument("--group", default="benchmark_cpp_producer")
    parser.add_argument("--send-timeout-ms", type=int, default=3000)
    args = parser.parse_args(argv)

    import rocketmq.client as client  # the C++ venv's package, loaded by ctypes

    producer = client.Producer(args.group, timeout=args.send_timeout_ms)
    producer.set_namesrv_addr(args.namesrv)
    producer.start()
    load = _Load(client, args)
    try:
        producer.send_sync(load.message())  # warm-up: fetch the route before `ready`
        _emit("ready")
        if sys.stdin.readline().strip() != "go":
            print("cpp_load: no 'go' from the parent", file=sys.stderr)
            return 1
        budget = _Budget(args.count, args.duration)
        rec = _Recorder()
        finished = threading.Event()
        threading.Thread(target=_watch_stdin, args=(budget,), daemon=True).start()
        ticker = threading.Thread(target=_ticker, args=(rec, finished), daemon=True)
        ticker.start()
        if args.mode == "async":
            load.async_loop(producer, budget, rec)
        else:
            senders = [
                threading.Thread(target=load.sender, args=(producer, budget, rec))
                for _ in range(args.threads)
            ]
            for thread in senders:
                thread.start()
            for thread in senders:
                thread.join()
        finished.set()
        ticker.join()
        _emit("done", rec.run_tally())
    except BaseException:
        producer.shutdown()
        raise
    # librocketmq 1.2.x sometimes aborts in shutdown (boost::thread_interrupted, exit -6)
    # after a run; every send has completed and the figures are out, so leave without it.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

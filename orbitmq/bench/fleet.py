"""Run one load generator as N worker processes and merge what they measure.

The fleet protocol, one JSON object per line on each worker's stdout (diagnostics go to
its stderr), and plain words on its stdin:

    worker -> parent  {"event": "ready"}                 connected, route known
    parent -> worker  go                                 all workers start together
    worker -> parent  {"event": "tick", "tally": {...}}  raw counters of the last stretch
    parent -> worker  stop                               (optional) end the run early
    worker -> parent  {"event": "done", "tally": {...}}  raw counters of the whole run

Tallies are `SendTally`/`ConsumeTally.to_wire()` (stats.py). The parent prints one merged
report line per interval from the ticks that arrived in it, and the summary from the
merged `done` tallies, so percentiles come from all samples of all processes, and the
client CPU per message is the workers' CPU seconds summed over their messages. Speakers:
`orbitmq bench producer|consumer|peer-* --worker` (worker.py) and the C++ load
generator (cpp_load.py). Broker CPU is read from `go` to the last `done`. Workers'
stderr is passed on to the parent's stderr, each line prefixed with `[worker N]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import orjson

from orbitmq.bench.common import BenchError
from orbitmq.bench.cpu import CpuMeter, CpuUsage
from orbitmq.bench.stats import ConsumeTally, SendTally, tally_from_wire

__all__ = ["FleetResult", "run_fleet", "split_count"]

Tally = SendTally | ConsumeTally
READY_TIMEOUT = 60.0


def split_count(count: int | None, workers: int) -> list[int | None]:
    """Share `count` messages between `workers` as evenly as possible."""
    if count is None:
        return [None] * workers
    share, extra = divmod(count, workers)
    return [share + (1 if i < extra else 0) for i in range(workers)]


@dataclass(frozen=True, slots=True)
class FleetResult:
    tally: Tally
    cpu: CpuUsage | None
    processes: int


class _Worker:
    """One child process and what it has said so far."""

    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.ready = asyncio.Event()
        self.done: Tally | None = None
        self.stderr: deque[str] = deque(maxlen=30)

    def failure(self) -> BenchError:
        tail = "\n".join(self.stderr) or "(no output on stderr)"
        return BenchError(
            f"worker {self.index} (pid {self.process.pid}) exited with "
            f"{self.process.returncode} before finishing:\n{tail}"
        )

    def send(self, word: str) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(word.encode() + b"\n")


class _Fleet:
    def __init__(self, interval: float, out: TextIO, target: int | None) -> None:
        self._interval = interval
        self._out = out
        self._target = target
        self._pending: list[Tally] = []
        self._ticked = 0
        self.workers: list[_Worker] = []

    async def spawn(self, argvs: Sequence[Sequence[str]], env: dict[str, str] | None) -> None:
        for index, argv in enumerate(argvs):
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            self.workers.append(_Worker(index, process))

    async def _read_stdout(self, worker: _Worker) -> None:
        stdout = worker.process.stdout
        assert stdout is not None
        while line := await stdout.readline():
            try:
                event = orjson.loads(line)
                kind = event["event"]
                tally = tally_from_wire(event["tally"]) if "tally" in event else None
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise BenchError(f"worker {worker.index} said {line[:200]!r}: {exc}") from exc
            if kind == "ready":
                worker.ready.set()
            elif kind == "tick" and tally is not None:
                self._on_tick(tally)
            elif kind == "done":
                worker.done = tally

    async def _read_stderr(self, worker: _Worker) -> None:
        stderr = worker.process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            worker.stderr.append(text)
            print(f"[worker {worker.index}] {text}", file=sys.stderr, flush=True)

    def _on_tick(self, tally: Tally) -> None:
        self._pending.append(tally)
        self._ticked += tally.messages
        if self._target is not None and self._ticked >= self._target:
            for worker in self.workers:
                worker.send("stop")

    def print_interval(self) -> None:
        """One merged line for the ticks that arrived since the last line."""
        pending, self._pending = self._pending, []
        if pending:
            merged = _merge(pending)
            print(merged.report().line(), file=self._out, flush=True)

    async def watch(self, worker: _Worker) -> None:
        """Read a worker to its end; fail if it ends without a `done`."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read_stdout(worker))
            tg.create_task(self._read_stderr(worker))
        await worker.process.wait()
        if worker.done is None or worker.process.returncode != 0:
            raise worker.failure()

    async def wait_all_ready(self, timeout: float) -> None:
        async def ready(worker: _Worker) -> None:
            waiter = asyncio.ensure_future(worker.ready.wait())
            exited = asyncio.ensure_future(worker.process.wait())
            try:
                await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                exited.cancel()
            if not worker.ready.is_set():
                await asyncio.sleep(0.2)  # let the stderr reader catch the last lines
                raise worker.failure()

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(ready(w) for w in self.workers))

    def kill_all(self) -> None:
        for worker in self.workers:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()


def _merge(tallies: Sequence[Tally]) -> Tally:
    first, *rest = tallies
    merged = type(first).from_wire(first.to_wire())  # a copy: inputs stay untouched
    for tally in rest:
        merged.merge(tally)  # type: ignore[arg-type]
    return merged


async def run_fleet(
    argvs: Sequence[Sequence[str]],
    *,
    interval: float,
    out: TextIO,
    broker_pid: int | None = None,
    target: int | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> FleetResult:
    """Start one worker per argv, start their load together, print merged interval lines
    on `out`, say `stop` to all once `target` messages were counted, and merge the result.

    Raises:
        BenchError: a worker failed to start, exited early or broke the protocol.
    """
    fleet = _Fleet(interval, out, target)
    meter = CpuMeter(broker_pid) if broker_pid is not None else None
    try:
        await fleet.spawn(argvs, env)
        async with asyncio.TaskGroup() as tg:
            for worker in fleet.workers:
                tg.create_task(fleet.watch(worker))
            await fleet.wait_all_ready(ready_timeout)
            if meter is not None:
                meter.start()
            for worker in fleet.workers:
                worker.send("go")
            tg.create_task(_print_lines(fleet, interval))
    except* Exception as group:
        raise _first_error(group) from None
    finally:
        fleet.kill_all()
    done = [w.done for w in fleet.workers if w.done is not None]
    tally = _merge(done)
    cpu = meter.stop(tally.messages) if meter is not None else None
    return FleetResult(tally, cpu, len(fleet.workers))


def _first_error(group: BaseExceptionGroup[Exception]) -> Exception:
    """The first real error of a TaskGroup failure (the rest are its consequences)."""
    error: Exception = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _print_lines(fleet: _Fleet, interval: float) -> None:
    """Merged progress lines until every worker has exited."""
    while any(w.process.returncode is None for w in fleet.workers):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await asyncio.gather(*(w.process.wait() for w in fleet.workers))
        fleet.print_interval()

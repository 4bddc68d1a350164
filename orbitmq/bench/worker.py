"""Where a load generator's periodic results go: report lines, or the fleet protocol.

A run on its own prints a report line every `--interval` seconds (`LineSink`). A run
started by a parent with `--processes N` is a worker (`WorkerLink`): it speaks the fleet
protocol described in `fleet.py` on stdin/stdout, sending raw tallies every
`TICK_PERIOD` seconds so that the parent can merge them. Either way the tallies carry the
load process's own CPU time (`process_cpu_seconds`), so the client's cost per message is
reported beside TPS, summed over the workers of a fleet.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

import orjson

from orbitmq.bench.stats import ConsumeTally, SendTally

__all__ = ["TICK_PERIOD", "LineSink", "Sink", "WorkerLink", "process_cpu_seconds"]

# Short, so that the parent can stop a count-bound consumer fleet soon after the target.
TICK_PERIOD = 0.5


def process_cpu_seconds() -> float:
    """User + system CPU seconds this process (all its threads) has used so far, to the
    nanosecond (CLOCK_PROCESS_CPUTIME_ID): os.times() counts 10 ms ticks, which read 0
    for a short consumer run."""
    return time.process_time()


class LineSink:
    """A run on its own: one report line per interval on `out`."""

    def __init__(self, out: TextIO, interval: float) -> None:
        self._out = out
        self.period = interval

    async def wait_go(self, stop: Callable[[], None]) -> None:
        """Nothing to wait for: the run starts at once."""

    def tick(self, tally: SendTally | ConsumeTally) -> None:
        print(tally.report().line(), file=self._out, flush=True)

    def done(self, tally: SendTally | ConsumeTally) -> None:
        """The summary is printed by the command itself."""

    def close(self) -> None:
        """Nothing to release."""


class WorkerLink:
    """A worker of a fleet: `ready`, wait for `go`, ticks, `done`; `stop` on stdin ends
    the run early, and so does the end of stdin (the parent went away)."""

    period = TICK_PERIOD

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._watcher: asyncio.Task[None] | None = None

    def _emit(self, event: str, tally: SendTally | ConsumeTally | None = None) -> None:
        record: dict[str, object] = {"event": event}
        if tally is not None:
            record["tally"] = tally.to_wire()
        self._out.write(orjson.dumps(record).decode() + "\n")
        self._out.flush()

    async def wait_go(self, stop: Callable[[], None]) -> None:
        """Say `ready`, wait for the parent's `go`, then watch stdin for `stop`."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        self._emit("ready")
        line = await reader.readline()
        if line.strip() != b"go":
            raise EOFError(f"expected 'go' from the parent, got {line!r}")
        self._watcher = loop.create_task(self._watch(reader, stop))

    async def _watch(self, reader: asyncio.StreamReader, stop: Callable[[], None]) -> None:
        while line := await reader.readline():
            if line.strip() == b"stop":
                break
        stop()

    def tick(self, tally: SendTally | ConsumeTally) -> None:
        self._emit("tick", tally)

    def done(self, tally: SendTally | ConsumeTally) -> None:
        self._emit("done", tally)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


Sink = LineSink | WorkerLink

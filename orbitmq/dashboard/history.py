"""The Dashboard's chart history, in rocketmq-dashboard's files under `data_dir/dashboard/`:

  YYYY-MM-DD.json        {"brokerName:brokerId": ["<ms>,<tps>", ...]}
  YYYY-MM-DD_topic.json  {"topic": ["<ms>,inTps,inToday,outTps,outToday", ...]}

Today's lists live in memory and are rewritten whole (temporary file, then rename, so a
reader never sees half a file) at most every `min_write_seconds`; today's files are read
back at start, so charts survive a restart. Other days are read from disk on request. A
day without a file, or with an unreadable one, is an empty chart, never an error.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

BROKER = "broker"
TOPIC = "topic"
KINDS = (BROKER, TOPIC)
DAY_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MIN_WRITE_SECONDS = 5.0
_WRITES = itertools.count()
_CACHED_FILES = 4  # past days' files kept parsed: a page shows one day's two files

Series = dict[str, list[str]]


def day_of(ms: int) -> str:
    """The local date of a timestamp, as the files are named."""
    return time.strftime("%Y-%m-%d", time.localtime(ms / 1000))


def parse_series(data: bytes) -> Series:
    """A chart file's map, keeping only well-formed entries."""
    raw = orjson.loads(data)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    return {
        str(key): [p for p in points if isinstance(p, str)]
        for key, points in raw.items()
        if isinstance(points, list)
    }


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A write cut short by cancellation may still run in its thread: never share its file.
    tmp = path.with_name(f".{path.name}.{next(_WRITES)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@dataclass
class _Day:
    series: dict[str, Series] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    dirty: bool = False


class ChartHistory:
    def __init__(self, directory: Path, min_write_seconds: float = MIN_WRITE_SECONDS) -> None:
        self.directory = directory
        self.min_write_seconds = min_write_seconds
        self._days: dict[str, _Day] = {}  # today, and a finished day until written
        self._written_at = float("-inf")  # monotonic
        self._cache: dict[Path, tuple[float, Series]] = {}

    def path(self, day: str, kind: str) -> Path:
        return self.directory / (f"{day}.json" if kind == BROKER else f"{day}_topic.json")

    def _read(self, day: str, kind: str) -> Series:
        """A day's file; {} when missing or unreadable (cached until it changes)."""
        path = self.path(day, kind)
        try:
            mtime = path.stat().st_mtime
            cached = self._cache.get(path)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            series = parse_series(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("console: chart file %s is unreadable, shown empty: %s", path, exc)
            return {}
        self._cache[path] = (mtime, series)
        while len(self._cache) > _CACHED_FILES:
            del self._cache[next(iter(self._cache))]
        return series

    def load(self, day: str) -> None:
        """Take a day's files into memory, to append to them (at start)."""
        self._days[day] = _Day(
            {kind: {k: list(v) for k, v in self._read(day, kind).items()} for kind in KINDS}
        )

    def series(self, day: str, kind: str) -> Series:
        if not DAY_FORMAT.match(day):
            raise ValueError(f"date must be YYYY-MM-DD, not {day!r}")
        held = self._days.get(day)
        return held.series[kind] if held is not None else self._read(day, kind)

    def add(self, ms: int, brokers: dict[str, float], topics: dict[str, str]) -> None:
        """One collection: broker TPS by `brokerName:id`, topic points as chart text."""
        day = day_of(ms)
        held = self._days.get(day)
        if held is None:
            self.load(day)
            held = self._days[day]
        for key, tps in brokers.items():
            held.series[BROKER].setdefault(key, []).append(f"{ms},{tps:.5f}")
        for topic, point in topics.items():
            held.series[TOPIC].setdefault(topic, []).append(point)
        held.dirty = True

    def last_topic_counts(self, day: str) -> dict[str, tuple[int, int]]:
        """(inToday, outToday) of each topic's last point of the day."""
        counts = {}
        for topic, points in self.series(day, TOPIC).items():
            if points:
                fields = points[-1].split(",")
                try:
                    counts[topic] = (int(fields[2]), int(fields[4]))
                except (IndexError, ValueError):
                    continue
        return counts

    async def flush(self, *, force: bool = False) -> None:
        """Rewrite the changed days' files, unless the last write was too recent."""
        now = time.monotonic()
        if not force and now - self._written_at < self.min_write_seconds:
            return
        today = day_of(int(time.time() * 1000))
        for day, held in list(self._days.items()):
            if held.dirty:
                held.dirty = False
                try:
                    for kind in KINDS:
                        data = orjson.dumps(held.series[kind])
                        await asyncio.to_thread(write_atomically, self.path(day, kind), data)
                except OSError as exc:
                    held.dirty = True
                    log.warning("console: cannot write chart history of %s: %s", day, exc)
            if day != today and not held.dirty:
                del self._days[day]
        self._written_at = now

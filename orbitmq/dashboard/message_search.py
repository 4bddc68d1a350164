"""Topic + time range browsing, paged on the server (rocketmq-dashboard's
queryMessagePageByTopic).

A query looks up, on every broker set of the topic, each queue's offsets for `begin` and
`end` (SEARCH_OFFSET_BY_TIMESTAMP: the first message stored at or after the time, or the
last message when none is); the store times of the two messages found decide whether each
belongs to the range, which gives [start, end) of the queue's messages stored in
[begin, end). Those ranges, not
the messages, are kept under a task id for an hour, so a later page pulls just its own 50
messages. A range of more than MAX_MESSAGES messages is cut to the newest MAX_MESSAGES,
shared fairly between the queues, and the page says so.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from orbitmq.client.message import MessageQueue
from orbitmq.dashboard.context import BrokerFailure, Console
from orbitmq.dashboard.message_queries import pull_range, store_time_at
from orbitmq.protocol.message import MessageExt

MAX_MESSAGES = 2000
TASK_TTL = 3600.0  # rocketmq-dashboard keeps a query's ranges 60 minutes
MAX_TASKS = 200


@dataclass(frozen=True, slots=True)
class QueueRange:
    """Offsets [start, end) of one queue, read at `addr`."""

    mq: MessageQueue
    addr: str
    start: int
    end: int

    @property
    def count(self) -> int:
        return max(self.end - self.start, 0)


def cut_to_newest(ranges: list[QueueRange], limit: int) -> list[QueueRange]:
    """At most `limit` messages in all: each queue keeps its newest messages, the small
    queues whole and the rest an equal share of what remains (water filling)."""
    if sum(r.count for r in ranges) <= limit:
        return list(ranges)
    keep: dict[int, int] = {}
    remaining = limit
    order = sorted(range(len(ranges)), key=lambda i: ranges[i].count)
    for position, i in enumerate(order):
        share = remaining // (len(order) - position)
        keep[i] = min(ranges[i].count, share)
        remaining -= keep[i]
    return [replace(r, start=r.end - keep[i]) for i, r in enumerate(ranges)]


def page_slices(
    ranges: list[QueueRange], number: int, size: int
) -> list[tuple[QueueRange, int, int]]:
    """The (queue, start, end) pieces holding positions [(number-1)*size, number*size) of
    the queues' messages laid end to end."""
    skip = (number - 1) * size
    wanted = size
    pieces = []
    for r in ranges:
        if wanted <= 0:
            break
        if skip >= r.count:
            skip -= r.count
            continue
        start = r.start + skip
        end = min(r.end, start + wanted)
        pieces.append((r, start, end))
        wanted -= end - start
        skip = 0
    return pieces


@dataclass(frozen=True, slots=True)
class SearchTask:
    """One topic + time-range query: its cut ranges and how many messages it found."""

    task_id: str
    namesrv_addr: str
    topic: str
    begin: int
    end: int
    ranges: list[QueueRange]
    found: int
    created: float

    @property
    def total(self) -> int:
        return sum(r.count for r in self.ranges)

    @property
    def cut(self) -> bool:
        return self.found > self.total


class TaskCache:
    """Search tasks by id, dropped after TASK_TTL or when more than MAX_TASKS are kept."""

    def __init__(self, ttl: float = TASK_TTL, max_tasks: int = MAX_TASKS) -> None:
        self._tasks: OrderedDict[str, SearchTask] = OrderedDict()
        self._ttl = ttl
        self._max = max_tasks

    def put(self, task: SearchTask) -> None:
        self._expire(task.created)
        self._tasks[task.task_id] = task
        while len(self._tasks) > self._max:
            self._tasks.popitem(last=False)

    def get(self, task_id: str, now: float) -> SearchTask | None:
        self._expire(now)
        return self._tasks.get(task_id)

    def _expire(self, now: float) -> None:
        while self._tasks:
            oldest = next(iter(self._tasks.values()))
            if now - oldest.created < self._ttl:
                break
            self._tasks.popitem(last=False)


def trim_edges(
    first: int,
    last: int,
    first_time: int | None,
    last_time: int | None,
    begin: int,
    end: int,
) -> tuple[int, int]:
    """[start, end) of the messages stored in [begin, end), from the offsets searched for
    `begin` and `end` and the store times of the messages there (None: unknown, kept)."""
    start = first + 1 if first_time is not None and first_time < begin else first
    stop = last if last_time is not None and last_time >= end else last + 1
    return start, max(stop, start)


async def start_search(
    console: Console, topic: str, begin: int, end: int
) -> tuple[SearchTask, list[BrokerFailure]]:
    """Find the offset ranges of `topic` stored in [begin, end) on every broker set.

    Raises:
        TopicNotExistError: the NameServer has no route for `topic`.
    """
    admin = console.admin
    route = await console.bounded(admin.topic_route(topic))
    queues = route.subscribe_queues(topic)
    targets = [
        (b.broker_name, addr)
        for b in sorted(route.broker_datas, key=lambda b: b.broker_name)
        if (addr := b.select_addr()) is not None
    ]
    name_of = {addr: name for name, addr in targets}

    async def ranges_at(addr: str) -> list[QueueRange]:
        mine = [mq for mq in queues if mq.broker_name == name_of[addr]]

        async def one(mq: MessageQueue) -> QueueRange:
            first, last, stop = await asyncio.gather(
                admin.search_offset(mq, begin, broker_addr=addr),
                admin.search_offset(mq, end, broker_addr=addr),
                admin.max_offset(mq, broker_addr=addr),
            )
            last = min(last, stop - 1)
            if last < first:
                return QueueRange(mq, addr, first, first)
            first_time, last_time = await asyncio.gather(
                store_time_at(admin, addr, mq, first), store_time_at(admin, addr, mq, last)
            )
            start, after = trim_edges(first, last, first_time, last_time, begin, end)
            return QueueRange(mq, addr, start, after)

        return list(await asyncio.gather(*(one(mq) for mq in mine)))

    answers, failures = await console.each(targets, ranges_at)
    ranges = [r for _, addr in targets for r in answers.get(addr, [])]
    found = sum(r.count for r in ranges)
    task = SearchTask(
        secrets.token_urlsafe(12),
        console.namesrv_addr,
        topic,
        begin,
        end,
        cut_to_newest(ranges, MAX_MESSAGES),
        found,
        time.monotonic(),
    )
    return task, failures


async def read_pieces(
    console: Console, pieces: list[tuple[QueueRange, int, int]], begin: int, end: int
) -> tuple[list[MessageExt], list[BrokerFailure]]:
    """The messages of the pieces stored in [begin, end), newest first."""
    by_addr: dict[str, list[tuple[QueueRange, int, int]]] = {}
    for piece in pieces:
        by_addr.setdefault(piece[0].addr, []).append(piece)
    names = {piece[0].addr: piece[0].mq.broker_name for piece in pieces}

    async def read_at(addr: str) -> list[MessageExt]:
        parts = await asyncio.gather(
            *(pull_range(console.admin, addr, r.mq, s, e) for r, s, e in by_addr[addr])
        )
        return [m for part in parts for m in part]

    answers, failures = await console.each(((names[a], a) for a in by_addr), read_at)
    messages = [m for part in answers.values() for m in part if begin <= m.store_timestamp < end]
    messages.sort(key=lambda m: (m.store_timestamp, m.queue_offset), reverse=True)
    return messages, failures

"""The proxy's table of 5.x clients (orbitmq/proxy/sessions.py)."""

from __future__ import annotations

import asyncio

from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.sessions import SessionTable


async def test_producers_of_a_topic_need_an_open_stream() -> None:
    table = SessionTable()
    open_one = table.get_or_create("p1")
    open_one.client_type, open_one.topics, open_one.outbox = pb.PRODUCER, {"T"}, asyncio.Queue()
    closed = table.get_or_create("p2")
    closed.client_type, closed.topics = pb.PRODUCER, {"T"}
    consumer = table.get_or_create("c1")
    consumer.client_type, consumer.outbox = pb.SIMPLE_CONSUMER, asyncio.Queue()
    assert table.producers_of("T") == [open_one]
    assert table.producers_of("U") == []


async def test_silent_clients_without_a_stream_are_pruned() -> None:
    table = SessionTable()
    streaming = table.get_or_create("streaming")
    streaming.outbox = asyncio.Queue()
    silent = table.get_or_create("silent")
    recent = table.get_or_create("recent")
    for session in (streaming, silent):
        session.last_seen -= 500
    recent.last_seen -= 5
    table._pruned_at -= 500
    assert table.prune(120) == [silent]
    assert table.get("silent") is None and len(table) == 2
    assert table.prune(120) == []  # looked at just now

"""NameServers with real processes: a dead broker is dropped, and clients survive the
loss of one of several independent NameServers."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path

import pytest

from orbitmq.client import MQAdmin
from orbitmq.client.errors import ClientError
from orbitmq.errors import OrbitMQError
from tests.integration.scenario import produce, start_collector, wait_for
from tests.processes import broker_properties, start_broker, start_namesrv

pytestmark = pytest.mark.slow


async def route_brokers(namesrv_addr: str, topic: str) -> set[str]:
    admin = MQAdmin(namesrv_addr)
    await admin.start()
    try:
        route = await admin.topic_route(topic)
        return {b.broker_name for b in route.broker_datas}
    except (ClientError, OrbitMQError):
        return set()
    finally:
        await admin.shutdown()


async def wait_route(addr: str, topic: str, expected: set[str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (found := await route_brokers(addr, topic)) != expected:
        assert time.monotonic() < deadline, f"route of {topic} at {addr}: {found} != {expected}"
        await asyncio.sleep(0.1)


async def test_killed_broker_is_dropped_and_one_namesrv_is_enough(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        first, first_addr = start_namesrv(tmp_path)
        stack.callback(first.stop)
        second, second_addr = start_namesrv(tmp_path)
        stack.callback(second.stop)
        both = f"{first_addr};{second_addr}"
        props = broker_properties(tmp_path, both, brokerName="broker-ns")
        broker = start_broker(tmp_path, props)
        stack.callback(broker.stop)
        topic = "NsTopic"
        await produce(both, topic, 3)
        # The auto-created topic reaches every NameServer with the next registration.
        for addr in (first_addr, second_addr):
            await wait_route(addr, topic, {"broker-ns"})

        # One NameServer dies: a producer and a consumer given both addresses still work.
        first.send_signal(signal.SIGKILL)
        first.process.wait(5)
        sent = await produce(both, topic, 10)
        collector = await start_collector(both, "CG_NS", topic)
        try:
            await wait_for(
                lambda: collector.bodies >= {m.body for m in sent}, 30, "consumer missed messages"
            )
        finally:
            await collector.consumer.shutdown()

        # The broker dies: the surviving NameServer drops it when its connection closes,
        # well before the 120 s expiry.
        broker.kill()
        await wait_route(second_addr, topic, set(), timeout=10)

"""Fixtures for the client tests: a NameServer and brokers started in-process on port 0."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orbitmq.broker.broker import BrokerController
from orbitmq.client import MQAdmin
from orbitmq.namesrv.server import NamesrvController
from tests.unit.inprocess import broker_config, start_namesrv

WAIT_TIMEOUT = 15.0


async def wait_for(
    condition: Callable[[], Any | Awaitable[Any]], timeout: float = WAIT_TIMEOUT
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


@dataclass
class Cluster:
    """One NameServer and any number of master brokers, all on 127.0.0.1."""

    tmp: Path
    namesrv: NamesrvController
    brokers: dict[str, BrokerController] = field(default_factory=dict)

    @property
    def namesrv_addr(self) -> str:
        return f"127.0.0.1:{self.namesrv.port}"

    def broker_addr(self, name: str = "broker-a") -> str:
        return self.brokers[name].config.broker_addr

    async def add_broker(self, name: str) -> BrokerController:
        config = broker_config(
            self.tmp,
            self.namesrv_addr,
            broker_name=name,
            listen_port=0,
            store_path_root_dir=str(self.tmp / name),
        )
        broker = BrokerController(config)
        await broker.start()
        self.brokers[name] = broker
        async with MQAdmin(self.namesrv_addr) as admin:

            async def registered() -> bool:
                info = await admin.cluster_info()
                return name in info.broker_addr_table

            await wait_for(registered)
        return broker

    async def stop_broker(self, name: str) -> None:
        await self.brokers.pop(name).aclose()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    namesrv = await start_namesrv(tmp_path)
    result = Cluster(tmp_path, namesrv)
    try:
        await result.add_broker("broker-a")
        yield result
    finally:
        for broker in list(result.brokers.values()):
            await broker.aclose()
        await namesrv.aclose()


@pytest.fixture(autouse=True)
async def strict_loop() -> AsyncIterator[None]:
    """Fail a test if anything reached the event loop's exception handler."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    loop.set_exception_handler(None)
    assert not errors, errors


@pytest.fixture
def cluster_addr(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """For synchronous tests: a cluster on a loop thread; yields (namesrv, broker) addresses."""
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[str, str]] = concurrent.futures.Future()
    stop = threading.Event()

    async def run() -> None:
        namesrv = await start_namesrv(tmp_path)
        result = Cluster(tmp_path, namesrv)
        try:
            await result.add_broker("broker-a")
            ready.set_result((result.namesrv_addr, result.broker_addr()))
            while not stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            for broker in result.brokers.values():
                await broker.aclose()
            await namesrv.aclose()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    try:
        yield ready.result(30)
    finally:
        stop.set()
        thread.join(30)
        loop.close()

"""Raw requests to one given broker or NameServer address, bypassing the client's routing.

Master/slave scenario tests need to ask *that* broker (a slave, a master that just came
back) rather than whichever one the client would pick: its max offset per queue, the
offsets it stores for a group, the messages it serves at given queue offsets, how it
answers a send. Used by tests/integration/test_two_masters_two_slaves.py and the
namespace cluster tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson

from orbitmq.client.consumer.pull_codec import (
    PullStatus,
    parse_pull_response,
    pull_ext,
    pull_sys_flag,
)
from orbitmq.client.message import Message, MessageQueue, create_uniq_id
from orbitmq.client.route import TopicRouteData, parse_topic_route
from orbitmq.client.send_codec import single_request
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.subscription import parse_subscription
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError

PROBE_GROUP = "CG_HA_PROBE"


class ProbeError(AssertionError):
    """A broker answered a probe with an unexpected code."""


class BrokerProbe:
    """One remoting client for direct requests; `async with BrokerProbe() as probe`."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._remoting = RemotingClient(None)

    async def __aenter__(self) -> BrokerProbe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._remoting.aclose()

    async def invoke(
        self, addr: str, code: int, ext: dict[str, str] | None = None, body: bytes = b""
    ) -> RemotingCommand:
        """One request, whatever the answer's code."""
        command = RemotingCommand.request(code, ext or {}, body)
        return await self._remoting.invoke(addr, command, self.timeout)

    async def _checked(self, addr: str, code: int, ext: dict[str, str]) -> RemotingCommand:
        response = await self.invoke(addr, code, ext)
        if response.code != ResponseCode.SUCCESS:
            raise ProbeError(
                f"request {code} to {addr} answered {response.code}: {response.remark}"
            )
        return response

    # NameServer -------------------------------------------------------------------------
    async def route(self, namesrv_addr: str, topic: str) -> TopicRouteData | None:
        """GET_ROUTEINFO_BY_TOPIC at one NameServer; None if it knows no such topic."""
        response = await self.invoke(
            namesrv_addr, RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic}
        )
        if response.code != ResponseCode.SUCCESS or not response.body:
            return None
        return parse_topic_route(response.body)

    async def broker_addrs(self, namesrv_addr: str, topic: str) -> dict[str, dict[int, str]]:
        """{brokerName: {brokerId: addr}} of the topic's route at one NameServer."""
        route = await self.route(namesrv_addr, topic)
        if route is None:
            return {}
        return {b.broker_name: dict(b.broker_addrs) for b in route.broker_datas}

    # Broker -----------------------------------------------------------------------------
    async def max_offset(self, addr: str, mq: MessageQueue) -> int:
        """GET_MAX_OFFSET (30) at `addr`: the queue's exclusive max offset there."""
        ext = {"topic": mq.topic, "queueId": str(mq.queue_id), "bname": mq.broker_name}
        response = await self._checked(addr, RequestCode.GET_MAX_OFFSET, ext)
        return int(response.ext_fields["offset"])

    async def consumer_offset(self, addr: str, group: str, mq: MessageQueue) -> int | None:
        """QUERY_CONSUMER_OFFSET (14) at `addr`; None when that broker has none."""
        ext = {
            "consumerGroup": group,
            "topic": mq.topic,
            "queueId": str(mq.queue_id),
            "bname": mq.broker_name,
            "setZeroIfNotFound": "false",
        }
        response = await self.invoke(addr, RequestCode.QUERY_CONSUMER_OFFSET, ext)
        if response.code != ResponseCode.SUCCESS:
            return None
        return int(response.ext_fields["offset"])

    async def topic_names(self, addr: str) -> set[str]:
        """Topics in the broker's topic table (GET_ALL_TOPIC_CONFIG, 21)."""
        response = await self._checked(addr, RequestCode.GET_ALL_TOPIC_CONFIG, {})
        raw = orjson.loads(response.body) if response.body else {}
        return set((raw.get("topicConfigTable") or {}).keys())

    async def pull_range(
        self, addr: str, mq: MessageQueue, start: int, end: int, group: str = PROBE_GROUP
    ) -> list[MessageExt]:
        """Every message of `mq` with start <= queue offset < end, as served by `addr`.

        Raises:
            ProbeError: the broker answered an error, or stopped short of `end`.
        """
        subscription = parse_subscription(mq.topic, "*")
        out: list[MessageExt] = []
        offset = start
        while offset < end:
            ext = pull_ext(
                group, mq, offset, 32, pull_sys_flag(False, False, True), 0, 0, subscription
            )
            response = await self.invoke(addr, RequestCode.PULL_MESSAGE, ext)
            try:
                result = parse_pull_response(response, subscription)
            except Exception as exc:
                raise ProbeError(f"pull of {mq} at {offset} from {addr} failed: {exc}") from exc
            if result.status is not PullStatus.FOUND or result.next_begin_offset <= offset:
                raise ProbeError(
                    f"pull of {mq} at {offset} from {addr}: {result.status.name}, "
                    f"next {result.next_begin_offset}, max {result.max_offset} (wanted {end})"
                )
            out.extend(m for m in result.messages if m.queue_offset < end)
            offset = result.next_begin_offset
        return out

    async def pull_all(self, addr: str, mq: MessageQueue) -> list[MessageExt]:
        """Every message of `mq` stored at `addr` (from offset 0 to its max offset)."""
        return await self.pull_range(addr, mq, 0, await self.max_offset(addr, mq))

    async def send_direct(
        self, addr: str, mq: MessageQueue, body: bytes, group: str = "PG_HA_PROBE"
    ) -> RemotingCommand:
        """A SEND_MESSAGE_V2 to exactly this broker (no retry); the raw answer."""
        command = single_request(group, mq, Message(mq.topic, body), create_uniq_id(), 4096)
        return await self._remoting.invoke(addr, command, self.timeout)


async def poll(
    check: Callable[[], Awaitable[bool]], timeout: float, message: Callable[[], str] | str
) -> None:
    """Await `check()` every 0.2 s until true; transport errors count as "not yet".

    Raises:
        AssertionError: not true within `timeout` seconds (with `message`).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return
        except (RemotingError, ProbeError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        await asyncio.sleep(0.2)


def holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A plain predicate as a check for `poll`."""

    async def check() -> bool:
        return predicate()

    return check


class Checks:
    """Soft assertions: a scenario goes on after a failed expectation so that one run tells
    every broken promise; `assert_all()` at the end fails with all of them."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, ok: bool, message: str) -> bool:
        if not ok:
            self.failures.append(message)
        return ok

    async def wait(
        self, check: Callable[[], Awaitable[bool]], timeout: float, message: Callable[[], str]
    ) -> bool:
        """`poll`, recording a timeout instead of raising it."""
        try:
            await poll(check, timeout, message)
        except AssertionError as exc:
            self.failures.append(str(exc))
            return False
        return True

    def assert_all(self) -> None:
        assert not self.failures, "\n".join(["broken promises:", *self.failures])

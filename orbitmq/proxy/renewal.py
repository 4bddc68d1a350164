"""Auto-renewal of push consumers' receipt handles (RocketMQ's proxy
DefaultReceiptHandleManager): while a listener works on a message, its invisible time is
extended, so a slow listener does not get the message delivered twice.

A push consumer receives with `auto_renew` and acks with the handle it was given; the
proxy keeps, per given handle, the latest one its renewals produced, and acks or nacks
with that. Renewal stops after MAX_RENEW_MS of work, and when the client goes away
(its messages then come back once their invisible time passes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orbitmq.broker.pop.receipt import ReceiptHandle
from orbitmq.proxy.convert import now_ms
from orbitmq.proxy.errors import ProxyError

log = logging.getLogger(__name__)

RENEW_AHEAD_MS = 10_000  # renew this long before the handle would expire
RENEW_STEP_MS = 60_000
MAX_RENEW_MS = 3 * 3600 * 1000
SCAN_SECONDS = 1.0

Renew = Callable[[str, str, str, ReceiptHandle, int], Awaitable[ReceiptHandle]]


@dataclass(slots=True)
class Renewed:
    client_id: str
    addr: str
    group: str
    topic: str
    latest: ReceiptHandle
    since_ms: int


class HandleRenewals:
    def __init__(self, renew: Renew) -> None:
        self._renew = renew  # (addr, group, topic, handle, invisible_ms) -> new handle
        self._handles: dict[str, Renewed] = {}
        self._task: asyncio.Task[None] | None = None

    def track(
        self, client_id: str, addr: str, group: str, topic: str, handle: ReceiptHandle
    ) -> None:
        self._handles[handle.encode()] = Renewed(client_id, addr, group, topic, handle, now_ms())
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._renew_loop())

    def take(self, given: str) -> str:
        """The handle to ack or nack with in place of `given`; renewal of it stops."""
        renewed = self._handles.pop(given, None)
        return renewed.latest.encode() if renewed is not None else given

    def forget_client(self, client_id: str) -> None:
        for key in [k for k, r in self._handles.items() if r.client_id == client_id]:
            del self._handles[key]

    async def aclose(self) -> None:
        self._handles.clear()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _renew_loop(self) -> None:
        while self._handles:
            await asyncio.sleep(SCAN_SECONDS)
            now = now_ms()
            for key, renewed in list(self._handles.items()):
                if renewed.latest.next_visible_time - now > RENEW_AHEAD_MS:
                    continue
                if now - renewed.since_ms > MAX_RENEW_MS:
                    del self._handles[key]  # consumed for too long: let it come back
                    continue
                try:
                    renewed.latest = await self._renew(
                        renewed.addr, renewed.group, renewed.topic, renewed.latest, RENEW_STEP_MS
                    )
                except ProxyError as exc:
                    # Acked or expired meanwhile: nothing left to renew.
                    log.debug("renewal of %s stopped: %s", key, exc)
                    self._handles.pop(key, None)

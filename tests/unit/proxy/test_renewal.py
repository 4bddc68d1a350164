"""Auto-renewal of push consumers' receipt handles (orbitmq/proxy/renewal.py)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from orbitmq.broker.pop.receipt import ReceiptHandle
from orbitmq.proxy import renewal
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.convert import now_ms
from orbitmq.proxy.errors import ProxyError


def handle(invisible_ms: int) -> ReceiptHandle:
    return ReceiptHandle(0, now_ms(), invisible_ms, 0, 0, "broker-a", 1, 5, 99)


async def test_a_handle_about_to_expire_is_renewed_and_acked_with_the_latest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(renewal, "SCAN_SECONDS", 0.01)
    calls: list[tuple[str, int]] = []

    async def renew(
        addr: str, group: str, topic: str, old: ReceiptHandle, ms: int
    ) -> ReceiptHandle:
        calls.append((addr, ms))
        return dataclasses.replace(old, pop_time=now_ms(), invisible_time=ms)

    renewals = renewal.HandleRenewals(renew)
    given = handle(5_000)  # inside RENEW_AHEAD_MS: renewed at the first scan
    renewals.track("c1", "127.0.0.1:10911", "G", "T", given)
    for _ in range(200):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert calls == [("127.0.0.1:10911", renewal.RENEW_STEP_MS)]
    latest = ReceiptHandle.decode(renewals.take(given.encode()))
    assert latest.invisible_time == renewal.RENEW_STEP_MS and latest.pop_time >= given.pop_time
    assert renewals.take(given.encode()) == given.encode()  # not tracked any more
    await renewals.aclose()


async def test_renewal_stops_for_a_gone_client_or_a_failed_renewal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(renewal, "SCAN_SECONDS", 0.01)

    async def renew(
        addr: str, group: str, topic: str, old: ReceiptHandle, ms: int
    ) -> ReceiptHandle:
        raise ProxyError(pb.INVALID_RECEIPT_HANDLE, "acked already")

    renewals = renewal.HandleRenewals(renew)
    gone, failing = handle(60_000), handle(1_000)
    renewals.track("gone", "a", "G", "T", gone)
    renewals.track("c2", "a", "G", "T", failing)
    renewals.forget_client("gone")
    assert renewals.take(gone.encode()) == gone.encode()
    await asyncio.sleep(0.1)
    assert renewals.take(failing.encode()) == failing.encode()
    await renewals.aclose()

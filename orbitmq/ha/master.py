"""The master side of replication (HAService / HAConnection / GroupTransferService).

    ha = HAService(store, HAConfig(listen_port=10912, sync_master=True))
    await ha.start()                          # listening on haListenPort
    code = await ha.wait_replicated(end)      # SUCCESS, SLAVE_NOT_AVAILABLE or
                                              # FLUSH_SLAVE_TIMEOUT (SYNC_MASTER sends)
    await ha.aclose()

Theory of operation: each slave connection is an `HAConnection` (asyncio.Protocol).
Its reader side decodes offset reports: the first is the slave's request offset, each
one its ack offset. Its writer task starts at the request offset (for an empty slave,
the start of the last segment), pushes up to `transfer_batch_size` bytes per frame as
long as the commit log has more, then waits for the next append (reput's pass, so no
polling) and sends a heartbeat frame after `heartbeat_interval_s` of silence.
`push2slave_max_offset` is the highest ack of any slave, and never goes down (as in
RocketMQ); SYNC_MASTER sends wait until it reaches their end offset.

Divergence: a slave must hold a prefix of this master's log. Reports beyond our max
offset, and a request offset that is not a record boundary here (CommitLog.
is_record_start: the record's magic and its own PHYSICALOFFSET field), mean the slave's
data came from elsewhere: the connection is logged and dropped, never fed. The check
costs a 16-byte read and needs no change to RocketMQ's wire format (a slave sends only
its offset); slaves always resume on a boundary (HAClient cuts a partial last record
first). It cannot tell apart two different logs that happen to be equally long, or
differ only before a shared boundary: only comparing content (not on this wire) could.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from orbitmq.errors import RemoteProtocolError
from orbitmq.ha.config import HAConfig
from orbitmq.ha.wire import OffsetReportDecoder, encode_transfer_header, transfer_start_offset
from orbitmq.protocol.codes import ResponseCode
from orbitmq.remoting.limits import RefusalLog
from orbitmq.store.message_store import MessageStore
from orbitmq.store.offset_waiters import OffsetWaiters

log = logging.getLogger(__name__)

REFUSAL_LOG_SECONDS = 10.0

# Longest single wait for an append, so housekeeping and heartbeats are never late.
_IDLE_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class SlaveConnectionInfo:
    address: str
    request_offset: int  # -1 until the slave's first report
    ack_offset: int  # its max offset, as last reported (-1 before any report)
    transfer_offset: int  # the next byte this master sends it


@dataclass(frozen=True, slots=True)
class HAStatistics:
    push2slave_max_offset: int  # highest ack offset any slave ever reported
    commit_log_max_offset: int
    slaves: tuple[SlaveConnectionInfo, ...]

    @property
    def connection_count(self) -> int:
        return len(self.slaves)

    @property
    def slave_fall_behind_bytes(self) -> int:
        """RocketMQ's slaveFallBehindMuch: how far the best slave ack trails our log."""
        return max(0, self.commit_log_max_offset - self.push2slave_max_offset)


class HAService:
    def __init__(self, store: MessageStore, config: HAConfig) -> None:
        self.store = store
        self.config = config
        self.push2slave_max_offset = 0
        self.connections: set[HAConnection] = set()
        self._server: asyncio.Server | None = None
        # SYNC_MASTER sends waiting for a slave's ack (callbacks, one expiry timer).
        self._waiters = OffsetWaiters(config.slave_timeout_s)
        self._last_refusal_log = float("-inf")
        # Whatever connects to haListenPort and says nothing sensible is logged once per
        # address, so that a scanner or random bytes cannot flood the log.
        self.refusals = RefusalLog("HA master")

    async def start(self) -> None:
        """Return once haListenPort is listening."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HAConnection(self),
            self.config.listen_host,
            self.config.listen_port,
            reuse_address=True,
        )
        log.info("HA service listening on %s:%d", self.config.listen_host, self.config.listen_port)

    @property
    def bound_port(self) -> int:
        """The port actually listened on (listen_port 0 picks a free one)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop listening, drop every slave, wait for the transfer tasks to end."""
        if self._server is not None:
            self._server.close()
        await asyncio.gather(*(c.aclose() for c in list(self.connections)))
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ SYNC_MASTER

    def is_slave_ok(self, end_offset: int) -> bool:
        """A slave is connected and within haSlaveFallbehindMax of `end_offset`."""
        acks = [c.ack_offset for c in self.connections if c.ack_offset >= 0]
        return bool(acks) and end_offset - max(acks) < self.config.slave_fallbehind_max

    def on_replicated(self, end_offset: int, callback: Callable[[ResponseCode], object]) -> None:
        """Call back once a slave has everything before `end_offset`.

        With SUCCESS; SLAVE_NOT_AVAILABLE at once when no slave is connected within
        haSlaveFallbehindMax; FLUSH_SLAVE_TIMEOUT after slaveTimeout. Both failures leave
        the message stored on the master.
        """
        if self.push2slave_max_offset >= end_offset:
            callback(ResponseCode.SUCCESS)
        elif not self.is_slave_ok(end_offset):
            self._log_refusal(ResponseCode.SLAVE_NOT_AVAILABLE, end_offset)
            callback(ResponseCode.SLAVE_NOT_AVAILABLE)
        else:

            def replicated(acked: bool) -> None:
                if not acked:
                    self._log_refusal(ResponseCode.FLUSH_SLAVE_TIMEOUT, end_offset)
                callback(ResponseCode.SUCCESS if acked else ResponseCode.FLUSH_SLAVE_TIMEOUT)

            self._waiters.add(end_offset, replicated)

    def _log_refusal(self, code: ResponseCode, end_offset: int) -> None:
        """Say why sends fail (clients only report "No route info" or a send status), at
        most every REFUSAL_LOG_SECONDS."""
        now = time.monotonic()
        if now - self._last_refusal_log < REFUSAL_LOG_SECONDS:
            return
        self._last_refusal_log = now
        acks = [c.ack_offset for c in self.connections if c.ack_offset >= 0]
        if code == ResponseCode.SLAVE_NOT_AVAILABLE:
            why = (
                f"no slave is connected and within haSlaveFallbehindMax "
                f"({self.config.slave_fallbehind_max} bytes) of offset {end_offset} "
                f"(slaves' acknowledged offsets: {acks or 'none'})"
            )
        else:
            why = f"no slave acknowledged offset {end_offset} within slaveTimeout"
        log.warning(
            "SYNC_MASTER answers sends %s: %s; those messages are stored on the master only",
            code.name,
            why,
        )

    async def wait_replicated(self, end_offset: int) -> ResponseCode:
        """`on_replicated` for a coroutine."""
        future: asyncio.Future[ResponseCode] = asyncio.get_running_loop().create_future()
        self.on_replicated(end_offset, future.set_result)
        return await future

    def _on_ack(self, ack_offset: int) -> None:
        if ack_offset <= self.push2slave_max_offset:
            return
        self.push2slave_max_offset = ack_offset
        self._waiters.advance(ack_offset)

    def _on_connection_lost(self, connection: HAConnection) -> None:
        self.connections.discard(connection)

    # ------------------------------------------------------------------ figures

    def statistics(self) -> HAStatistics:
        return HAStatistics(
            push2slave_max_offset=self.push2slave_max_offset,
            commit_log_max_offset=self.store.get_commit_log_max_offset(),
            slaves=tuple(c.info() for c in self.connections),
        )

    def runtime_info(self) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO entries (slaveFallBehindMuch as RocketMQ names it)."""
        stats = self.statistics()
        return {
            "slaveFallBehindMuch": str(stats.slave_fall_behind_bytes),
            "haConnectionCount": str(stats.connection_count),
            "push2SlaveMaxOffset": str(stats.push2slave_max_offset),
        }


class HAConnection(asyncio.Protocol):
    """One slave: reads its offset reports, pushes commit-log bytes to it."""

    def __init__(self, service: HAService) -> None:
        self._service = service
        self._decoder = OffsetReportDecoder()
        self._transport: asyncio.Transport | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.address = "?"
        self.request_offset = -1
        self.ack_offset = -1
        self.transfer_offset = -1
        self.last_read = 0.0

    def info(self) -> SlaveConnectionInfo:
        return SlaveConnectionInfo(
            self.address, self.request_offset, self.ack_offset, self.transfer_offset
        )

    # asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        self.address = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.host = str(peer[0]) if peer else "?"
        self.last_read = asyncio.get_running_loop().time()
        service = self._service
        if len(service.connections) >= service.config.max_connections:
            service.refusals.refused(
                "connection refused",
                self.host,
                time.monotonic(),
                f"the HA port has {len(service.connections)} connections (haMaxConnections)",
            )
            self._transport.abort()
            return
        service.connections.add(self)
        self._task = asyncio.create_task(self._transfer_loop(), name="ha_transfer_service")
        self._task.add_done_callback(self._on_task_done)
        log.info("slave %s connected", self.address)

    def data_received(self, data: bytes) -> None:
        self.last_read = asyncio.get_running_loop().time()
        try:
            offset = self._decoder.feed(data)
        except RemoteProtocolError as exc:
            self._refuse(f"bad offset report ({exc}); closing {self.address}")
            return
        if offset is not None:
            self._on_report(offset)

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()
        if self._task is None:
            return  # refused as it was made (already logged)
        self._service._on_connection_lost(self)
        self._task.cancel()
        log.info("slave %s disconnected (acked %d)", self.address, self.ack_offset)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _refuse(self, detail: str) -> None:
        self._service.refusals.refused(
            "slave refused", self.host, time.monotonic(), detail, level=logging.ERROR
        )
        self.close()

    # reports -------------------------------------------------------------------------

    def _on_report(self, offset: int) -> None:
        commit_log = self._service.store.commit_log
        max_offset = commit_log.max_offset
        if offset > max_offset:
            self._refuse(
                f"{self.address} reports offset {offset} beyond this master's max offset "
                f"{max_offset}: its commit log has data this master never had (diverged); "
                "dropping it"
            )
            return
        if self.request_offset < 0:
            problem = _request_problem(offset, commit_log.min_offset, commit_log.is_record_start)
            if problem is not None:
                self._refuse(
                    f"{self.address} asks for offset {offset}, {problem} (master holds "
                    f"{commit_log.min_offset}..{max_offset}); dropping it"
                )
                return
            self.request_offset = offset
            self._requested.set()
        self.ack_offset = offset
        self._service._on_ack(offset)

    # transfer ------------------------------------------------------------------------

    async def _transfer_loop(self) -> None:
        await self._requested.wait()
        service = self._service
        store = service.store
        config = service.config
        loop = asyncio.get_running_loop()
        offset = transfer_start_offset(
            self.request_offset, store.get_commit_log_max_offset(), store.commit_log.file_size
        )
        log.info("slave %s: transfer starts at %d", self.address, offset)
        last_write = loop.time()
        while True:
            now = loop.time()
            if now - self.last_read > config.housekeeping_interval_s:
                log.warning(
                    "slave %s sent nothing for %.0f s; closing", self.address, now - self.last_read
                )
                self.close()
                return
            if not self._writable.is_set():  # a slow or stopped slave: wait, then recheck
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._writable.wait(), _IDLE_CHECK_S)
                continue
            self.transfer_offset = offset
            data = store.commit_log.read_data(offset, config.transfer_batch_size)
            if data is None and offset < store.get_commit_log_min_offset():
                log.error(
                    "slave %s needs offset %d, already deleted here (log starts at %d); "
                    "dropping it",
                    self.address,
                    offset,
                    store.get_commit_log_min_offset(),
                )
                self.close()
                return
            if data:
                assert self._transport is not None
                self._transport.write(encode_transfer_header(offset, len(data)) + data)
                offset += len(data)
                last_write = loop.time()
                await asyncio.sleep(0)  # other slaves and sends get their turn
                continue
            if now - last_write >= config.heartbeat_interval_s:
                assert self._transport is not None
                self._transport.write(encode_transfer_header(offset, 0))
                last_write = now
            await store.wait_appended(offset, _IDLE_CHECK_S)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("HA transfer to %s failed", self.address, exc_info=task.exception())
            self.close()


def _request_problem(
    offset: int, min_offset: int, is_record_start: Callable[[int], bool]
) -> str | None:
    """Why a slave cannot resume at `offset` here (None if it can)."""
    if offset == 0:
        return None  # an empty slave: it gets the last segment
    if offset < min_offset:
        return "which this master has already deleted"
    if not is_record_start(offset):
        return (
            "which is not a record boundary in this master's commit log: the slave's data "
            "diverged from the master's"
        )
    return None

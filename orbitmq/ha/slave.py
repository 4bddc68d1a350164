"""The slave side of replication (HAService.HAClient).

    client = HAClient(store, HAConfig(master_address=""), lambda: registration.ha_server_addr)
    await client.start()       # connects in the background, reconnects every 5 s
    await client.aclose()

Theory of operation: one task keeps one connection to the master's HA address (the
fixed `haMasterAddress`, else what the NameServers said at registration). On connect it
settles its commit log's tail (a record cut by the last connection is dropped, so the
offset it reports is a record boundary the master can check) and reports that offset.
`ReplicaProtocol` then appends every frame's body at exactly the frame's offset and
reports the new max offset after each batch of frames; the task adds a report every
`heartbeat_interval_s` and closes a connection silent for `housekeeping_interval_s`.
A frame for any other offset than our max means the two logs disagree: logged, and
the connection is dropped (the next one starts from a settled offset again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from orbitmq.errors import RemoteProtocolError
from orbitmq.ha.config import HAConfig
from orbitmq.ha.wire import TransferFrame, TransferFrameDecoder, encode_offset_report
from orbitmq.store.errors import StoreError
from orbitmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 3.0


class ReplicaDivergedError(RemoteProtocolError):
    """The master sent bytes for another offset than the end of our commit log."""


def apply_frame(store: MessageStore, frame: TransferFrame) -> None:
    """Store one transfer frame's body in a slave's commit log.

    Raises:
        ReplicaDivergedError: the frame is not for our max offset (and we are not empty).
        StoreError: the commit log refused the bytes (disk full, segment rules).
    """
    max_offset = store.get_commit_log_max_offset()
    if max_offset != 0 and frame.offset != max_offset:
        raise ReplicaDivergedError(
            f"master sent offset {frame.offset} but this slave's commit log ends at "
            f"{max_offset}: the two logs diverged"
        )
    if frame.body:
        store.append_replicated(frame.offset, frame.body)


class ReplicaProtocol(asyncio.Protocol):
    """One connection to the master: frames in, offset reports out."""

    def __init__(self, store: MessageStore, master_address: str) -> None:
        self._store = store
        self.master_address = master_address
        self._decoder = TransferFrameDecoder()
        self._transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.last_read = 0.0
        self.last_write = 0.0
        self.reported_offset = -1
        self.closed_here = False  # we closed it (divergence, error), not the master

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.last_read = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        self.last_read = asyncio.get_running_loop().time()
        self._decoder.feed(data)
        try:
            while (frame := self._decoder.next_frame()) is not None:
                apply_frame(self._store, frame)
                self.frames += 1
        except ReplicaDivergedError as exc:
            log.error("replication from %s: %s; reconnecting", self.master_address, exc)
            self.close()
            return
        except (RemoteProtocolError, StoreError) as exc:
            log.error("replication from %s failed: %s; reconnecting", self.master_address, exc)
            self.close()
            return
        if self._store.get_commit_log_max_offset() > self.reported_offset:
            self.report()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def report(self, offset: int | None = None) -> None:
        """Tell the master our max offset (the next byte we need)."""
        if self._transport is None or self._transport.is_closing():
            return
        if offset is None:
            offset = self._store.get_commit_log_max_offset()
        self._transport.write(encode_offset_report(offset))
        self.reported_offset = offset
        self.last_write = asyncio.get_running_loop().time()

    def close(self) -> None:
        self.closed_here = True
        if self._transport is not None:
            self._transport.close()


@dataclass(frozen=True, slots=True)
class HAClientStatistics:
    master_address: str | None  # where we connect (None: not known yet)
    connected: bool
    max_offset: int  # our commit log's max offset
    reported_offset: int  # what the master last heard from us (-1: nothing yet)


class HAClient:
    """Args:
    store: the slave's message store.
    config: replication settings; `master_address` there wins if set.
    master_address: the master's HA address as learned from the NameServers (or None).
    """

    def __init__(
        self,
        store: MessageStore,
        config: HAConfig,
        master_address: Callable[[], str | None],
    ) -> None:
        self.store = store
        self.config = config
        self._learned_address = master_address
        self._protocol: ReplicaProtocol | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def master_address(self) -> str | None:
        # RocketMQ uses haMasterAddress only when it looks like an address (>= 6 chars).
        if len(self.config.master_address) >= 6:
            return self.config.master_address
        return self._learned_address()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._replication_service(), name="ha_client_service")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def statistics(self) -> HAClientStatistics:
        protocol = self._protocol
        return HAClientStatistics(
            master_address=self.master_address,
            connected=protocol is not None and not protocol.closed.done(),
            max_offset=self.store.get_commit_log_max_offset(),
            reported_offset=protocol.reported_offset if protocol is not None else -1,
        )

    async def _replication_service(self) -> None:
        while True:
            address = self.master_address
            if address is None:
                log.debug("no master HA address known yet")
            else:
                try:
                    await self._replicate_from(address)
                except (OSError, TimeoutError, ValueError) as exc:
                    log.warning("cannot connect to master HA address %s: %s", address, exc)
            await asyncio.sleep(self.config.reconnect_interval_s)

    async def _replicate_from(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"HA address {address!r} is not host:port")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(_CONNECT_TIMEOUT_S):
            transport, protocol = await loop.create_connection(
                lambda: ReplicaProtocol(self.store, address), host, int(port)
            )
        self._protocol = protocol
        try:
            offset = self.store.replication_resume_offset()
            log.info("connected to master %s; replicating from offset %d", address, offset)
            protocol.report(offset)
            await self._keep_alive(protocol)
        finally:
            closed_by_master = protocol.closed.done() and not protocol.closed_here
            transport.close()
        if closed_by_master and protocol.frames == 0:
            log.warning(
                "master %s closed the connection before sending anything: it refused our "
                "offset %d (see its log: our commit log may have diverged from it)",
                address,
                protocol.reported_offset,
            )
        else:
            log.info("connection to master %s closed", address)

    async def _keep_alive(self, protocol: ReplicaProtocol) -> None:
        """Report every heartbeat interval; give up on a master silent too long."""
        config = self.config
        loop = asyncio.get_running_loop()
        while not protocol.closed.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.closed), config.heartbeat_interval_s)
            now = loop.time()
            if now - protocol.last_read > config.housekeeping_interval_s:
                log.warning(
                    "master %s sent nothing for %.0f s; reconnecting",
                    protocol.master_address,
                    now - protocol.last_read,
                )
                return
            if now - protocol.last_write >= config.heartbeat_interval_s:
                protocol.report()

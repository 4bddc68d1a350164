"""Oneway remoting frames from one DLedger member to one peer (node.py's links)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.errors import RemotingError

log = logging.getLogger(__name__)

# A peer that stops reading (SIGSTOP) must not make us buffer without limit.
MAX_PEER_WRITE_BUFFER = 64 << 20
# Frames kept while a connection is being made; more are dropped (Raft resends).
MAX_QUEUED = 4096


class PeerLink:
    """Oneway frames to one peer: straight onto an open connection, else queued while a
    task connects. Frames queued for a peer that cannot be reached are dropped."""

    def __init__(self, address: str, client: RemotingClient) -> None:
        self.address = address
        self._client = client
        self._connection: RemotingConnection | None = None
        self._queued: list[RemotingCommand] = []
        self._task: asyncio.Task[None] | None = None
        self.last_heard = time.monotonic()  # when the peer's last message arrived
        self.last_sent = 0.0
        self.redialed = time.monotonic()

    def redial_if_silent(self, now: float, silence: float) -> None:
        """Drop a connection we keep sending on while the peer has said nothing for
        `silence` seconds.

        After a partition heals, TCP retransmits what it sent into the cut only after
        an exponential back-off (up to two minutes); a fresh connection is heard at once.
        """
        connection = self._connection
        if (
            connection is not None
            and connection.is_open
            and now - self.last_heard > silence
            and self.last_sent - self.last_heard > silence
            and now - self.redialed > silence
        ):
            self.redialed = now
            log.info(
                "dledger peer %s silent for %.1f s: reconnecting",
                self.address,
                now - self.last_heard,
            )
            self._client.close_connection(self.address)
            self._connection = None

    def send(self, command: RemotingCommand) -> None:
        self.last_sent = time.monotonic()
        connection = self._connection
        if connection is not None and connection.is_open:
            if connection.write_buffer_size() <= MAX_PEER_WRITE_BUFFER:
                connection.invoke_oneway(command)
            return
        if len(self._queued) < MAX_QUEUED:
            self._queued.append(command)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._connect(), name=f"dledger_link_{self.address}")

    async def _connect(self) -> None:
        try:
            self._connection = await self._client.get_connection(self.address)
        except (RemotingError, OSError) as exc:
            log.debug("dledger peer %s unreachable: %s", self.address, exc)
            self._queued.clear()
            await asyncio.sleep(0.05)
            return
        queued, self._queued = self._queued, []
        for command in queued:
            self._connection.invoke_oneway(command)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

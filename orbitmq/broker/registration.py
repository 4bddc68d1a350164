"""Registration with every NameServer: at start, every `registerNameServerPeriod`, and
soon after topic changes (BrokerOuterAPI.registerBrokerAll).

A registration carries the whole topic table, except right after topic changes: then a
NameServer known to hold everything up to the previous version gets only the changed
topics (registerIncrementBrokerData in Java), so creating N topics one by one costs
O(N), not O(N^2). "Known to hold" means our last registration with it succeeded, over
the connection still open (a NameServer that restarted or dropped us has closed it),
less than SYNC_TRUST_SECONDS ago (well inside its 120 s expiry), with the same
identity and permission. Anything else gets the whole table, which rounds run under a
lock one at a time (Java's registerBrokerAll is synchronized).

A slave learns its master's address (for replication and metadata sync) from the answer
to its registration. One that registered before its master got none and, in Java, asks
again only a whole period later (30 s by default): meanwhile nothing is replicated, and a
SYNC_MASTER answers every send SLAVE_NOT_AVAILABLE, which the C++ client reports as "No
route info of this topic" although the route is complete. So until an answer names a
master, a slave registers again every MASTERLESS_REGISTER_SECONDS, says why, and
replicates as soon as one is named.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from orbitmq.broker.topic_config import TopicChanges
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.perm import is_readable, is_writeable
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import dial_context

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

# Topic changes are batched for this long before re-registering.
REGISTER_DEBOUNCE_SECONDS = 0.05
SYNC_TRUST_SECONDS = 60.0
MASTERLESS_REGISTER_SECONDS = 1.0


def register_body(wrapper: dict[str, Any], broker_permission: int) -> bytes:
    """RegisterBrokerBody JSON around a TopicConfigSerializeWrapper (`wrapper()`)."""
    if not is_readable(broker_permission) or not is_writeable(broker_permission):
        # registerBrokerAll: a read- or write-disabled broker registers every topic so.
        for topic_config in wrapper["topicConfigTable"].values():
            topic_config["perm"] = broker_permission
    return orjson.dumps({"filterServerList": [], "topicConfigSerializeWrapper": wrapper})


@dataclass(frozen=True, slots=True)
class Synced:
    """What one NameServer holds from us after a successful registration."""

    connection: RemotingConnection
    identity: tuple[str, ...]  # header fields and permission the registration carried
    version: tuple[int, int]  # the DataVersion key it carried
    at: float  # monotonic time it was answered

    def takes_increment(
        self, connection: RemotingConnection, identity: tuple[str, ...], changes: TopicChanges
    ) -> bool:
        return (
            bool(changes.topics)
            and connection is self.connection
            and connection.is_open
            and identity == self.identity
            and changes.base == self.version
            and time.monotonic() - self.at < SYNC_TRUST_SECONDS
        )


class BrokerRegistration:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._client = RemotingClient(tls=dial_context(broker.config.tls))
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._synced: dict[str, Synced] = {}  # NameServer address -> what it holds
        self.master_addr: str | None = None
        self.ha_server_addr: str | None = None  # the master's HA address (for slaves)
        self._masterless_warned = False

    @property
    def awaits_master(self) -> bool:
        """A slave that no registration answer has named a master to yet."""
        return not self._broker.config.is_master and self.master_addr is None

    def request_register(self) -> None:
        self._wake.set()

    def _header(self) -> dict[str, str]:
        config = self._broker.config
        return {
            "brokerName": config.broker_name,
            "brokerAddr": config.broker_addr,
            "clusterName": config.broker_cluster_name,
            "brokerId": str(config.broker_id),
        }

    async def register_all(self) -> None:
        config = self._broker.config
        if config.broker_id < 0:
            return  # DLedger mode before its first role change: not yet leader or follower
        async with self._lock:
            addresses = config.namesrv_addresses
            connections = await asyncio.gather(*(self._connect(a) for a in addresses))
            # From here to the sends nothing awaits: the bodies match `changes` exactly.
            changes = self._broker.topic_config_manager.take_changes()
            ext = {**self._header(), "haServerAddr": config.ha_server_addr}
            identity = (*ext.values(), str(config.broker_permission))
            bodies: dict[bool, bytes] = {}  # built once each: increment or whole table
            sends = []
            for address, connection in zip(addresses, connections, strict=True):
                synced = self._synced.pop(address, None)  # until it answers: unknown
                if connection is None:
                    continue
                increment = synced is not None and synced.takes_increment(
                    connection, identity, changes
                )
                if increment not in bodies:
                    bodies[increment] = self._body(changes if increment else None)
                body = bodies[increment]
                sends.append(self._register_one(address, connection, ext, body, identity, changes))
            await asyncio.gather(*sends)

    def _body(self, changes: TopicChanges | None) -> bytes:
        topics = self._broker.topic_config_manager
        wrapper = topics.wrapper(changes.topics if changes is not None else None)
        return register_body(wrapper, self._broker.config.broker_permission)

    async def _connect(self, address: str) -> RemotingConnection | None:
        try:
            return await self._client.get_connection(address)
        except RemotingError as exc:
            log.warning("register to name server %s failed: %s", address, exc)
            return None

    async def _register_one(
        self,
        address: str,
        connection: RemotingConnection,
        ext: dict[str, str],
        body: bytes,
        identity: tuple[str, ...],
        changes: TopicChanges,
    ) -> None:
        fields = {**ext, "compressed": "false", "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF)}
        request = RemotingCommand.request(RequestCode.REGISTER_BROKER, fields, body)
        timeout = self._broker.config.register_broker_timeout_mills / 1000
        try:
            response = await connection.invoke(request, timeout)
        except RemotingError as exc:
            log.warning("register to name server %s failed: %s", address, exc)
            return
        if response.code != ResponseCode.SUCCESS:
            log.warning("name server %s refused registration: %s", address, response.remark)
            return
        self._synced[address] = Synced(connection, identity, changes.head, time.monotonic())
        master = response.ext_fields.get("masterAddr")
        ha_server = response.ext_fields.get("haServerAddr")
        if ha_server:
            self.ha_server_addr = ha_server
        if master:
            if self.master_addr is None and self._masterless_warned:
                log.info("name server %s names master %s (HA %s)", address, master, ha_server)
            self.master_addr = master
        elif self.awaits_master and not self._masterless_warned:
            self._masterless_warned = True
            log.warning(
                "name server %s knows no master of %s yet: nothing is replicated (a "
                "SYNC_MASTER refuses sends with SLAVE_NOT_AVAILABLE) until one registers; "
                "registering again every %.0f s",
                address,
                ext["brokerName"],
                MASTERLESS_REGISTER_SECONDS,
            )

    async def registration_service(self) -> None:
        """Periodic and on-demand registration; the first one is done by start()."""
        period = self._broker.config.register_name_server_period / 1000
        period = min(max(period, 10.0), 60.0)
        while True:
            wait = MASTERLESS_REGISTER_SECONDS if self.awaits_master else period
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
                await asyncio.sleep(REGISTER_DEBOUNCE_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            masterless = self.awaits_master
            try:
                await self.register_all()
                if masterless and not self.awaits_master:
                    await self._replicate_now()
            except Exception:
                log.exception("broker registration failed")

    async def _replicate_now(self) -> None:
        """A master was just learned. The HA client looks for an unknown master only every
        few seconds: start it over so that it connects now. (This service runs only
        after the broker has started the client; one connected to a fixed haMasterAddress
        is left alone.)"""
        ha_client = self._broker.ha_client
        if ha_client is not None and not ha_client.statistics().connected:
            await ha_client.aclose()
            await ha_client.start()

    async def unregister_all(self) -> None:
        if self._broker.config.broker_id < 0:
            return
        request_ext = self._header()
        self._synced.clear()
        for address in self._broker.config.namesrv_addresses:
            try:
                await self._client.invoke(
                    address,
                    RemotingCommand.request(RequestCode.UNREGISTER_BROKER, dict(request_ext)),
                    3.0,
                )
            except RemotingError as exc:
                log.warning("unregister from name server %s failed: %s", address, exc)

    async def aclose(self) -> None:
        await self._client.aclose()

"""Registration with every NameServer: at start, every `registerNameServerPeriod`, and
soon after topic changes (BrokerOuterAPI.registerBrokerAll)."""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import TYPE_CHECKING

import orjson

from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.perm import is_readable, is_writeable
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

# Topic changes are batched for this long before re-registering.
REGISTER_DEBOUNCE_SECONDS = 0.05


class BrokerRegistration:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._client = RemotingClient()
        self._wake = asyncio.Event()
        self.master_addr: str | None = None
        self.ha_server_addr: str | None = None  # the master's HA address (for slaves)

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
        wrapper = self._broker.topic_config_manager.wrapper()
        if not is_readable(config.broker_permission) or not is_writeable(config.broker_permission):
            # registerBrokerAll: a read- or write-disabled broker registers every topic so.
            for topic_config in wrapper["topicConfigTable"].values():
                topic_config["perm"] = config.broker_permission
        body = orjson.dumps({"filterServerList": [], "topicConfigSerializeWrapper": wrapper})
        ext = {
            **self._header(),
            "haServerAddr": config.ha_server_addr,
            "compressed": "false",
            "bodyCrc32": str(zlib.crc32(body) & 0x7FFFFFFF),
        }
        timeout = config.register_broker_timeout_mills / 1000
        await asyncio.gather(
            *(self._register_one(addr, ext, body, timeout) for addr in config.namesrv_addresses)
        )

    async def _register_one(
        self, address: str, ext: dict[str, str], body: bytes, timeout: float
    ) -> None:
        request = RemotingCommand.request(RequestCode.REGISTER_BROKER, dict(ext), body)
        try:
            response = await self._client.invoke(address, request, timeout)
        except RemotingError as exc:
            log.warning("register to name server %s failed: %s", address, exc)
            return
        if response.code != ResponseCode.SUCCESS:
            log.warning("name server %s refused registration: %s", address, response.remark)
            return
        master = response.ext_fields.get("masterAddr")
        if master:
            self.master_addr = master
        ha_server = response.ext_fields.get("haServerAddr")
        if ha_server:
            self.ha_server_addr = ha_server

    async def registration_service(self) -> None:
        """Periodic and on-demand registration; the first one is done by start()."""
        period = self._broker.config.register_name_server_period / 1000
        period = min(max(period, 10.0), 60.0)
        while True:
            try:
                async with asyncio.timeout(period):
                    await self._wake.wait()
                await asyncio.sleep(REGISTER_DEBOUNCE_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.register_all()
            except Exception:
                log.exception("broker registration failed")

    async def unregister_all(self) -> None:
        if self._broker.config.broker_id < 0:
            return
        request_ext = self._header()
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

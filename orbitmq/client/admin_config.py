"""The configuration and NameServer half of MQAdmin (DefaultMQAdminExtImpl).

`AdminConfigMixin` is a base class of `MQAdmin`; its methods use MQAdmin's `invoke`.
NameServer requests go to every NameServer of `-n` (as Java's admin does for KV configs
and topic deletion), or to the one named; broker requests take the broker's address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import javaproperties

from orbitmq.protocol.codes import RequestCode

if TYPE_CHECKING:
    from orbitmq.client.route_cache import RouteCache
    from orbitmq.protocol.command import RemotingCommand


class AdminConfigMixin:
    """Broker and NameServer configuration, KV configs and broker write permission."""

    if TYPE_CHECKING:
        _routes: RouteCache

        async def invoke(
            self,
            addr: str,
            code: int,
            ext: dict[str, str] | None = None,
            body: bytes = b"",
            timeout: float | None = None,
        ) -> RemotingCommand: ...

    @property
    def namesrv_addrs(self) -> list[str]:
        """The NameServers of `-n`, in order."""
        return list(self._routes.namesrv_addrs)

    async def delete_topic_in_namesrv(self, topic: str, cluster: str | None = None) -> None:
        """DELETE_TOPIC_IN_NAMESRV (216) on every NameServer."""
        ext = {"topic": topic, **({"clusterName": cluster} if cluster else {})}
        for addr in self.namesrv_addrs:
            await self.invoke(addr, RequestCode.DELETE_TOPIC_IN_NAMESRV, ext)

    # Broker maintenance ----------------------------------------------------------------
    async def get_broker_config(self, broker_addr: str) -> dict[str, str]:
        """GET_BROKER_CONFIG (26), in the broker's order."""
        response = await self.invoke(broker_addr, RequestCode.GET_BROKER_CONFIG)
        return dict(javaproperties.loads(response.body.decode("utf-8", "replace")))

    async def update_broker_config(
        self, broker_addr: str, properties: dict[str, str]
    ) -> str | None:
        """UPDATE_BROKER_CONFIG (25); returns the broker's remark (e.g. restart notes)."""
        body = javaproperties.dumps(properties, timestamp=False).encode()
        response = await self.invoke(broker_addr, RequestCode.UPDATE_BROKER_CONFIG, body=body)
        return response.remark or None

    async def clean_expired_consume_queue(self, broker_addr: str) -> None:
        await self.invoke(broker_addr, RequestCode.CLEAN_EXPIRED_CONSUMEQUEUE)

    async def clean_unused_topic(self, broker_addr: str) -> None:
        await self.invoke(broker_addr, RequestCode.CLEAN_UNUSED_TOPIC)

    # NameServers -----------------------------------------------------------------------
    async def wipe_write_perm_of_broker(self, namesrv_addr: str, broker_name: str) -> int:
        """WIPE_WRITE_PERM_OF_BROKER (205) on one NameServer: topics changed."""
        response = await self.invoke(
            namesrv_addr, RequestCode.WIPE_WRITE_PERM_OF_BROKER, {"brokerName": broker_name}
        )
        return int(response.ext_fields.get("wipeTopicCount") or 0)

    async def add_write_perm_of_broker(self, namesrv_addr: str, broker_name: str) -> int:
        """ADD_WRITE_PERM_OF_BROKER (327) on one NameServer: topics changed."""
        response = await self.invoke(
            namesrv_addr, RequestCode.ADD_WRITE_PERM_OF_BROKER, {"brokerName": broker_name}
        )
        return int(response.ext_fields.get("addTopicCount") or 0)

    async def put_kv_config(self, namespace: str, key: str, value: str) -> None:
        """PUT_KV_CONFIG (100) on every NameServer."""
        ext = {"namespace": namespace, "key": key, "value": value}
        for addr in self.namesrv_addrs:
            await self.invoke(addr, RequestCode.PUT_KV_CONFIG, ext)

    async def delete_kv_config(self, namespace: str, key: str) -> None:
        """DELETE_KV_CONFIG (102) on every NameServer."""
        for addr in self.namesrv_addrs:
            await self.invoke(
                addr, RequestCode.DELETE_KV_CONFIG, {"namespace": namespace, "key": key}
            )

    async def get_namesrv_config(
        self, addrs: Iterable[str] | None = None
    ) -> dict[str, dict[str, str]]:
        """GET_NAMESRV_CONFIG (319) of each NameServer (default: all of `-n`)."""
        result = {}
        for addr in addrs or self.namesrv_addrs:
            response = await self.invoke(addr, RequestCode.GET_NAMESRV_CONFIG)
            result[addr] = dict(javaproperties.loads(response.body.decode("utf-8", "replace")))
        return result

    async def update_namesrv_config(
        self, properties: dict[str, str], addrs: Iterable[str] | None = None
    ) -> None:
        """UPDATE_NAMESRV_CONFIG (318) on each NameServer (default: all of `-n`)."""
        body = javaproperties.dumps(properties, timestamp=False).encode()
        for addr in addrs or self.namesrv_addrs:
            await self.invoke(addr, RequestCode.UPDATE_NAMESRV_CONFIG, body=body)

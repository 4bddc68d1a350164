"""Request handlers of the NameServer (namesrv/processor/DefaultRequestProcessor.java).

Each handler is a plain `def`: the route table and KV store are in memory, so answering
never waits, and a synchronous handler is answered without a task switch. Errors are
raised as typed `NamesrvError`s and turned into responses by the dispatcher. Every
response carries `extFields` (possibly `{}`) with string values (remoting-protocol.md §1.4).
"""

from __future__ import annotations

import itertools
import logging
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import javaproperties

from orbitmq.namesrv import codec
from orbitmq.namesrv.config import NamesrvConfig, apply_properties, to_properties
from orbitmq.namesrv.errors import (
    BodyDecodeError,
    ConfigBlacklistedError,
    Crc32MismatchError,
    KvConfigNotFoundError,
    TopicRouteNotFoundError,
)
from orbitmq.namesrv.fields import optional_int, require, require_int
from orbitmq.namesrv.kv_config import NAMESPACE_ORDER_TOPIC_CONFIG, KvConfigManager
from orbitmq.namesrv.route_data import MASTER_ID, BrokerData, RegisterBrokerBody
from orbitmq.namesrv.route_table import RouteTable
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand, parse_bool

if TYPE_CHECKING:
    from orbitmq.remoting.connection import RemotingConnection
    from orbitmq.remoting.dispatch import Handler, RequestDispatcher

log = logging.getLogger(__name__)

CONNECTION_KEY_ATTRIBUTE = "namesrv.connection_key"
_connection_keys = itertools.count(1)


def connection_key(connection: RemotingConnection) -> int:
    """A stable key for the connection; the route table remembers it per broker address."""
    key: int = connection.attributes.setdefault(CONNECTION_KEY_ATTRIBUTE, next(_connection_keys))
    return key


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class NamesrvHandlers:
    """Args:
    route_table: the routing state the handlers read and change.
    kv_config: the KV store (ORDER_TOPIC_CONFIG and operator keys).
    config: live configuration (orderMessageEnable, UPDATE_NAMESRV_CONFIG).
    clock: wall-clock milliseconds, injectable so tests control broker liveness.
    """

    def __init__(
        self,
        route_table: RouteTable,
        kv_config: KvConfigManager,
        config: NamesrvConfig,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.route_table = route_table
        self.kv_config = kv_config
        self.config = config
        self._clock = clock

    def register(self, dispatcher: RequestDispatcher) -> None:
        table: dict[int, Handler] = {
            RequestCode.PUT_KV_CONFIG: self.put_kv_config,
            RequestCode.GET_KV_CONFIG: self.get_kv_config,
            RequestCode.DELETE_KV_CONFIG: self.delete_kv_config,
            RequestCode.GET_KVLIST_BY_NAMESPACE: self.get_kvlist_by_namespace,
            RequestCode.REGISTER_BROKER: self.register_broker,
            RequestCode.UNREGISTER_BROKER: self.unregister_broker,
            RequestCode.QUERY_DATA_VERSION: self.query_data_version,
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self.get_route_info_by_topic,
            RequestCode.GET_BROKER_CLUSTER_INFO: self.get_broker_cluster_info,
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self.get_all_topic_list,
            RequestCode.GET_TOPICS_BY_CLUSTER: self.get_topics_by_cluster,
            RequestCode.DELETE_TOPIC_IN_NAMESRV: self.delete_topic_in_namesrv,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER: self.wipe_write_perm_of_broker,
            RequestCode.ADD_WRITE_PERM_OF_BROKER: self.add_write_perm_of_broker,
            RequestCode.UPDATE_NAMESRV_CONFIG: self.update_namesrv_config,
            RequestCode.GET_NAMESRV_CONFIG: self.get_namesrv_config,
        }
        for code, handler in table.items():
            dispatcher.register(code, handler)

    # brokers ----------------------------------------------------------------------------
    def register_broker(
        self, connection: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        broker_name = require(req, "brokerName")
        broker_addr = require(req, "brokerAddr")
        cluster = require(req, "clusterName")
        ha_server_addr = require(req, "haServerAddr")
        broker_id = require_int(req, "brokerId")
        crc = optional_int(req, "bodyCrc32")
        if crc != 0 and crc != zlib.crc32(req.body) & 0x7FFFFFFF:
            raise Crc32MismatchError()
        try:
            view = codec.open_register_body(
                req.body, parse_bool(req.ext_fields.get("compressed")), req.version
            )
            # Most registrations repeat a known DataVersion: their topics go unread.
            wanted = self.route_table.wants_topic_configs(
                broker_addr, broker_name, broker_id, view.data_version
            )
            configs = view.topic_configs() if wanted else {}
        except BodyDecodeError as exc:
            raise BodyDecodeError(f"Failed to decode RegisterBrokerBody: {exc}") from exc
        body = RegisterBrokerBody(view.data_version, configs)
        known = self.route_table.broker_addr(broker_name, broker_id) == broker_addr
        result = self.route_table.register_broker(
            cluster,
            broker_addr,
            broker_name,
            broker_id,
            ha_server_addr,
            body,
            self._clock(),
            connection_key(connection),
        )
        if not known:
            _log_new_broker(cluster, broker_name, broker_id, broker_addr, result.master_addr)
        ext: dict[str, str] = {}
        if result.master_addr is not None:
            ext["masterAddr"] = result.master_addr
        if result.ha_server_addr is not None:
            ext["haServerAddr"] = result.ha_server_addr
        order_conf = self.kv_config.get_namespace(NAMESPACE_ORDER_TOPIC_CONFIG)
        body_out = codec.encode_kv_table(order_conf) if order_conf else b""
        return req.response(ext_fields=ext, body=body_out)

    def unregister_broker(self, _conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        self.route_table.unregister_broker(
            require(req, "clusterName"),
            require(req, "brokerAddr"),
            require(req, "brokerName"),
            require_int(req, "brokerId"),
        )
        return req.response()

    def query_data_version(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        for name in ("brokerName", "clusterName"):
            require(req, name)
        require_int(req, "brokerId")
        broker_addr = require(req, "brokerAddr")
        version = codec.decode_data_version(req.body)
        changed = self.route_table.is_broker_topic_config_changed(broker_addr, version)
        if not changed:
            self.route_table.touch_broker(broker_addr, self._clock())
        stored = self.route_table.query_broker_data_version(broker_addr)
        body = codec.encode_data_version(stored) if stored is not None else b""
        return req.response(ext_fields={"changed": "true" if changed else "false"}, body=body)

    # routes -----------------------------------------------------------------------------
    def get_route_info_by_topic(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        topic = require(req, "topic")
        order_conf = None
        if self.config.order_message_enable:
            order_conf = self.kv_config.get(NAMESPACE_ORDER_TOPIC_CONFIG, topic)
        body = self.route_table.topic_route_json(topic, order_conf)
        if body is None:
            raise TopicRouteNotFoundError(topic)
        for broker_data in self.route_table.take_masterless_sets(topic):
            log.warning(
                "route of topic %s: broker set %s has no master (only %s), so producers "
                "have no address for its queues until a master registers",
                topic,
                broker_data.broker_name,
                _addresses(broker_data),
            )
        return req.response(body=body)

    def get_broker_cluster_info(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return req.response(body=codec.encode_cluster_info(self.route_table.cluster_info()))

    def get_all_topic_list(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        return req.response(body=codec.encode_topic_list(self.route_table.all_topics()))

    def get_topics_by_cluster(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        topics = self.route_table.topics_by_cluster(require(req, "cluster"))
        return req.response(body=codec.encode_topic_list(topics))

    def delete_topic_in_namesrv(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        self.route_table.delete_topic(require(req, "topic"), req.ext_fields.get("clusterName"))
        return req.response()

    def wipe_write_perm_of_broker(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        count = self.route_table.wipe_write_perm(require(req, "brokerName"))
        return req.response(ext_fields={"wipeTopicCount": str(count)})

    def add_write_perm_of_broker(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        count = self.route_table.add_write_perm(require(req, "brokerName"))
        return req.response(ext_fields={"addTopicCount": str(count)})

    # KV config --------------------------------------------------------------------------
    def put_kv_config(self, _conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        namespace, key = require(req, "namespace"), require(req, "key")
        self.kv_config.put(namespace, key, require(req, "value"))
        return req.response()

    def get_kv_config(self, _conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        namespace, key = require(req, "namespace"), require(req, "key")
        value = self.kv_config.get(namespace, key)
        if value is None:
            raise KvConfigNotFoundError(namespace, key)
        return req.response(ext_fields={"value": value})

    def delete_kv_config(self, _conn: RemotingConnection, req: RemotingCommand) -> RemotingCommand:
        self.kv_config.delete(require(req, "namespace"), require(req, "key"))
        return req.response()

    def get_kvlist_by_namespace(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        namespace = require(req, "namespace")
        table = self.kv_config.get_namespace(namespace)
        if table is None:
            raise KvConfigNotFoundError(namespace)
        return req.response(body=codec.encode_kv_table(table))

    # namesrv config ---------------------------------------------------------------------
    def get_namesrv_config(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        # MixAll.properties2String: one unescaped `key=value` line per key.
        text = "".join(f"{k}={v}\n" for k, v in to_properties(self.config).items())
        return req.response(body=text.encode())

    def update_namesrv_config(
        self, _conn: RemotingConnection, req: RemotingCommand
    ) -> RemotingCommand:
        try:
            props = javaproperties.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BodyDecodeError(f"string2Properties error: {exc}") from exc
        blacklist = {k.strip() for k in self.config.config_black_list.split(";") if k.strip()}
        locked = sorted(blacklist.intersection(props))
        if locked:
            raise ConfigBlacklistedError(locked)
        apply_properties(self.config, props)
        return req.response()


def _addresses(broker_data: BrokerData) -> str:
    return ", ".join(f"id {i} {a}" for i, a in sorted(broker_data.broker_addrs.items()))


def _log_new_broker(
    cluster: str, broker_name: str, broker_id: int, broker_addr: str, master_addr: str | None
) -> None:
    """An address's first registration (Java: "new broker registered"). A slave that
    comes before its master gets no master address back: it cannot replicate until a
    later registration of its own names one."""
    if broker_id == MASTER_ID or master_addr is not None:
        log.info(
            "new broker registered: %s/%s id %d %s", cluster, broker_name, broker_id, broker_addr
        )
    else:
        log.warning(
            "new broker registered: %s/%s id %d %s, but no master of %s is registered: "
            "the slave learns its master only from a later registration",
            cluster,
            broker_name,
            broker_id,
            broker_addr,
            broker_name,
        )

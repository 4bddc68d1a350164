"""The proxy's settings, from RocketMQ's `rmq-proxy.json` keys (ProxyConfig.java)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from orbitmq.config_file import ConfigError
from orbitmq.remoting.tls import TLS_KEY_PREFIX, TlsConfig, split_tls_properties

log = logging.getLogger(__name__)

DEFAULT_GRPC_PORT = 8081


@dataclass(slots=True)
class ProxyConfig:
    grpc_server_port: int = DEFAULT_GRPC_PORT
    namesrv_addr: str = "127.0.0.1:9876"
    rocketmq_cluster_name: str = "DefaultCluster"
    remoting_listen_port: int = 8080  # RocketMQ's remoting port of the proxy: not served
    bind_address: str = "0.0.0.0"
    # Limits RocketMQ's proxy applies to clients' requests.
    max_message_size: int = 4 * 1024 * 1024
    max_delay_time_mills: int = 3 * 24 * 3600 * 1000  # timerMaxDelaySec's default
    grpc_max_inbound_message_size: int = 130 * 1024 * 1024
    long_polling_reserve_time_mills: int = 100
    min_long_polling_time_mills: int = 5_000
    max_long_polling_time_mills: int = 20_000
    default_invisible_time_mills: int = 60_000  # push consumers' (auto-renewed) receives
    # ACL (orbitmq/proxy/auth.py): 5.x clients' authorization checked against this
    # plain_acl.yml ("" = $ORBITMQ_HOME/conf/plain_acl.yml); in a broker, the broker's.
    acl_enable: bool = False
    acl_plain_file: str = ""
    # The proxy's own account, signing its requests to ACL-enabled brokers.
    access_key: str = ""
    secret_key: str = ""
    # The tls.* keys (JVM system properties in RocketMQ; here rmq-proxy.json keys; in a
    # broker, the broker's): `tls.enable` and `tls.client.*` for dialling NameServers and
    # brokers, `tls.server.mode=enforcing` and `tls.server.*` for a TLS gRPC port.
    tls: TlsConfig = field(default_factory=TlsConfig)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError("expected true or false")
    return text == "true"


_KEYS: dict[str, tuple[str, Callable[[object], object]]] = {
    "grpcServerPort": ("grpc_server_port", int),
    "namesrvAddr": ("namesrv_addr", str),
    "rocketMQClusterName": ("rocketmq_cluster_name", str),
    "remotingListenPort": ("remoting_listen_port", int),
    "grpcBindAddress": ("bind_address", str),
    "maxMessageSize": ("max_message_size", int),
    "maxDelayTimeMills": ("max_delay_time_mills", int),
    "grpcMaxInboundMessageSize": ("grpc_max_inbound_message_size", int),
    "longPollingReserveTimeInMillis": ("long_polling_reserve_time_mills", int),
    "grpcClientConsumerMinLongPollingTimeoutMillis": ("min_long_polling_time_mills", int),
    "grpcClientConsumerMaxLongPollingTimeoutMillis": ("max_long_polling_time_mills", int),
    "defaultInvisibleTimeMills": ("default_invisible_time_mills", int),
    "aclEnable": ("acl_enable", _bool),
    "rocketmq.acl.plain.file": ("acl_plain_file", str),
    "accessKey": ("access_key", str),
    "secretKey": ("secret_key", str),
}


def load_proxy_config(path: str | None, base: ProxyConfig | None = None) -> ProxyConfig:
    """`base` updated with the JSON file's keys (RocketMQ's names; others are logged).

    Raises:
        ConfigError: the file is unreadable, not a JSON object, or a value has the
            wrong type.
    """
    config = base or ProxyConfig()
    if path is None:
        return config
    try:
        data = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"proxy config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"proxy config {path}: expected a JSON object")
    tls_keys = {k: v for k, v in data.items() if k.startswith(TLS_KEY_PREFIX)}
    if tls_keys:
        _, config.tls = split_tls_properties(tls_keys, f"proxy config {path}")
    for key, value in data.items():
        if key in tls_keys:
            continue
        known = _KEYS.get(key)
        if known is None:
            log.info("proxy config %s: %s is not used by OrbitMQ", path, key)
            continue
        name, kind = known
        try:
            setattr(config, name, kind(value))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"proxy config {path}: {key}={value!r}: {exc}") from exc
    return config

"""NameServer configuration: RocketMQ's `.properties` keys onto a dataclass.

`mqnamesrv -c FILE` takes the same file a Java NameServer does (NamesrvConfig and
NettyServerConfig keys, store-and-replication.md §15.4). Unknown keys are logged and
ignored, as Java ignores them; Java keys that mean nothing here (thread pools, Netty
buffers) are accepted quietly; a value that does not parse is a ConfigError naming the key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import javaproperties

from orbitmq.namesrv.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NamesrvConfig:
    listen_port: int = 9876  # 0 picks a free port (tests)
    host: str = "0.0.0.0"
    kv_config_path: str = "~/namesrv/kvConfig.json"
    config_store_path: str = "~/namesrv/namesrv.properties"
    order_message_enable: bool = False
    cluster_test: bool = False
    product_env_name: str = "center"
    scan_not_active_broker_interval_ms: int = 10_000
    scan_initial_delay_ms: int = 5_000
    broker_channel_expired_ms: int = 120_000
    server_channel_max_idle_seconds: int = 120
    config_black_list: str = "configBlackList;configStorePath;kvConfigPath"

    @property
    def kv_config_file(self) -> Path:
        return Path(self.kv_config_path).expanduser()


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("expected an integer") from None


def _parse_port(text: str) -> int:
    port = _parse_int(text)
    if not 0 <= port <= 65535:
        raise ValueError("expected a TCP port, 0-65535")
    return port


def _parse_bool(text: str) -> bool:
    # Java's Boolean.parseBoolean reads any typo as false; refusing it is kinder.
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("expected true or false")
    return lowered == "true"


def _parse_str(text: str) -> str:
    return text.strip()


# properties key -> (dataclass field, parser)
_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "listenPort": ("listen_port", _parse_port),
    "bindAddress": ("host", _parse_str),
    "kvConfigPath": ("kv_config_path", _parse_str),
    "configStorePath": ("config_store_path", _parse_str),
    "orderMessageEnable": ("order_message_enable", _parse_bool),
    "clusterTest": ("cluster_test", _parse_bool),
    "productEnvName": ("product_env_name", _parse_str),
    "scanNotActiveBrokerInterval": ("scan_not_active_broker_interval_ms", _parse_int),
    "serverChannelMaxIdleTimeSeconds": ("server_channel_max_idle_seconds", _parse_int),
    "configBlackList": ("config_black_list", _parse_str),
}
_FIELD_KEYS = {field_name: key for key, (field_name, _) in _KEYS.items()}

# Real Java keys with no counterpart in an asyncio server: accepted without a warning.
_IGNORED_JAVA_KEYS = frozenset(
    {
        "rocketmqHome",
        "serverWorkerThreads",
        "serverCallbackExecutorThreads",
        "serverSelectorThreads",
        "serverOnewaySemaphoreValue",
        "serverAsyncSemaphoreValue",
        "serverSocketSndBufSize",
        "serverSocketRcvBufSize",
        "serverSocketBacklog",
        "serverPooledByteBufAllocatorEnable",
        "useEpollNativeSelector",
        "writeBufferHighWaterMark",
        "writeBufferLowWaterMark",
        "clientRequestThreadPoolNums",
        "defaultThreadPoolNums",
        "clientRequestThreadPoolQueueCapacity",
        "defaultThreadPoolQueueCapacity",
        "unRegisterBrokerQueueCapacity",
        "supportActingMaster",
        "enableAllTopicList",
        "enableTopicList",
        "notifyMinBrokerIdChanged",
        "needWaitForService",
        "waitSecondsForService",
        "returnOrderTopicConfigToBroker",
        "deleteTopicWithBrokerRegistration",
        "enableControllerInNamesrv",
    }
)


def apply_properties(config: NamesrvConfig, props: Mapping[str, object]) -> list[str]:
    """Set the fields named by `props` (Java keys or field names); return the keys applied.

    Raises:
        ConfigError: a value does not parse; nothing is changed in that case.
    """
    updates: dict[str, Any] = {}
    applied: list[str] = []
    for raw_key, raw_value in props.items():
        key = _FIELD_KEYS.get(raw_key, raw_key)
        if key not in _KEYS:
            if key in _IGNORED_JAVA_KEYS:
                log.debug("namesrv config key %s has no effect in OrbitMQ", key)
            else:
                log.warning("unknown namesrv config key %s ignored", key)
            continue
        field_name, parse = _KEYS[key]
        text = str(raw_value).lower() if isinstance(raw_value, bool) else str(raw_value)
        try:
            updates[field_name] = parse(text)
        except ValueError as exc:
            raise ConfigError(f"namesrv config key {key}: bad value {text!r} ({exc})") from exc
        applied.append(key)
    for field_name, value in updates.items():
        setattr(config, field_name, value)
    return applied


def to_properties(config: NamesrvConfig) -> dict[str, str]:
    """The settable keys with their current values, as GET_NAMESRV_CONFIG reports them."""
    out: dict[str, str] = {}
    for key, (field_name, _) in _KEYS.items():
        value = getattr(config, field_name)
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def load_namesrv_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, object] | None = None
) -> NamesrvConfig:
    """Defaults, then the `.properties` file at `path`, then `overrides` (e.g. CLI flags).

    Raises:
        ConfigError: the file cannot be read, or a value does not parse.
    """
    config = NamesrvConfig()
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                props = javaproperties.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"cannot read namesrv config file {path}: {exc}") from exc
        apply_properties(config, props)
    if overrides:
        apply_properties(config, overrides)
    return config

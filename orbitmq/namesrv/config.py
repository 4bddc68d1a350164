"""NameServer configuration: RocketMQ's `.properties` keys onto a dataclass.

`mqnamesrv -c FILE` takes the same file a Java NameServer does (NamesrvConfig and
NettyServerConfig keys, store-and-replication.md §15.4), read by `orbitmq.config_file` as
the broker's is. Unknown keys are logged and ignored, as Java ignores them; Java keys that
mean nothing here (thread pools, Netty buffers) are accepted quietly; a value that does not
parse is a ConfigError naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orbitmq import config_file
from orbitmq.config_file import read_properties, setting, to_properties
from orbitmq.remoting.tls import TlsConfig, split_tls_properties

__all__ = ["NamesrvConfig", "apply_properties", "load_namesrv_config", "to_properties"]


@dataclass(slots=True)
class NamesrvConfig:
    # 0 picks a free port (tests)
    listen_port: int = field(default=9876, metadata=setting("listenPort", bounds=(0, 65535)))
    host: str = field(default="0.0.0.0", metadata=setting("bindAddress"))
    kv_config_path: str = field(default="~/namesrv/kvConfig.json", metadata=setting("kvConfigPath"))
    config_store_path: str = field(
        default="~/namesrv/namesrv.properties", metadata=setting("configStorePath")
    )
    order_message_enable: bool = field(default=False, metadata=setting("orderMessageEnable"))
    cluster_test: bool = field(default=False, metadata=setting("clusterTest"))
    product_env_name: str = field(default="center", metadata=setting("productEnvName"))
    scan_not_active_broker_interval_ms: int = field(
        default=10_000, metadata=setting("scanNotActiveBrokerInterval")
    )
    scan_initial_delay_ms: int = 5_000
    broker_channel_expired_ms: int = 120_000
    server_channel_max_idle_seconds: int = field(
        default=120, metadata=setting("serverChannelMaxIdleTimeSeconds")
    )
    # Resource limits of the remoting ports (docs/limits.md, orbitmq/remoting/limits.py).
    server_max_connections: int = field(
        default=10_000, metadata=setting("serverMaxConnections", bounds=(1, 2**31 - 1))
    )
    server_max_connections_per_address: int = field(
        default=1_000, metadata=setting("serverMaxConnectionsPerAddress", bounds=(1, 2**31 - 1))
    )
    # A JVM system property in RocketMQ (NettyDecoder's frame limit).
    frame_max_length: int = field(
        default=16 * 1024 * 1024,
        metadata=setting("com.rocketmq.remoting.frameMaxLength", bounds=(1024, 2**31 - 1)),
    )
    server_frame_read_timeout_seconds: int = field(
        default=30, metadata=setting("serverFrameReadTimeoutSeconds", bounds=(1, 2**31 - 1))
    )
    # 0 is RocketMQ's "not set": the default then applies.
    write_buffer_high_water_mark: int = field(
        default=4 * 1024 * 1024, metadata=setting("writeBufferHighWaterMark", bounds=(0, 2**31 - 1))
    )
    write_buffer_low_water_mark: int = field(
        default=1024 * 1024, metadata=setting("writeBufferLowWaterMark", bounds=(0, 2**31 - 1))
    )
    server_write_blocked_timeout_seconds: int = field(
        default=30, metadata=setting("serverWriteBlockedTimeoutSeconds", bounds=(1, 2**31 - 1))
    )
    # OrbitMQ's NameServer ACL (docs/security.md): its write requests need an admin
    # account of this plain_acl.yml ("" = $ORBITMQ_HOME/conf/plain_acl.yml).
    acl_enable: bool = field(default=False, metadata=setting("aclEnable"))
    acl_plain_file: str = field(default="", metadata=setting("rocketmq.acl.plain.file"))
    config_black_list: str = field(
        default="configBlackList;configStorePath;kvConfigPath",
        metadata=setting("configBlackList"),
    )
    # The tls.* keys (orbitmq/remoting/tls.py), read apart from the others.
    tls: TlsConfig = field(default_factory=TlsConfig)

    @property
    def kv_config_file(self) -> Path:
        return Path(self.kv_config_path).expanduser()


# Real Java keys with no counterpart in an asyncio server: accepted without a warning.
IGNORED_KEYS = frozenset(
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
    """Set the fields named by `props` (Java keys or field names); return the unknown keys.

    Raises:
        ConfigError: a value does not parse; nothing is changed in that case.
    """
    return config_file.apply_properties(
        config, props, ignored_keys=IGNORED_KEYS, source="namesrv config", field_names=True
    )


def load_namesrv_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, object] | None = None
) -> NamesrvConfig:
    """Defaults, then the `.properties` file at `path`, then `overrides` (e.g. CLI flags).

    Raises:
        ConfigError: the file cannot be read, or a value does not parse.
    """
    config = NamesrvConfig()
    properties: dict[str, object] = dict(read_properties(path)) if path is not None else {}
    properties.update(overrides or {})
    rest, config.tls = split_tls_properties(properties, "namesrv config")
    apply_properties(config, rest)
    return config

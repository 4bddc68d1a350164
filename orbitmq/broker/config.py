"""Broker settings under RocketMQ's property names and defaults (BrokerConfig,
NettyServerConfig and MessageStoreConfig in apache/rocketmq 4.9.7)."""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass, field

from orbitmq.broker.metrics.labels import parse_metrics_label
from orbitmq.config_file import ConfigError, apply_properties, read_properties
from orbitmq.config_file import setting as _key
from orbitmq.dledger.config import DLedgerConfig, parse_peers
from orbitmq.ha.config import HAConfig
from orbitmq.remoting.tls import TlsConfig, split_tls_properties
from orbitmq.store.config import MessageStoreConfig

DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

# Real RocketMQ keys that tune JVM thread pools or features not built yet; accepted quietly.
IGNORED_KEYS = frozenset(
    {
        "sendMessageThreadPoolNums",
        "pullMessageThreadPoolNums",
        "queryMessageThreadPoolNums",
        "adminBrokerThreadPoolNums",
        "clientManageThreadPoolNums",
        "consumerManageThreadPoolNums",
        "useReentrantLockWhenPutMessage",
        "transientStorePoolEnable",
        "warmMapedFileEnable",
        "waitTimeMillsInSendQueue",
        "osPageCacheBusyTimeOutMills",
        "brokerFastFailureEnable",
        # Store knobs with nothing to tune here: the index is always made whole again
        # after a crash, and deleted files are unmapped when their last reader lets go.
        "messageIndexSafe",
        "destroyMapedFileIntervalForcibly",
        "redeleteHangedFileInterval",
        "traceTopicEnable",
        "msgTraceTopicName",
        "serverWorkerThreads",
        "serverSelectorThreads",
        "serverCallbackExecutorThreads",
        # Settings of metrics exporters other than PROM (see metricsExporterType).
        "metricsGrpcExporterTarget",
        "metricsGrpcExporterHeader",
        "metricGrpcExporterTimeOutInMills",
        "metricGrpcExporterIntervalInMills",
        "metricLoggingExporterIntervalInMills",
        "metricsInDelta",
        # Tuning of RocketMQ 5's timer wheel and timer log, which OrbitMQ's timer
        # service (orbitmq/broker/timer) does not keep.
        "timerEnableDisruptor",
        "timerGetMessageThreadNum",
        "timerPutMessageThreadNum",
        "mappedFileSizeTimerLog",
        "timerRollWindowSlot",
        "timerEnableCheckMetrics",
        "timerCheckMetricsWhen",
        "timerWarmEnable",
        "timerInterceptDelayLevel",
    }
)
# MessageStoreConfig.setTimerPrecisionMs: the precision is one of these.
TIMER_PRECISIONS_MS = (100, 200, 500, 1000)
# RocketMQ 5's exporter types; OrbitMQ serves PROM and warns that the others export nothing.
METRICS_EXPORTER_TYPES = ("DISABLE", "OTLP_GRPC", "PROM", "LOG")


def default_broker_ip() -> str:
    """RocketMQ's rule: first non-loopback IPv4 that is not 192.168.x, else any IPv4."""
    candidates: list[str] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            ip = str(info[4][0])
            if not ip.startswith("127.") and ip not in candidates:
                candidates.append(ip)
    except OSError:
        pass
    for ip in candidates:
        if not ip.startswith("192.168."):
            return ip
    return candidates[-1] if candidates else "127.0.0.1"


@functools.cache
def total_physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


@dataclass
class BrokerConfig:
    broker_cluster_name: str = field(default="DefaultCluster", metadata=_key("brokerClusterName"))
    broker_name: str = field(default_factory=socket.gethostname, metadata=_key("brokerName"))
    broker_id: int = field(default=0, metadata=_key("brokerId"))
    namesrv_addr: str = field(default="", metadata=_key("namesrvAddr"))
    broker_ip1: str = field(default="", metadata=_key("brokerIP1"))
    broker_ip2: str = field(default="", metadata=_key("brokerIP2"))
    listen_port: int = field(default=10911, metadata=_key("listenPort"))
    ha_listen_port: int = field(default=0, metadata=_key("haListenPort"))
    broker_role: str = field(
        default="ASYNC_MASTER",
        metadata=_key("brokerRole", choices=("ASYNC_MASTER", "SYNC_MASTER", "SLAVE")),
    )
    flush_disk_type: str = field(
        default="ASYNC_FLUSH", metadata=_key("flushDiskType", choices=("ASYNC_FLUSH", "SYNC_FLUSH"))
    )
    store_path_root_dir: str = field(
        default_factory=lambda: os.path.join(os.path.expanduser("~"), "store"),
        metadata=_key("storePathRootDir"),
    )
    store_path_commit_log: str = field(default="", metadata=_key("storePathCommitLog"))
    broker_permission: int = field(default=6, metadata=_key("brokerPermission"))
    auto_create_topic_enable: bool = field(default=True, metadata=_key("autoCreateTopicEnable"))
    auto_create_subscription_group: bool = field(
        default=True, metadata=_key("autoCreateSubscriptionGroup")
    )
    default_topic_queue_nums: int = field(default=8, metadata=_key("defaultTopicQueueNums"))
    cluster_topic_enable: bool = field(default=True, metadata=_key("clusterTopicEnable"))
    broker_topic_enable: bool = field(default=True, metadata=_key("brokerTopicEnable"))
    delete_when: str = field(default="04", metadata=_key("deleteWhen"))
    file_reserved_time: int = field(default=72, metadata=_key("fileReservedTime"))
    mapped_file_size_commit_log: int = field(
        default=1024**3, metadata=_key("mappedFileSizeCommitLog", "mapedFileSizeCommitLog")
    )
    mapped_file_size_consume_queue: int = field(
        default=300_000 * 20,
        metadata=_key("mappedFileSizeConsumeQueue", "mapedFileSizeConsumeQueue"),
    )
    disk_max_used_space_ratio: int = field(default=75, metadata=_key("diskMaxUsedSpaceRatio"))
    max_message_size: int = field(default=4 * 1024 * 1024, metadata=_key("maxMessageSize"))
    slave_read_enable: bool = field(default=False, metadata=_key("slaveReadEnable"))
    # A record farther than this % of RAM from the commit log's end is "not in memory":
    # pulls of it suggest the slave (slaveReadEnable), offset queries treat it as on disk.
    access_message_in_memory_max_ratio: int = field(
        default=40, metadata=_key("accessMessageInMemoryMaxRatio", bounds=(0, 100))
    )
    # false: a slave answers an out-of-range pull "retry" rather than moving the offset,
    # since the slave may only be behind.
    offset_check_in_slave: bool = field(default=False, metadata=_key("offsetCheckInSlave"))
    message_delay_level: str = field(
        default=DEFAULT_DELAY_LEVELS, metadata=_key("messageDelayLevel")
    )
    flush_delay_offset_interval: int = field(
        default=10_000, metadata=_key("flushDelayOffsetInterval", bounds=(1, 2**31 - 1))
    )
    transaction_timeout: int = field(
        default=6000, metadata=_key("transactionTimeOut", bounds=(0, 2**31 - 1))
    )
    transaction_check_max: int = field(
        default=15, metadata=_key("transactionCheckMax", bounds=(0, 2**31 - 1))
    )
    transaction_check_interval: int = field(
        default=60_000, metadata=_key("transactionCheckInterval", bounds=(1, 2**31 - 1))
    )
    reject_transaction_message: bool = field(
        default=False, metadata=_key("rejectTransactionMessage")
    )
    # RocketMQ 5 timer messages (orbitmq/broker/timer): refused when disabled; at most
    # timerMaxDelaySec ahead (3 days); delivered within timerPrecisionMs after their
    # time; the progress written every timerFlushIntervalMs.
    timer_wheel_enable: bool = field(default=True, metadata=_key("timerWheelEnable"))
    timer_max_delay_sec: int = field(
        default=3 * 24 * 3600, metadata=_key("timerMaxDelaySec", bounds=(1, 2**31 - 1))
    )
    timer_precision_ms: int = field(
        default=1000, metadata=_key("timerPrecisionMs", bounds=(1, 2**31 - 1))
    )
    timer_flush_interval_ms: int = field(
        default=1000, metadata=_key("timerFlushIntervalMs", bounds=(1, 2**31 - 1))
    )
    flush_interval_commit_log: int = field(default=500, metadata=_key("flushIntervalCommitLog"))
    flush_commit_log_least_pages: int = field(default=4, metadata=_key("flushCommitLogLeastPages"))
    flush_commit_log_thorough_interval: int = field(
        default=10_000, metadata=_key("flushCommitLogThoroughInterval")
    )
    sync_flush_timeout: int = field(default=5000, metadata=_key("syncFlushTimeout"))
    # Classic master/slave replication (store-and-replication.md §8, orbitmq/ha).
    ha_master_address: str = field(default="", metadata=_key("haMasterAddress"))
    slave_timeout: int = field(default=3000, metadata=_key("slaveTimeout", bounds=(1, 2**31 - 1)))
    ha_slave_fallbehind_max: int = field(
        default=256 * 1024 * 1024, metadata=_key("haSlaveFallbehindMax", bounds=(0, 2**62))
    )
    ha_transfer_batch_size: int = field(
        default=32 * 1024, metadata=_key("haTransferBatchSize", bounds=(1, 4 * 1024 * 1024))
    )
    ha_send_heartbeat_interval: int = field(
        default=5000, metadata=_key("haSendHeartbeatInterval", bounds=(1, 2**31 - 1))
    )
    ha_max_connections: int = field(
        default=64, metadata=_key("haMaxConnections", bounds=(1, 2**31 - 1))
    )
    ha_housekeeping_interval: int = field(
        default=20_000, metadata=_key("haHousekeepingInterval", bounds=(1, 2**31 - 1))
    )
    flush_interval_consume_queue: int = field(
        default=1000, metadata=_key("flushIntervalConsumeQueue", bounds=(1, 2**31 - 1))
    )
    flush_consume_queue_least_pages: int = field(
        default=2, metadata=_key("flushConsumeQueueLeastPages", bounds=(0, 2**31 - 1))
    )
    flush_consume_queue_thorough_interval: int = field(
        default=60_000, metadata=_key("flushConsumeQueueThoroughInterval", bounds=(1, 2**31 - 1))
    )
    check_crc_on_recover: bool = field(default=True, metadata=_key("checkCRCOnRecover"))
    # Index files (store-and-replication.md §4).
    message_index_enable: bool = field(default=True, metadata=_key("messageIndexEnable"))
    max_hash_slot_num: int = field(
        default=5_000_000, metadata=_key("maxHashSlotNum", bounds=(1, 2**31 - 1))
    )
    max_index_num: int = field(
        default=20_000_000, metadata=_key("maxIndexNum", bounds=(2, 2**31 - 1))
    )
    max_msgs_num_batch: int = field(
        default=64, metadata=_key("maxMsgsNumBatch", bounds=(1, 2**31 - 1))
    )
    default_query_max_num: int = field(
        default=32, metadata=_key("defaultQueryMaxNum", bounds=(1, 2**31 - 1))
    )
    # Retention and disk protection (§7); the ratios are percentages.
    disk_space_warning_level_ratio: int = field(
        default=90, metadata=_key("diskSpaceWarningLevelRatio", bounds=(1, 100))
    )
    disk_space_clean_forcibly_ratio: int = field(
        default=85, metadata=_key("diskSpaceCleanForciblyRatio", bounds=(1, 100))
    )
    clean_file_forcibly_enable: bool = field(default=True, metadata=_key("cleanFileForciblyEnable"))
    clean_resource_interval: int = field(
        default=10_000, metadata=_key("cleanResourceInterval", bounds=(1, 2**31 - 1))
    )
    delete_commit_log_files_interval: int = field(
        default=100, metadata=_key("deleteCommitLogFilesInterval", bounds=(0, 2**31 - 1))
    )
    delete_consume_queue_files_interval: int = field(
        default=100, metadata=_key("deleteConsumeQueueFilesInterval", bounds=(0, 2**31 - 1))
    )
    delete_file_batch_max: int = field(
        default=10, metadata=_key("deleteFileBatchMax", bounds=(1, 2**31 - 1))
    )
    long_polling_enable: bool = field(default=True, metadata=_key("longPollingEnable"))
    short_polling_time_mills: int = field(default=1000, metadata=_key("shortPollingTimeMills"))
    flush_consumer_offset_interval: int = field(
        default=5000, metadata=_key("flushConsumerOffsetInterval")
    )
    register_name_server_period: int = field(
        default=30_000, metadata=_key("registerNameServerPeriod")
    )
    register_broker_timeout_mills: int = field(
        default=6000, metadata=_key("registerBrokerTimeoutMills")
    )
    enable_dleger_commit_log: bool = field(default=False, metadata=_key("enableDLegerCommitLog"))
    dleger_group: str = field(default="", metadata=_key("dLegerGroup"))
    dleger_peers: str = field(default="", metadata=_key("dLegerPeers"))
    dleger_self_id: str = field(default="", metadata=_key("dLegerSelfId"))
    preferred_leader_id: str = field(default="", metadata=_key("preferredLeaderId"))
    # "": <storePathRootDir>/dledger-<dLegerSelfId>, RocketMQ's default.
    store_path_dledger_commit_log: str = field(
        default="", metadata=_key("storePathDLedgerCommitLog")
    )
    enable_batch_push: bool = field(default=False, metadata=_key("enableBatchPush"))
    # OrbitMQ's own DLedger tuning (not RocketMQ keys; docs/deployment.md). RocketMQ's
    # brokers cannot set these and run DLedger's 2 s heartbeat and 6 s leader-loss
    # detection; shorter defaults make a failover take seconds less.
    dleger_heartbeat_interval_ms: int = field(
        default=200, metadata=_key("dLegerHeartBeatIntervalMs", bounds=(1, 2**31 - 1))
    )
    dleger_election_timeout_ms: int = field(
        default=1000, metadata=_key("dLegerElectionTimeoutMs", bounds=(1, 2**31 - 1))
    )
    # Fewer than 3 members cannot lose one and keep a majority; a lower value is the
    # explicit "I know" for tests and demos.
    dleger_min_peers: int = field(default=3, metadata=_key("dLegerMinPeers", bounds=(1, 2**31 - 1)))
    acl_enable: bool = field(default=False, metadata=_key("aclEnable"))
    # A JVM system property in RocketMQ; "" = $ORBITMQ_HOME/conf/plain_acl.yml (docs/security.md).
    acl_plain_file: str = field(default="", metadata=_key("rocketmq.acl.plain.file"))
    # The tls.* keys (orbitmq/remoting/tls.py), read apart from the others.
    tls: TlsConfig = field(default_factory=TlsConfig)
    notify_consumer_ids_changed_enable: bool = field(
        default=True, metadata=_key("notifyConsumerIdsChangedEnable")
    )
    channel_expired_timeout: int = field(default=120_000, metadata=_key("channelExpiredTimeout"))
    # Resource limits of the remoting ports (docs/limits.md, orbitmq/remoting/limits.py).
    server_max_connections: int = field(
        default=10_000, metadata=_key("serverMaxConnections", bounds=(1, 2**31 - 1))
    )
    server_max_connections_per_address: int = field(
        default=1_000, metadata=_key("serverMaxConnectionsPerAddress", bounds=(1, 2**31 - 1))
    )
    # A JVM system property in RocketMQ (NettyDecoder's frame limit).
    frame_max_length: int = field(
        default=16 * 1024 * 1024,
        metadata=_key("com.rocketmq.remoting.frameMaxLength", bounds=(1024, 2**31 - 1)),
    )
    server_frame_read_timeout_seconds: int = field(
        default=30, metadata=_key("serverFrameReadTimeoutSeconds", bounds=(1, 2**31 - 1))
    )
    # 0 is RocketMQ's "not set": the default then applies.
    write_buffer_high_water_mark: int = field(
        default=4 * 1024 * 1024, metadata=_key("writeBufferHighWaterMark", bounds=(0, 2**31 - 1))
    )
    write_buffer_low_water_mark: int = field(
        default=1024 * 1024, metadata=_key("writeBufferLowWaterMark", bounds=(0, 2**31 - 1))
    )
    server_write_blocked_timeout_seconds: int = field(
        default=30, metadata=_key("serverWriteBlockedTimeoutSeconds", bounds=(1, 2**31 - 1))
    )
    server_channel_max_idle_seconds: int = field(
        default=120, metadata=_key("serverChannelMaxIdleTimeSeconds", bounds=(1, 2**31 - 1))
    )
    # Long polls a connection may hold at once; over it a poll is answered at once.
    max_pull_holds_per_connection: int = field(
        default=4096, metadata=_key("maxPullHoldsPerConnection", bounds=(1, 2**31 - 1))
    )
    pop_polling_max_per_connection: int = field(
        default=1024, metadata=_key("popPollingMaxPerConnection", bounds=(1, 2**31 - 1))
    )
    bind_address: str = field(default="0.0.0.0", metadata=_key("bindAddress"))
    enable_property_filter: bool = field(default=False, metadata=_key("enablePropertyFilter"))
    # RocketMQ 5 topic types (message_type.py): MIXED topics are refused unless enabled,
    # as in Java's BrokerConfig; the send-time type check is the Java proxy's
    # (ProxyConfig, default true there), which a Java broker's own port never makes.
    enable_mixed_message_type: bool = field(default=False, metadata=_key("enableMixedMessageType"))
    enable_topic_message_type_check: bool = field(
        default=False, metadata=_key("enableTopicMessageTypeCheck")
    )
    # RocketMQ 5.x metrics (docs/metrics.md): PROM serves /metrics; "" host = brokerIP1.
    metrics_exporter_type: str = field(
        default="DISABLE", metadata=_key("metricsExporterType", choices=METRICS_EXPORTER_TYPES)
    )
    metrics_prom_exporter_host: str = field(default="", metadata=_key("metricsPromExporterHost"))
    metrics_prom_exporter_port: int = field(
        default=5557, metadata=_key("metricsPromExporterPort", bounds=(0, 65535))
    )
    metrics_label: str = field(default="", metadata=_key("metricsLabel"))

    @property
    def is_master(self) -> bool:
        return self.broker_role != "SLAVE"

    @property
    def broker_addr(self) -> str:
        return f"{self.broker_ip1}:{self.listen_port}"

    @property
    def ha_server_addr(self) -> str:
        return f"{self.broker_ip2}:{self.ha_listen_port}"

    @property
    def in_memory_max_bytes(self) -> int:
        """TOTAL_PHYSICAL_MEMORY_SIZE * accessMessageInMemoryMaxRatio / 100."""
        return total_physical_memory() * self.access_message_in_memory_max_ratio // 100

    @property
    def namesrv_addresses(self) -> list[str]:
        return [a.strip() for a in self.namesrv_addr.split(";") if a.strip()]

    def finish(self) -> BrokerConfig:
        """Derive the values RocketMQ derives after loading, and check consistency."""
        if not self.broker_ip1:
            self.broker_ip1 = default_broker_ip()
        if not self.broker_ip2:
            self.broker_ip2 = self.broker_ip1
        if self.ha_listen_port == 0 and self.listen_port != 0:  # 0: both ports ephemeral
            self.ha_listen_port = self.listen_port + 1
        if self.enable_dleger_commit_log:
            self._finish_dledger()
        elif self.is_master:
            self.broker_id = 0
        elif self.broker_id <= 0:
            raise ConfigError(f"brokerId={self.broker_id}: a SLAVE needs a brokerId above 0")
        for address in self.namesrv_addresses:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"namesrvAddr entry {address!r} is not host:port")
        if self.default_topic_queue_nums <= 0:
            raise ConfigError("defaultTopicQueueNums must be positive")
        parse_metrics_label(self.metrics_label)
        # As setTimerPrecisionMs: the largest allowed precision not above the value.
        self.timer_precision_ms = max(
            [p for p in TIMER_PRECISIONS_MS if p <= self.timer_precision_ms]
            or [TIMER_PRECISIONS_MS[0]]
        )
        self.store_path_root_dir = os.path.expanduser(self.store_path_root_dir)
        self.store_path_commit_log = os.path.expanduser(self.store_path_commit_log)
        return self

    def _finish_dledger(self) -> None:
        """Check the DLedger keys; brokerRole and brokerId give way to the election."""
        peers = parse_peers(self.dleger_peers)
        if not peers:
            raise ConfigError("dLegerPeers is required when enableDLegerCommitLog=true")
        names = ", ".join(peers)
        if not self.dleger_self_id:
            raise ConfigError(
                f"dLegerSelfId is required when enableDLegerCommitLog=true (one of {names})"
            )
        if self.dleger_self_id not in peers:
            raise ConfigError(f"dLegerSelfId={self.dleger_self_id} is not in dLegerPeers ({names})")
        if len(peers) < self.dleger_min_peers:
            raise ConfigError(
                f"dLegerPeers lists {len(peers)} member(s); a DLedger group needs at least "
                f"{self.dleger_min_peers} so that it keeps a majority when one is lost. "
                f"Set dLegerMinPeers={len(peers)} to run with fewer (for a test only)"
            )
        for preferred in self.preferred_leader_ids:
            if preferred not in peers:
                raise ConfigError(f"preferredLeaderId {preferred} is not in dLegerPeers ({names})")
        if self.dleger_election_timeout_ms <= self.dleger_heartbeat_interval_ms:
            raise ConfigError(
                f"dLegerElectionTimeoutMs={self.dleger_election_timeout_ms} must exceed "
                f"dLegerHeartBeatIntervalMs={self.dleger_heartbeat_interval_ms}, or followers "
                "start elections between two heartbeats of a live leader"
            )
        data_dir = self.store_path_dledger_commit_log
        if data_dir and os.path.normpath(os.path.expanduser(data_dir)) == os.path.normpath(
            os.path.expanduser(self.store_path_root_dir)
        ):
            # Both directories hold a file named `checkpoint`, with different contents.
            raise ConfigError(
                f"storePathDLedgerCommitLog={data_dir} is storePathRootDir; leave it "
                "empty for <storePathRootDir>/dledger-<dLegerSelfId>"
            )
        if not self.dleger_group:
            self.dleger_group = self.broker_name  # as RocketMQ's docs set them
        # As RocketMQ: the id is -1 until the first election decides leader (0) or follower
        # (follower_broker_id). Until then the node is no master: it must refuse writes, and
        # classic HA never runs in this mode (ha_config refuses).
        self.broker_id = -1
        self.broker_role = "SLAVE"

    @property
    def preferred_leader_ids(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.preferred_leader_id.split(";") if p.strip())

    def dledger_config(self) -> DLedgerConfig | None:
        """The Raft group settings; None unless enableDLegerCommitLog=true."""
        if not self.enable_dleger_commit_log:
            return None
        data_dir = self.store_path_dledger_commit_log or os.path.join(
            self.store_path_root_dir, f"dledger-{self.dleger_self_id}"
        )
        return DLedgerConfig(
            group=self.dleger_group or self.broker_name,
            self_id=self.dleger_self_id,
            peers=parse_peers(self.dleger_peers),
            preferred_leader_ids=self.preferred_leader_ids,
            data_dir=os.path.expanduser(data_dir),
            heartbeat_interval_ms=self.dleger_heartbeat_interval_ms,
            election_timeout_ms=self.dleger_election_timeout_ms,
            sync_flush=self.flush_disk_type == "SYNC_FLUSH",
            data_file_size=self.mapped_file_size_commit_log,
        )

    def ha_config(self) -> HAConfig:
        """Classic master/slave replication settings.

        Raises:
            ConfigError: enableDLegerCommitLog=true, where DLedger replicates instead.
        """
        if self.enable_dleger_commit_log:
            raise ConfigError(
                "enableDLegerCommitLog=true: DLedger replicates the log; classic HA "
                "(haListenPort, brokerRole) is not used"
            )
        return HAConfig(
            listen_host=self.bind_address,
            listen_port=self.ha_listen_port,
            sync_master=self.broker_role == "SYNC_MASTER",
            master_address=self.ha_master_address,
            transfer_batch_size=self.ha_transfer_batch_size,
            slave_fallbehind_max=self.ha_slave_fallbehind_max,
            slave_timeout_s=self.slave_timeout / 1000,
            heartbeat_interval_s=self.ha_send_heartbeat_interval / 1000,
            housekeeping_interval_s=self.ha_housekeeping_interval / 1000,
            max_connections=self.ha_max_connections,
        )

    def store_config(self) -> MessageStoreConfig:
        return MessageStoreConfig(
            store_path_root_dir=self.store_path_root_dir,
            store_path_commit_log=self.store_path_commit_log or None,
            mapped_file_size_commit_log=self.mapped_file_size_commit_log,
            mapped_file_size_consume_queue=self.mapped_file_size_consume_queue,
            flush_disk_type=self.flush_disk_type,
            max_message_size=self.max_message_size,
            sync_flush_timeout_ms=self.sync_flush_timeout,
            flush_interval_commit_log_ms=self.flush_interval_commit_log,
            flush_commit_log_least_pages=self.flush_commit_log_least_pages,
            flush_commit_log_thorough_interval_ms=self.flush_commit_log_thorough_interval,
            flush_interval_consume_queue_ms=self.flush_interval_consume_queue,
            flush_consume_queue_least_pages=self.flush_consume_queue_least_pages,
            flush_consume_queue_thorough_interval_ms=self.flush_consume_queue_thorough_interval,
            check_crc_on_recover=self.check_crc_on_recover,
            message_index_enable=self.message_index_enable,
            max_hash_slot_num=self.max_hash_slot_num,
            max_index_num=self.max_index_num,
            max_msgs_num_batch=self.max_msgs_num_batch,
            default_query_max_num=self.default_query_max_num,
            file_reserved_time_hours=self.file_reserved_time,
            delete_when=self.delete_when,
            disk_max_used_space_ratio=self.disk_max_used_space_ratio,
            disk_space_clean_forcibly_ratio=self.disk_space_clean_forcibly_ratio,
            disk_space_warning_level_ratio=self.disk_space_warning_level_ratio,
            clean_file_forcibly_enable=self.clean_file_forcibly_enable,
            clean_resource_interval_ms=self.clean_resource_interval,
            delete_commit_log_files_interval_ms=self.delete_commit_log_files_interval,
            delete_consume_queue_files_interval_ms=self.delete_consume_queue_files_interval,
            delete_file_batch_max=self.delete_file_batch_max,
        )


def load_broker_config(
    path: str | None = None, overrides: dict[str, str] | None = None
) -> BrokerConfig:
    """Read a RocketMQ broker `.properties` file; `overrides` win (e.g. `-n`)."""
    config = BrokerConfig()
    properties: dict[str, str] = {}
    if path:
        properties.update(read_properties(path))
    if "namesrvAddr" not in properties and os.environ.get("NAMESRV_ADDR"):
        properties["namesrvAddr"] = os.environ["NAMESRV_ADDR"]
    properties.update(overrides or {})
    rest, config.tls = split_tls_properties(properties, "broker config")
    apply_properties(config, rest, ignored_keys=IGNORED_KEYS, source="broker config")
    return config.finish()

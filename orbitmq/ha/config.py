"""Replication settings, taken from the broker's properties (BrokerConfig.ha_config)."""

from __future__ import annotations

from dataclasses import dataclass

from orbitmq.ha.wire import TRANSFER_BATCH_SIZE


@dataclass(frozen=True, slots=True)
class HAConfig:
    listen_host: str = "0.0.0.0"
    listen_port: int = 10912  # haListenPort
    sync_master: bool = False  # brokerRole=SYNC_MASTER: sends wait for a slave
    # haMasterAddress: a slave's fixed master HA address; "" = learn it from NameServers.
    master_address: str = ""
    transfer_batch_size: int = TRANSFER_BATCH_SIZE  # haTransferBatchSize
    slave_fallbehind_max: int = 256 * 1024 * 1024  # haSlaveFallbehindMax
    slave_timeout_s: float = 3.0  # slaveTimeout
    heartbeat_interval_s: float = 5.0  # haSendHeartbeatInterval
    housekeeping_interval_s: float = 20.0  # haHousekeepingInterval
    reconnect_interval_s: float = 5.0  # how long a slave waits before reconnecting
    # haMaxConnections (OrbitMQ's): a master streams its commit log to each connection,
    # so a flood of them is refused; slaves are a handful (one per slave broker).
    max_connections: int = 64

"""BrokerController: wires the store, configs, handlers and background services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from orbitmq.acl.errors import AclConfigError
from orbitmq.acl.store import AclStore, resolve_acl_path
from orbitmq.broker.client_manager import ClientManager
from orbitmq.broker.config import BrokerConfig
from orbitmq.broker.consumer_offset import ConsumerOffsetManager
from orbitmq.broker.dledger_role import DLEDGER_SYNC_SECONDS, DLedgerRole
from orbitmq.broker.handlers.acl import AclAdminHandler
from orbitmq.broker.handlers.admin import AdminHandler
from orbitmq.broker.handlers.admin_config import AdminConfigHandler
from orbitmq.broker.handlers.admin_stats import AdminStatsHandler
from orbitmq.broker.handlers.client import ClientHandler
from orbitmq.broker.handlers.dledger import DLedgerAdminHandler
from orbitmq.broker.handlers.lock import LockHandler
from orbitmq.broker.handlers.offset import OffsetHandler
from orbitmq.broker.handlers.pop import PopHandler
from orbitmq.broker.handlers.pull import PullMessageHandler
from orbitmq.broker.handlers.query import QueryMessageHandler
from orbitmq.broker.handlers.reset_offset import ResetOffsetHandler
from orbitmq.broker.handlers.send import SendMessageHandler
from orbitmq.broker.handlers.transaction import EndTransactionHandler
from orbitmq.broker.long_polling import PullRequestHoldService
from orbitmq.broker.metrics.counters import BrokerMetrics
from orbitmq.broker.pop.service import PopService
from orbitmq.broker.registration import BrokerRegistration
from orbitmq.broker.schedule import ScheduleMessageService
from orbitmq.broker.send_lane import SendLane
from orbitmq.broker.slave_sync import SlaveSynchronize
from orbitmq.broker.subscription_group import SubscriptionGroupManager
from orbitmq.broker.timer import TIMER_TOPIC, TimerHandler, TimerMessageService
from orbitmq.broker.topic_config import SCHEDULE_TOPIC, TopicConfigManager
from orbitmq.broker.transaction import TransactionalMessageService
from orbitmq.config_file import ConfigError
from orbitmq.ha.master import HAService
from orbitmq.ha.slave import HAClient
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.limits import limits_from
from orbitmq.remoting.server import RemotingServer
from orbitmq.remoting.tls import ServerTls
from orbitmq.store.message_store import MessageStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from orbitmq.broker.metrics.exporter import MetricsExporter

log = logging.getLogger(__name__)

CLIENT_SCAN_SECONDS = 10.0
STATS_SECONDS = 1.0


@dataclass
class BrokerStats:
    """Messages put and got since the broker started, their rates, and the totals at the
    last two local midnights (BrokerStats.java: at each midnight the "yesterday morning"
    totals take the "today morning" ones, which take the current totals).

    `wall_clock` (seconds since the epoch) tells local midnight; a test may replace it.
    """

    put_count: int = 0
    get_count: int = 0
    put_tps: float = 0.0
    get_tps: float = 0.0
    put_total_today_morning: int = 0
    get_total_today_morning: int = 0
    put_total_yesterday_morning: int = 0
    get_total_yesterday_morning: int = 0
    start_accept_send_ms: int = 0  # ms since the epoch, when start() had finished
    wall_clock: Callable[[], float] = time.time
    _last: tuple[float, int, int] = field(default=(0.0, 0, 0))
    _next_midnight: float = 0.0

    def sample(self, now: float) -> None:
        last_time, last_put, last_get = self._last
        if last_time:
            elapsed = max(now - last_time, 1e-6)
            self.put_tps = (self.put_count - last_put) / elapsed
            self.get_tps = (self.get_count - last_get) / elapsed
        self._last = (now, self.put_count, self.get_count)
        self._record_at_midnight()

    def record(self) -> None:
        """BrokerStats.record(), run at each local midnight."""
        self.put_total_yesterday_morning = self.put_total_today_morning
        self.get_total_yesterday_morning = self.get_total_today_morning
        self.put_total_today_morning = self.put_count
        self.get_total_today_morning = self.get_count

    def _record_at_midnight(self) -> None:
        wall = self.wall_clock()
        if not self._next_midnight:
            self._next_midnight = self._midnight_after(wall)
            return
        if wall < self._next_midnight:
            return
        if wall >= self._midnight_after(self._next_midnight):
            self.record()  # asleep over two midnights: the totals stood still meanwhile
        self.record()
        self._next_midnight = self._midnight_after(wall)

    @staticmethod
    def _midnight_after(wall: float) -> float:
        day = datetime.fromtimestamp(wall).date() + timedelta(days=1)
        return datetime.combine(day, datetime.min.time()).timestamp()


class BrokerController:
    def __init__(self, config: BrokerConfig, config_file: str | None = None) -> None:
        self.config = config
        self.config_file = config_file  # the -c file; UPDATE_BROKER_CONFIG writes to it
        self.topic_config_manager = TopicConfigManager(config)
        self.subscription_group_manager = SubscriptionGroupManager(config)
        self.consumer_offset_manager = ConsumerOffsetManager(config.store_path_root_dir)
        self.client_manager = ClientManager(
            notify_enabled=config.notify_consumer_ids_changed_enable,
            expire_seconds=config.channel_expired_timeout / 1000,
        )
        self.pull_hold_service = PullRequestHoldService(config.max_pull_holds_per_connection)
        self.pop_service = PopService(self)
        store_config = config.store_config()
        self.dledger_config = config.dledger_config()
        if self.dledger_config is not None:
            # The Raft log is what a send waits for (fsynced under SYNC_FLUSH); the
            # commit log holds committed records only and is flushed in the background.
            store_config.flush_disk_type = "ASYNC_FLUSH"
        self.message_store = MessageStore(store_config)
        self.schedule_service = ScheduleMessageService(
            self.message_store,
            config.message_delay_level,
            config.store_path_root_dir,
            config.flush_delay_offset_interval,
        )
        self.timer_service = TimerMessageService(self.message_store, config)
        self.transaction_service = TransactionalMessageService(self)
        self.registration = BrokerRegistration(self)
        self.ha_service: HAService | None = None
        self.ha_client: HAClient | None = None
        self.dledger: DLedgerRole | None = None
        if self.dledger_config is not None:
            # DLedger mode: a Raft group replicates the log and elects the master.
            self.dledger = DLedgerRole(self, self.dledger_config)
            self.message_store.replicated_log = self.dledger.commit_log
            self.slave_synchronize = SlaveSynchronize(
                self, period=DLEDGER_SYNC_SECONDS, first_delay=DLEDGER_SYNC_SECONDS
            )
        else:
            # Replication (orbitmq/ha): masters serve slaves on haListenPort, slaves follow.
            ha_config = config.ha_config()
            if config.is_master:
                self.ha_service = HAService(self.message_store, ha_config)
            else:
                self.ha_client = HAClient(
                    self.message_store, ha_config, lambda: self.registration.ha_server_addr
                )
            self.slave_synchronize = SlaveSynchronize(self)
        self.stats = BrokerStats()
        # Counted only when they are exported (the hot paths test for None).
        self.metrics = BrokerMetrics() if config.metrics_exporter_type == "PROM" else None
        self.metrics_exporter: MetricsExporter | None = None
        self.dispatcher = RequestDispatcher(f"broker {config.broker_name}")
        if self.metrics is not None:
            self.dispatcher.rpc_recorder = self.metrics.rpc.record
        self.admin_stats = AdminStatsHandler(self)
        for handler in (
            SendMessageHandler(self),
            EndTransactionHandler(self),
            PullMessageHandler(self),
            OffsetHandler(self),
            ClientHandler(self),
            LockHandler(self),
            ResetOffsetHandler(self),
            AdminHandler(self),
            QueryMessageHandler(self),
            self.admin_stats,
            AdminConfigHandler(self),
            DLedgerAdminHandler(self),
            PopHandler(self),
            AclAdminHandler(self),
        ):
            handler.register(self.dispatcher)
        TimerHandler(self).register(self.dispatcher)
        # aclEnable: every request is checked before its handler (RocketMQ's RPC hook), so
        # sends skip the send lane, which reads frames without the dispatcher.
        self.acl: AclStore | None = None
        if config.acl_enable:
            self.acl = AclStore(resolve_acl_path(config.acl_plain_file))
            self.dispatcher.validator = self.acl.validator()
        else:
            self.dispatcher.lane = SendLane(self)
        self.server: RemotingServer | None = None
        self.store_host = (config.broker_ip1, config.listen_port)
        self.boot_timestamp = int(time.time() * 1000)
        self.closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._role_tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Return once the store is recovered and the ports are listening.

        Raises:
            ConfigError: a setting cannot be used (aclEnable with a bad plain_acl.yml, ...).
        """
        if self.acl is not None:
            try:
                self.acl.load()
            except AclConfigError as exc:
                raise ConfigError(f"aclEnable=true: {exc}") from None
        self.topic_config_manager.load()
        self.subscription_group_manager.load()
        self.consumer_offset_manager.load()
        await self.message_store.start()
        self.message_store.set_message_arrival_listener(self._on_message_arrival)
        self.schedule_service.load()
        self.timer_service.load(self.topic_config_manager)
        self.transaction_service.load()
        config = self.config
        ports = [config.listen_port]
        if config.listen_port > 2:
            ports.append(config.listen_port - 2)  # the "VIP" port old Java clients use
        self.server = RemotingServer(
            self.dispatcher,
            config.bind_address,
            ports,
            limits=limits_from(config),
            tls=ServerTls.from_config(config.tls),
        )
        self.server.add_close_listener(self.client_manager.on_connection_closed)
        try:
            await self.server.start()
        except BaseException:
            await self.message_store.aclose()
            raise
        if self.ha_service is not None:
            try:
                await self.ha_service.start()
            except BaseException:
                await self.server.aclose()
                await self.message_store.aclose()
                raise
        if config.listen_port == 0:
            config.listen_port = self.server.bound_ports[0]
        if self.ha_service is not None and config.ha_listen_port == 0:
            config.ha_listen_port = self.ha_service.bound_port
        self.store_host = (config.broker_ip1, config.listen_port)
        try:
            await self._start_metrics_exporter()
        except BaseException:
            await self.server.aclose()
            if self.ha_service is not None:
                await self.ha_service.aclose()
            await self.message_store.aclose()
            raise
        self.topic_config_manager.persist()
        if self.dledger is not None:
            try:
                await self.dledger.start()
            except BaseException:
                await self.server.aclose()
                await self.message_store.aclose()
                raise
        else:
            # Clients may ask for routes as soon as we say we are up.
            await self.registration.register_all()
        if self.ha_client is not None:  # the registration told it the master's HA address
            await self.ha_client.start()
        self._tasks = [
            asyncio.create_task(self.registration.registration_service(), name="register_service"),
            asyncio.create_task(self._persist_offsets_loop(), name="consumer_offset_service"),
            asyncio.create_task(self._client_scan_loop(), name="client_expiry_service"),
            asyncio.create_task(self._stats_loop(), name="stats_service"),
            asyncio.create_task(
                self.admin_stats.sampler.stats_service(), name="offset_stats_service"
            ),
        ]
        if self.acl is not None:
            self._tasks.append(
                asyncio.create_task(self.acl.reload_service(), name="acl_reload_service")
            )
        if self.dledger is not None:
            self._tasks.append(
                asyncio.create_task(self.dledger.role_service(), name="dledger_role_service")
            )
        else:
            self._start_role_services()
        log.info(
            "broker %s (%s, id %d) listening on %s, store %s",
            config.broker_name,
            config.broker_role,
            config.broker_id,
            config.broker_addr,
            config.store_path_root_dir,
        )

    async def _start_metrics_exporter(self) -> None:
        """metricsExporterType=PROM: serve /metrics. prometheus-client and uvicorn are
        imported only then.

        Raises:
            ConfigError: the exporter's host:port cannot be bound (names the key).
        """
        config = self.config
        if config.metrics_exporter_type in ("OTLP_GRPC", "LOG"):
            log.warning(
                "metricsExporterType=%s is not supported by OrbitMQ; no metrics are "
                "exported (use PROM)",
                config.metrics_exporter_type,
            )
        if self.metrics is None:
            return
        from orbitmq.broker.metrics.exporter import MetricsExporter
        from orbitmq.http_serving import HttpServeError

        exporter = MetricsExporter(self, self.metrics)
        port = config.metrics_prom_exporter_port
        try:
            config.metrics_prom_exporter_port = await exporter.start(port)
        except HttpServeError as exc:
            raise ConfigError(
                f"metricsPromExporterPort={port} (metricsPromExporterHost={exporter.host}): {exc}"
            ) from exc
        self.metrics_exporter = exporter

    def _start_role_services(self) -> None:
        if self.config.is_master:  # slaves neither deliver delayed messages nor check
            self._role_tasks = [
                asyncio.create_task(
                    self.schedule_service.schedule_service(), name="schedule_message_service"
                ),
                asyncio.create_task(
                    self.schedule_service.persist_service(), name="delay_offset_service"
                ),
                asyncio.create_task(
                    self.transaction_service.check_service(), name="transaction_check_service"
                ),
            ]
            if self.timer_service.enabled:
                self._role_tasks.append(
                    asyncio.create_task(
                        self.timer_service.timer_service(), name="timer_message_service"
                    )
                )
        else:
            self._role_tasks = [
                asyncio.create_task(
                    self.slave_synchronize.slave_sync_service(), name="slave_sync_service"
                )
            ]

    async def _stop_role_services(self) -> None:
        for task in self._role_tasks:
            task.cancel()
        for task in self._role_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._role_tasks = []

    async def change_role(self, role: str, broker_id: int) -> None:
        """DLedger mode: become master (SYNC_MASTER, id 0) or slave, and re-register now."""
        config = self.config
        await self._stop_role_services()
        if not config.is_master:
            self.schedule_service.persist()  # what slave sync copied is where masters go on
        config.broker_role = role
        config.broker_id = broker_id
        if config.is_master:
            self.transaction_service.forget_open_halves()
        self._start_role_services()
        log.info("broker %s is now %s (id %d)", config.broker_name, role, broker_id)
        self.registration.request_register()

    def _on_message_arrival(self, topic: str, queue_id: int, next_offset: int) -> None:
        self.pull_hold_service.notify_message_arriving(topic, queue_id, next_offset)
        self.pop_service.notify_arrival(topic)
        if topic == SCHEDULE_TOPIC:
            self.schedule_service.on_message_arrival(queue_id)
        elif topic == TIMER_TOPIC:
            self.timer_service.on_message_arrival()

    def schedule_register(self) -> None:
        self.registration.request_register()

    def disk_used_ratio(self) -> float:
        try:
            usage = shutil.disk_usage(self.config.store_path_root_dir)
        except OSError:
            return 0.0
        return usage.used / usage.total if usage.total else 0.0

    async def _persist_offsets_loop(self) -> None:
        period = self.config.flush_consumer_offset_interval / 1000
        while True:
            await asyncio.sleep(period)
            try:
                self.consumer_offset_manager.persist_if_dirty()
            except OSError:
                log.exception("persisting consumer offsets failed")

    async def _client_scan_loop(self) -> None:
        while True:
            await asyncio.sleep(CLIENT_SCAN_SECONDS)
            self.client_manager.scan_expired()

    async def _stats_loop(self) -> None:
        # Started as start()'s last step: the ports listen and the broker is registered.
        self.stats.start_accept_send_ms = int(self.stats.wall_clock() * 1000)
        while True:
            self.stats.sample(time.monotonic())
            await asyncio.sleep(STATS_SECONDS)

    async def aclose(self) -> None:
        """Stop cleanly: unregister, answer held pulls, persist configs, close the store."""
        self.closing = True
        if self.metrics_exporter is not None:
            await self.metrics_exporter.aclose()
            self.metrics_exporter = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self._stop_role_services()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                await self.registration.unregister_all()
        await self.registration.aclose()
        await self.slave_synchronize.aclose()
        self.pull_hold_service.wake_all()
        await asyncio.sleep(0)
        if self.server is not None:
            await self.server.aclose()
        if self.ha_client is not None:
            await self.ha_client.aclose()
        if self.ha_service is not None:
            await self.ha_service.aclose()
        if self.dledger is not None:
            await self.dledger.aclose()
        self.transaction_service.commit_progress()
        self.schedule_service.persist()
        self.consumer_offset_manager.persist()
        self.topic_config_manager.persist()
        self.subscription_group_manager.persist()
        await self.message_store.aclose()
        log.info("broker %s stopped (pid %d)", self.config.broker_name, os.getpid())

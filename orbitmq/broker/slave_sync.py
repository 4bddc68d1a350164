"""Metadata synchronisation master -> slave (SlaveSynchronize.java, store-and-replication.md §8.5).

On a slave, `slave_sync_service` asks the master learned at registration, every 10 s
(first after 3 s), for its metadata and takes it over, persisting each part at once:

  GET_ALL_TOPIC_CONFIG (21)              replace the topic table when the dataVersion differs
  GET_ALL_CONSUMER_OFFSET (43)           put-all the master's offsets over ours
  GET_ALL_DELAY_OFFSET (45)              the master's delay-level progress becomes ours
  GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) replace the group table when the dataVersion differs
  GET_TIMER_CHECKPOINT (OrbitMQ's)       the master's timer progress becomes ours
                                         (timerWheelEnable=true only)

A round is skipped while the master is unknown or is this broker; a part that fails is
logged and the others still run, as Java's syncAll does. The body parsers are pure and
accept fastjson's unquoted integer keys.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from orbitmq.broker.subscription_group import SubscriptionGroupConfig
from orbitmq.broker.timer import GET_TIMER_CHECKPOINT
from orbitmq.broker.timer.progress import CheckpointError, TimerProgress
from orbitmq.broker.topic_config import DataVersion, TopicConfig
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import dial_context

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

SYNC_PERIOD_SECONDS = 10.0
SYNC_FIRST_DELAY_SECONDS = 3.0
SYNC_TIMEOUT_SECONDS = 3.0


class SlaveSyncError(Exception):
    """The master refused a sync request or answered a body we cannot read."""


# --------------------------------------------------------------------------- pure core


def _object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = loads_tolerant(body)
    except ValueError as exc:
        raise SlaveSyncError(f"{what} body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SlaveSyncError(f"{what} body is not a JSON object")
    return data


def _data_version(data: dict[str, Any]) -> DataVersion:
    version = data.get("dataVersion") or {}
    return DataVersion(int(version.get("counter", 0)), int(version.get("timestamp", 0)))


def same_version(a: DataVersion, b: DataVersion) -> bool:
    """DataVersion.equals: counter and timestamp both match."""
    return a.counter == b.counter and a.timestamp == b.timestamp


def parse_topic_configs(body: bytes) -> tuple[DataVersion, dict[str, TopicConfig]]:
    """A TopicConfigSerializeWrapper: {"dataVersion":{…}, "topicConfigTable":{name:{…}}}."""
    data = _object(body, "GET_ALL_TOPIC_CONFIG")
    try:
        table = {
            name: TopicConfig.from_json({"topicName": name, **item})
            for name, item in (data.get("topicConfigTable") or {}).items()
        }
        return _data_version(data), table
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SlaveSyncError(f"GET_ALL_TOPIC_CONFIG body is invalid: {exc}") from exc


def parse_subscription_groups(
    body: bytes,
) -> tuple[DataVersion, dict[str, SubscriptionGroupConfig]]:
    """A SubscriptionGroupWrapper: {"dataVersion":{…}, "subscriptionGroupTable":{name:{…}}}."""
    data = _object(body, "GET_ALL_SUBSCRIPTIONGROUP_CONFIG")
    try:
        table = {
            name: SubscriptionGroupConfig.from_json({"groupName": name, **item})
            for name, item in (data.get("subscriptionGroupTable") or {}).items()
        }
        return _data_version(data), table
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SlaveSyncError(f"GET_ALL_SUBSCRIPTIONGROUP_CONFIG body is invalid: {exc}") from exc


def parse_consumer_offsets(body: bytes) -> dict[str, dict[int, int]]:
    """A ConsumerOffsetSerializeWrapper: {"offsetTable":{"topic@group":{queueId:offset}}}."""
    data = _object(body, "GET_ALL_CONSUMER_OFFSET")
    try:
        return {
            key: {int(q): int(o) for q, o in queues.items()}
            for key, queues in (data.get("offsetTable") or {}).items()
        }
    except (AttributeError, TypeError, ValueError) as exc:
        raise SlaveSyncError(f"GET_ALL_CONSUMER_OFFSET body is invalid: {exc}") from exc


def parse_delay_offsets(body: bytes) -> dict[int, int]:
    """delayOffset.json's content: {"offsetTable":{level:offset}}."""
    data = _object(body, "GET_ALL_DELAY_OFFSET")
    try:
        return {int(k): int(v) for k, v in (data.get("offsetTable") or {}).items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise SlaveSyncError(f"GET_ALL_DELAY_OFFSET body is invalid: {exc}") from exc


def parse_timer_checkpoint(body: bytes) -> dict[str, Any]:
    """config/timercheck.json's content (broker/timer/progress.py), checked."""
    data = _object(body, "GET_TIMER_CHECKPOINT")
    try:
        TimerProgress.from_json(data)
    except CheckpointError as exc:
        raise SlaveSyncError(f"GET_TIMER_CHECKPOINT body is invalid: {exc}") from exc
    return data


class _VersionedTable(Protocol):
    """TopicConfigManager and SubscriptionGroupManager: a table with a dataVersion."""

    table: Any
    data_version: DataVersion

    def persist(self) -> None: ...


def _replace_if_changed(
    manager: _VersionedTable, version: DataVersion, table: dict[str, Any], what: str
) -> None:
    """Take the master's table over when its dataVersion differs (Java: !equals)."""
    if same_version(version, manager.data_version):
        return
    manager.table = table
    manager.data_version = version
    manager.persist()
    log.info("%s taken over (version %d)", what, version.counter)


# --------------------------------------------------------------------------- the service


class SlaveSynchronize:
    """Copies the master's metadata onto this slave.

    Args:
        broker: the slave's controller; its registration supplies the master address.
        period: seconds between rounds.
        first_delay: seconds before the first round.
    """

    def __init__(
        self,
        broker: BrokerController,
        period: float = SYNC_PERIOD_SECONDS,
        first_delay: float = SYNC_FIRST_DELAY_SECONDS,
    ) -> None:
        self._broker = broker
        self._period = period
        self._first_delay = first_delay
        self._client = RemotingClient(tls=dial_context(broker.config.tls))

    @property
    def master_addr(self) -> str | None:
        """The master to copy from; None while unknown, or when it is ourselves."""
        addr = self._broker.registration.master_addr
        if not addr or addr == self._broker.config.broker_addr:
            return None
        return addr

    async def slave_sync_service(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self.sync_all()
            except Exception:
                log.exception("slave sync round failed")
            await asyncio.sleep(self._period)

    async def sync_all(self) -> None:
        """One round: topics, consumer offsets, delay offsets, subscription groups, and
        the timer checkpoint."""
        master = self.master_addr
        if master is None:
            return
        parts = [
            self.sync_topic_config,
            self.sync_consumer_offset,
            self.sync_delay_offset,
            self.sync_subscription_group_config,
        ]
        if self._broker.timer_service.enabled:
            parts.append(self.sync_timer_checkpoint)
        for part in parts:
            try:
                await part(master)
            except (RemotingError, SlaveSyncError, OSError) as exc:
                log.warning("slave sync %s from master %s failed: %s", part.__name__, master, exc)

    async def _fetch(self, master: str, code: int) -> bytes:
        response = await self._client.invoke(
            master, RemotingCommand.request(code), SYNC_TIMEOUT_SECONDS
        )
        if response.code != ResponseCode.SUCCESS:
            name = (
                "GET_TIMER_CHECKPOINT" if code == GET_TIMER_CHECKPOINT else RequestCode(code).name
            )
            raise SlaveSyncError(f"master answered {name} with {response.code}: {response.remark}")
        return response.body or b""

    async def sync_topic_config(self, master: str) -> None:
        version, table = parse_topic_configs(
            await self._fetch(master, RequestCode.GET_ALL_TOPIC_CONFIG)
        )
        _replace_if_changed(
            self._broker.topic_config_manager, version, table, f"topic configs from {master}"
        )

    async def sync_consumer_offset(self, master: str) -> None:
        offsets = parse_consumer_offsets(
            await self._fetch(master, RequestCode.GET_ALL_CONSUMER_OFFSET)
        )
        self._broker.consumer_offset_manager.merge_offsets(offsets)

    async def sync_delay_offset(self, master: str) -> None:
        offsets = parse_delay_offsets(await self._fetch(master, RequestCode.GET_ALL_DELAY_OFFSET))
        self._broker.schedule_service.replace_offsets(offsets)

    async def sync_timer_checkpoint(self, master: str) -> None:
        checkpoint = parse_timer_checkpoint(await self._fetch(master, GET_TIMER_CHECKPOINT))
        self._broker.timer_service.replace_checkpoint(checkpoint)

    async def sync_subscription_group_config(self, master: str) -> None:
        version, table = parse_subscription_groups(
            await self._fetch(master, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
        )
        _replace_if_changed(
            self._broker.subscription_group_manager,
            version,
            table,
            f"subscription groups from {master}",
        )

    async def aclose(self) -> None:
        await self._client.aclose()

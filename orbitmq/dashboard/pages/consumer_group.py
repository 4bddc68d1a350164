"""One consumer group, read live when its page is opened (never from the list's cache):
its clients (GET_CONSUMER_CONNECTION_LIST), its progress on every broker of the group
(GET_CONSUME_STATS to each broker of the `%RETRY%<group>` route, else to every master, as
`mqadmin consumerProgress -g` does), the client holding each queue (each client's
GET_CONSUMER_RUNNING_INFO mqTable) and its config on every master. Each call is bounded,
so a dead broker becomes a failure line instead of a slow page."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from orbitmq.client.admin_bodies import ConsumerConnection
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console, describe_error
from orbitmq.dashboard.pages.consumer_model import TopicProgress, merge_stats, topic_progress

log = logging.getLogger(__name__)


class NameServerFailure(Exception):
    """The NameServer did not answer; the page can only say so."""

    def __init__(self, failure: BrokerFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def unique_failures(failures: list[BrokerFailure]) -> list[BrokerFailure]:
    """One line per server: a dead broker fails every call made to it."""
    seen: dict[str, BrokerFailure] = {}
    for failure in failures:
        seen.setdefault(failure.addr, failure)
    return sorted(seen.values(), key=lambda f: (f.name, f.addr))


async def _from_namesrv(console: Console, call: Any) -> Any:
    try:
        return await console.bounded(call)
    except CALL_ERRORS as exc:
        raise NameServerFailure(console.namesrv_failure(exc)) from exc


async def group_brokers(console: Console, group: str) -> list[tuple[str, str]]:
    """(broker name, address) the group's offsets and clients are asked at."""
    info = await _from_namesrv(console, console.cluster_info())
    name_of = {
        addr: name
        for name, data in info.broker_addr_table.items()
        for addr in data.broker_addrs.values()
    }
    addrs = await _from_namesrv(console, console.admin.group_broker_addrs(group))
    return [(name_of.get(addr, "?"), addr) for addr in addrs]


async def find_connection(
    console: Console, group: str, brokers: list[tuple[str, str]]
) -> tuple[ConsumerConnection | None, str, list[BrokerFailure]]:
    """The group's connections as the first broker that has members sees them, with that
    broker's address (running-info requests are relayed through it)."""
    failures = []
    for name, addr in brokers:
        try:
            connection = await console.bounded(console.admin.get_consumer_connection(addr, group))
        except ConsumerNotOnlineError:
            continue
        except CALL_ERRORS as exc:
            reason = describe_error(exc, console.config.admin_timeout)
            failures.append(BrokerFailure(name, addr, reason))
            continue
        if connection.connections:
            return connection, addr, failures
    return None, "", failures


async def queue_owners(
    console: Console, group: str, connection: ConsumerConnection, broker_addr: str
) -> dict[MessageQueue, str]:
    """Queue -> client id, from the mqTable each client reports (clients that do not
    answer, or report no queues, own none here)."""

    async def one(client_id: str) -> dict[MessageQueue, str]:
        call = console.admin.get_consumer_running_info(group, client_id, broker_addr=broker_addr)
        try:
            info = await console.bounded(call)
        except CALL_ERRORS as exc:
            log.info("console: running info of %s/%s: %s", group, client_id, exc)
            return {}
        return dict.fromkeys(info.mq_table, client_id)

    owners: dict[MessageQueue, str] = {}
    for part in await asyncio.gather(*(one(c.client_id) for c in connection.connections)):
        owners.update(part)
    return owners


@dataclass(frozen=True, slots=True)
class Progress:
    topics: list[TopicProgress]
    tps: float
    brokers: list[tuple[str, str]]

    @property
    def lag(self) -> int:
        return sum(t.lag for t in self.topics)

    @property
    def broker_offset(self) -> int:
        return sum(t.broker_offset for t in self.topics)

    @property
    def consumer_offset(self) -> int:
        return sum(t.consumer_offset for t in self.topics)

    @property
    def broker_names(self) -> list[str]:
        return sorted({name for name, _ in self.brokers})

    @property
    def queue_count(self) -> int:
        return sum(len(t.queues) for t in self.topics)


async def load_progress(console: Console, group: str) -> tuple[Progress, list[BrokerFailure]]:
    brokers = await group_brokers(console, group)

    async def stats(addr: str) -> Any:
        return await console.admin.get_consume_stats(addr, group)

    (answers, failures), (connection, via, connection_failures) = await asyncio.gather(
        console.each(brokers, stats), find_connection(console, group, brokers)
    )
    owners = await queue_owners(console, group, connection, via) if connection else {}
    merged = merge_stats(answers[addr] for _, addr in brokers if addr in answers)
    progress = Progress(topic_progress(merged, owners), merged.consume_tps, brokers)
    return progress, unique_failures(failures + connection_failures)


async def load_client(
    console: Console, group: str
) -> tuple[ConsumerConnection | None, list[BrokerFailure]]:
    brokers = await group_brokers(console, group)
    connection, _, failures = await find_connection(console, group, brokers)
    return connection, failures


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    name: str
    addr: str
    config: dict[str, Any] | None  # None: the broker has no config of the group


async def load_configs(
    console: Console, group: str
) -> tuple[list[BrokerConfig], list[BrokerFailure]]:
    """The group's SubscriptionGroupConfig on every master that answered."""
    masters = await _from_namesrv(console, console.masters())
    answers, failures = await console.each(masters, console.admin.get_all_subscription_group)
    configs = [
        BrokerConfig(name, addr, answers[addr].get(group))
        for name, addr in masters
        if addr in answers
    ]
    return configs, failures

"""A DLedger broker follows its Raft role (DLedgerRoleChangeHandler.java).

Theory of operation: the Raft member (orbitmq/dledger/node.py) reports role changes as
they happen. Losing leadership stops writes at once (in the callback itself, so no send
is proposed by a deposed leader). Everything else runs in `role_service`, one change
at a time:
* follower (or candidate): the broker becomes a slave with id = member digits + 1,
  copies topics, groups and consumer offsets from the leader's broker every second,
  and re-registers with every NameServer at once;
* leader: once its no-op entry (and so everything before it) is committed, applied to
  the commit log and dispatched to the consume queues, the broker takes the log's end
  and queue offsets, becomes SYNC_MASTER with id 0, starts delayed-message delivery and
  transaction checks, and re-registers at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from orbitmq.broker.topic_config import TopicConfig
from orbitmq.dledger.commit_log import DLedgerCommitLog, find_applied_index
from orbitmq.dledger.config import DLedgerConfig, follower_broker_id
from orbitmq.dledger.messages import Role
from orbitmq.dledger.node import DLedgerNode
from orbitmq.dledger.raft import RoleChange
from orbitmq.dledger.retention import RetentionConfig
from orbitmq.remoting.limits import limits_from

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

log = logging.getLogger(__name__)

# Consumer offsets reach followers this often, so a failover re-delivers at most about
# this much consumption (RocketMQ's SlaveSynchronize runs every 10 s).
DLEDGER_SYNC_SECONDS = 1.0
_LEADER_READY_POLL_S = 0.01


class DLedgerRole:
    def __init__(self, broker: BrokerController, config: DLedgerConfig) -> None:
        self._broker = broker
        self.config = config
        self.node = DLedgerNode(
            config,
            apply=self._apply,
            on_role_change=self._on_role_change,
            broker_addr=lambda: broker.config.broker_addr,
            retention=RetentionConfig.from_store_config(
                broker.message_store.config, broker.message_store.flush_commit_log
            ),
            limits=limits_from(broker.config),
        )
        self.commit_log = DLedgerCommitLog(broker.message_store, self.node)
        self._wake = asyncio.Event()
        self._latest: RoleChange | None = None
        self.follower_id = follower_broker_id(config.self_id)

    def _apply(self, body: memoryview) -> None:
        self.commit_log.apply(body)

    async def start(self) -> None:
        """Open the Raft log, resume applying after what the commit log holds, and
        register as a follower until an election says otherwise."""
        self.node.open()
        store = self._broker.message_store
        applied = find_applied_index(self.node.log, store.commit_log.max_offset)
        await self.node.start(applied)
        await self._broker.change_role("SLAVE", self.follower_id)

    async def aclose(self) -> None:
        self.commit_log.become_read_only()
        await self.node.aclose()

    def _on_role_change(self, change: RoleChange) -> None:
        if change.role is not Role.LEADER:
            self.commit_log.become_read_only()
            leader_addr = self.node.leader_broker_addr()
            if leader_addr:
                self._broker.registration.master_addr = leader_addr
        self._latest = change
        self._wake.set()

    async def role_service(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            change = self._latest
            if change is None:
                continue
            if change.role is Role.LEADER:
                await self._become_master(change.term)
            elif self._broker.config.is_master:
                await self._broker.change_role("SLAVE", self.follower_id)

    async def _become_master(self, term: int) -> None:
        node = self.node
        store = self._broker.message_store
        while not self._caught_up():
            if not self._leads_in(term) or self._wake.is_set():
                return
            await asyncio.sleep(_LEADER_READY_POLL_S)
        await store.wait_dispatched(store.commit_log.max_offset)
        if not self._leads_in(term):
            return
        self.commit_log.become_writable()
        self._adopt_replicated_topics()
        await self._broker.change_role("SYNC_MASTER", 0)
        log.info(
            "DLedger %s: %s leads term %d; master at commit log offset %d (entry %d)",
            self.config.group,
            self.config.self_id,
            term,
            store.commit_log.max_offset,
            node.applied_index,
        )

    def _adopt_replicated_topics(self) -> None:
        """Topic configs travel by slave sync (every second), messages by Raft: a topic
        created just before a failover can have committed messages here but no config.
        Recreate such topics with the queues the log shows, so they stay readable."""
        topics = self._broker.topic_config_manager
        for topic, queue_ids in self._broker.message_store.topic_queue_ids().items():
            if topics.get(topic) is None:
                queues = max(queue_ids) + 1
                topics.update(
                    TopicConfig(topic, read_queue_nums=queues, write_queue_nums=queues)
                )
                log.warning(
                    "DLedger %s: topic %s had committed messages but no config here; "
                    "recreated it with %d queues",
                    self.config.group,
                    topic,
                    queues,
                )

    def _leads_in(self, term: int) -> bool:
        core = self.node.core
        return core is not None and core.role is Role.LEADER and core.term == term

    def _caught_up(self) -> bool:
        node = self.node
        core = node.core
        return (
            core is not None
            and core.committed_index == node.log.last_index
            and node.applied_index == core.committed_index
            and node.apply_failure is None
        )

    def not_leader_remark(self) -> str:
        return self.commit_log.not_leader_remark()

    def status(self) -> dict[str, object]:
        status = self.node.status()
        status["broker_id"] = self._broker.config.broker_id
        status["broker_role"] = self._broker.config.broker_role
        status["writable"] = self.commit_log.writable
        return status

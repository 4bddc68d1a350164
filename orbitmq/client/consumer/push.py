"""PushConsumer: the broker's messages delivered to a listener (DefaultMQPushConsumer).

Theory of operation. `start()` fetches the routes of the subscribed topics (plus
`%RETRY%<group>` in clustering mode), sends a heartbeat carrying the subscriptions, and
starts these services:
  _rebalance_loop   every 20 s, and at once on NOTIFY_CONSUMER_IDS_CHANGED or a route
                    change: decide the owned queues, drop the others (persisting their
                    offsets), and start a pull loop for each new one
  _pull_loop(mq)    one per owned queue: long-polling PULL_MESSAGE, hand messages to the
                    ConsumeService, pull again at nextBeginOffset
  _persist_loop     every 5 s: persist the offsets of owned queues
A new queue starts at its stored offset, else (LAST_OFFSET) the queue's max offset,
(FIRST_OFFSET) 0, (TIMESTAMP) the offset searched by time; retry topics start at 0.

Orderly consumption (`register_message_listener(listener, orderly=True)`, the listener
returning ConsumeOrderlyStatus): in clustering mode a queue is taken only once this
member holds its lock at the broker (LOCK_BATCH_MQ); a queue another member still holds
is left for a retry of the rebalance (0.5 s, doubling). Locks are renewed every 20 s by
  _lock_loop        LOCK_BATCH_MQ for every owned queue, per broker
and trusted for 30 s after the last successful lock. A released queue is unlocked
(UNLOCK_BATCH_MQ) only after its in-flight batch finished and its offset was persisted,
so the next owner starts exactly where this one stopped; until then the queue is not
taken again. Each queue is consumed by one task in offset order (consume_orderly.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client.consumer.broker_requests import (
    now_ms,
    parse_reset_offsets,
    running_info_body,
)
from orbitmq.client.consumer.consume import ConsumeService, MessageListener
from orbitmq.client.consumer.consume_directly import consume_directly, message_for_listener
from orbitmq.client.consumer.consume_orderly import (
    MessageListenerOrderly,
    OrderlyConsumeService,
)
from orbitmq.client.consumer.consume_stats import ConsumerStatsManager, counted_listener
from orbitmq.client.consumer.locks import QueueLocks
from orbitmq.client.consumer.offset_store import (
    LocalFileOffsetStore,
    OffsetStore,
    RemoteOffsetStore,
    default_offset_dir,
)
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.consumer.puller import QueuePuller
from orbitmq.client.consumer.rebalance import Rebalancer, compute_pull_from_where
from orbitmq.client.consumer.running_info import QueueClock, mq_table
from orbitmq.client.consumer.selector import MessageSelector, subscription_for
from orbitmq.client.errors import MQClientError
from orbitmq.client.heartbeat import (
    CLUSTERING,
    CONSUME_FROM_WHERE,
    MESSAGE_MODELS,
    ConsumerData,
    heartbeat_body,
)
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.client.trace import TraceDispatcher
from orbitmq.client.transport import ClientConnection
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.subscription import SubscriptionData, parse_subscription
from orbitmq.protocol.topics import retry_topic
from orbitmq.remoting.dispatch import RequestDispatcher
from orbitmq.remoting.tls import TlsConfig

log = logging.getLogger(__name__)

REBALANCE_INTERVAL = 20.0
REBALANCE_RETRY_MIN = 0.5
PERSIST_INTERVAL = 5.0
LOCK_INTERVAL = 20.0  # rocketmq.client.rebalance.lockInterval
RELEASE_WAIT = 1.0  # how long a rebalance waits for a released queue's in-flight batch


class PushConsumer:
    """An asyncio push consumer.

    Args:
        group: consumer group.
        namesrv_addr: NameServer addresses separated by ';'.
        message_model: "CLUSTERING" (queues shared in the group) or "BROADCASTING".
        consume_from_where: where a queue without a stored offset starts:
            CONSUME_FROM_LAST_OFFSET, CONSUME_FROM_FIRST_OFFSET or CONSUME_FROM_TIMESTAMP.
        consume_timestamp: ms epoch for CONSUME_FROM_TIMESTAMP (default: 30 min ago).
        consume_thread_max: most listener calls in flight at once.
        pull_batch_size: maxMsgNums of each pull.
        consume_message_batch_max_size: most messages handed to one listener call.
        offset_store_dir: broadcasting offsets directory
            (default ~/.orbitmq_offsets/<client id>/<group>).
        instance_name: replaces `<pid>#<ns>` in the client id.
        max_reconsume_times: how often a failed message is retried; -1 (default) means
            16 through the retry topic for concurrent listeners and forever (locally)
            for orderly ones. Past it, the message goes to `%DLQ%<group>`.
        suspend_current_queue_time_millis: orderly listeners: how long a queue pauses
            after SUSPEND_CURRENT_QUEUE_A_MOMENT before the same messages are retried.
        enable_trace: record every listener call (SubBefore/SubAfter) in the trace topic.
        credentials: an ACL account's keys; every request is signed with them.
        tls: dial with TLS: True (any server certificate), or a TlsConfig's `tls.client.*`.
        trace_topic: the trace topic (default RMQ_SYS_TRACE_TOPIC).
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        message_model: str = CLUSTERING,
        consume_from_where: str = "CONSUME_FROM_LAST_OFFSET",
        consume_timestamp: int | None = None,
        consume_thread_max: int = 20,
        pull_batch_size: int = 32,
        consume_message_batch_max_size: int = 1,
        offset_store_dir: str | Path | None = None,
        instance_name: str | None = None,
        max_reconsume_times: int = -1,
        suspend_current_queue_time_millis: int = 1000,
        enable_trace: bool = False,
        trace_topic: str | None = None,
        credentials: SessionCredentials | None = None,
        tls: bool | TlsConfig = False,
    ) -> None:
        if message_model not in MESSAGE_MODELS:
            raise ValueError(f"message_model must be one of {MESSAGE_MODELS}")
        if consume_from_where not in CONSUME_FROM_WHERE:
            raise ValueError(f"consume_from_where must be one of {CONSUME_FROM_WHERE}")
        self.group = group
        self.message_model = message_model
        self.consume_from_where = consume_from_where
        self.consume_timestamp = consume_timestamp
        self.consume_thread_max = consume_thread_max
        self.pull_batch_size = pull_batch_size
        self.consume_message_batch_max_size = consume_message_batch_max_size
        self.max_reconsume_times = max_reconsume_times
        self.suspend_current_queue_time_millis = suspend_current_queue_time_millis
        self._offset_store_dir = Path(offset_store_dir) if offset_store_dir else None
        dispatcher = RequestDispatcher(f"consumer {group}")
        dispatcher.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_ids_changed)
        dispatcher.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, self._on_reset_offset)
        dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._on_running_info)
        dispatcher.register(RequestCode.CONSUME_MESSAGE_DIRECTLY, self._on_consume_directly)
        self._instance = ClientInstance(
            namesrv_addr,
            instance_name=instance_name,
            dispatcher=dispatcher,
            credentials=credentials,
            tls=tls,
        )
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._listener: MessageListener | MessageListenerOrderly | None = None
        self._orderly = False
        self._offsets: OffsetStore | None = None
        self._clock: QueueClock | None = None  # the running info's per-queue times
        self._stats = ConsumerStatsManager()  # the running info's statusTable
        self._consume: ConsumeService | OrderlyConsumeService | None = None
        self._locks = QueueLocks(self._instance, group)
        self._trace = (
            TraceDispatcher(namesrv_addr, group, trace_topic, credentials=credentials, tls=tls)
            if enable_trace
            else None
        )
        self._pullers: dict[MessageQueue, QueuePuller] = {}
        self._releasing: dict[MessageQueue, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._queue_signature: dict[str, tuple[MessageQueue, ...]] = {}
        self._started = False
        self._closing = False
        self._start_time = 0
        self._rebalance_task: asyncio.Task[None] | None = None

    @property
    def client_id(self) -> str:
        return self._instance.client_id

    @property
    def retry_topic(self) -> str:
        return retry_topic(self.group)

    @property
    def owned_queues(self) -> list[MessageQueue]:
        """The queues this member currently pulls."""
        return sorted(self._pullers)

    @property
    def orderly(self) -> bool:
        """Whether the registered listener is an orderly one."""
        return self._orderly

    @property
    def _uses_locks(self) -> bool:
        return self._orderly and self.message_model == CLUSTERING

    def subscribe(self, topic: str, expression: str | MessageSelector = "*") -> None:
        """Subscribe to `topic` with a TAG expression (`*` or `TagA || TagB`) or a
        MessageSelector (`MessageSelector.by_sql("a > 5")`).

        Raises:
            ValueError: the expression is invalid; for SQL92 an `SqlSyntaxError` whose
                message names the column.
        """
        self._subscriptions[topic] = subscription_for(topic, expression)
        if self._started:
            self._wake.set()
            self._instance.spawn(self._instance.send_heartbeat(), "_subscribe_heartbeat")

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming `topic` (its queues are released at the next rebalance)."""
        self._subscriptions.pop(topic, None)
        self._wake.set()
        if self._started:
            self._instance.spawn(self._instance.send_heartbeat(), "_unsubscribe_heartbeat")

    def register_message_listener(
        self, listener: MessageListener | MessageListenerOrderly, *, orderly: bool = False
    ) -> None:
        """Set the listener, `def` or `async def (msgs: list[MessageExt])`.

        Args:
            listener: concurrent (default): returns ConsumeStatus; an exception, or
                anything but CONSUME_SUCCESS, means RECONSUME_LATER (the messages go
                back to the broker and return later through the retry topic).
                Orderly: returns ConsumeOrderlyStatus; anything but SUCCESS (an
                exception too) means SUSPEND_CURRENT_QUEUE_A_MOMENT: the same messages
                are given again after `suspend_current_queue_time_millis`, and nothing
                later in that queue is delivered before them.
            orderly: consume each queue by one task in offset order, holding the
                queue's broker lock (MessageListenerOrderly).
        """
        if self._started:
            raise MQClientError("register the listener before start()")
        self._listener = listener
        self._orderly = orderly

    async def start(self) -> None:
        """Fetch routes, heartbeat, and start rebalancing and pulling.

        Raises:
            MQClientError: no listener or no subscription.
        """
        if self._started:
            return
        if self._listener is None:
            raise MQClientError("register a message listener before start()")
        if not self._subscriptions:
            raise MQClientError("subscribe to at least one topic before start()")
        inst = self._instance
        if self.message_model == CLUSTERING:
            self._subscriptions.setdefault(self.retry_topic, parse_subscription(self.retry_topic))
            self._offsets = RemoteOffsetStore(inst, self.group)
        else:
            directory = self._offset_store_dir or default_offset_dir(self.client_id, self.group)
            self._offsets = LocalFileOffsetStore(directory)
        # The consume services record offsets through the clock (it only adds times),
        # and call the listener through a wrapper that counts the calls' outcomes.
        self._clock = clock = QueueClock(self._offsets)
        listener = counted_listener(self._listener, self._stats, self.group, self._orderly)
        if self._orderly:
            self._consume = OrderlyConsumeService(
                inst,
                self.group,
                self.message_model,
                clock,  # type: ignore[arg-type]  # duck-typed: they only call update()
                listener,
                self.consume_thread_max,
                batch_size=self.consume_message_batch_max_size,
                max_reconsume_times=self.max_reconsume_times,
                suspend_seconds=self.suspend_current_queue_time_millis / 1000,
                lock_queue=self._lock_one,
                trace=self._trace,
            )
        else:
            self._consume = ConsumeService(
                inst,
                self.group,
                self.message_model,
                clock,  # type: ignore[arg-type]  # duck-typed: they only call update()
                listener,
                self.consume_thread_max,
                self.max_reconsume_times if self.max_reconsume_times >= 0 else 16,
                self._trace,
            )
        for topic in list(self._subscriptions):
            try:
                await inst.routes.refresh(topic)
            except Exception as exc:
                log.warning("route of %s unavailable at start: %s", topic, exc)
        try:
            await self._check_client_config()
            if self._trace is not None:
                await self._trace.start()
        except BaseException:
            await self._consume.aclose()
            if self._trace is not None:
                await self._trace.aclose()
            await inst.aclose()
            raise
        inst.heartbeat_body = self._heartbeat_body  # set now: one heartbeat, not two
        inst.heartbeat_masters_only = False
        inst.topics = lambda: list(self._subscriptions)
        inst.on_routes_refreshed = self._check_route_changes
        self._check_route_changes()
        await inst.send_heartbeat()
        inst.start_services()
        self._rebalance_task = inst.spawn(self._rebalance_loop(), "_rebalance_loop")
        inst.run_every("_persist_loop", PERSIST_INTERVAL, self._persist_offsets, PERSIST_INTERVAL)
        if self._uses_locks:
            inst.run_every("_lock_loop", LOCK_INTERVAL, self._lock_all, LOCK_INTERVAL)
        self._started = True
        self._start_time = now_ms()

    async def shutdown(self) -> None:
        """Stop pulling, let running listeners finish (5 s), persist offsets, unregister."""
        if not self._started or self._instance.closed:
            return
        self._closing = True  # no lock is taken or renewed from here on
        if self._rebalance_task is not None:  # no queue may be added from here on
            self._rebalance_task.cancel()
            await asyncio.wait([self._rebalance_task])
        pullers = list(self._pullers.values())
        for puller in pullers:
            puller.stop()
        if self._releasing:
            await asyncio.wait(list(self._releasing.values()), timeout=5.0)
        if self._consume is not None:
            await self._consume.aclose()
        if self._trace is not None:
            await self._trace.aclose()
        for puller in pullers:
            puller.pq.dropped = True
        await self._persist_offsets()
        if self._uses_locks and self._pullers:
            await self._locks.unlock(list(self._pullers))
        await self._instance.unregister(consumer_group=self.group)
        await self._instance.aclose()

    async def __aenter__(self) -> PushConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    # Rebalance ---------------------------------------------------------------------------
    async def _rebalance_loop(self) -> None:
        """Rebalance every 20 s or when woken; while a topic has no route or no consumer
        list yet, retry sooner (0.5 s, doubling up to 20 s)."""
        rebalancer = Rebalancer(self._instance, self.group, self.message_model)
        retry_delay = REBALANCE_RETRY_MIN
        while True:
            self._wake.clear()
            complete = False
            try:
                complete = await self._rebalance_once(rebalancer)
            except Exception:
                log.exception("rebalance of %s failed", self.group)
            if complete:
                delay, retry_delay = REBALANCE_INTERVAL, REBALANCE_RETRY_MIN
            else:
                delay, retry_delay = retry_delay, min(retry_delay * 2, REBALANCE_INTERVAL)
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _rebalance_once(self, rebalancer: Rebalancer) -> bool:
        """One round over every subscription; False if some topic could not be decided
        (or, orderly, some assigned queue could not be locked yet)."""
        for mq in [mq for mq in self._pullers if mq.topic not in self._subscriptions]:
            await self._drop_queue(mq)
        complete = True
        for topic, subscription in list(self._subscriptions.items()):
            assigned = await rebalancer.assigned_queues(subscription)
            if assigned is None or not await self._update_queues(topic, assigned):
                complete = False
        return complete

    async def _update_queues(self, topic: str, assigned: list[MessageQueue]) -> bool:
        """Drop what is no longer ours, start what is new; False if something new could
        not be started now (no offset yet, still being released, or locked by another)."""
        keep = set(assigned)
        for mq in [mq for mq in self._pullers if mq.topic == topic and mq not in keep]:
            await self._drop_queue(mq)
        new = [mq for mq in assigned if mq not in self._pullers and mq not in self._releasing]
        complete = len(new) == len([mq for mq in assigned if mq not in self._pullers])
        lock_time = time.monotonic()
        if self._uses_locks and new:
            granted = await self._locks.lock(new)
            if len(granted) < len(new):
                log.info(
                    "%s: %d queues of %s are still locked by other members; retrying",
                    self.client_id,
                    len(new) - len(granted),
                    topic,
                )
                complete = False
            new = [mq for mq in new if mq in granted]
        for mq in new:
            assert self._offsets is not None
            offset = await compute_pull_from_where(
                self._instance,
                self._offsets,
                mq,
                self.consume_from_where,
                self.consume_timestamp,
            )
            if mq in self._pullers:  # a reset started it meanwhile
                continue
            if offset >= 0:
                self._start_queue(mq, offset, lock_time if self._uses_locks else None)
            else:
                complete = False
                if self._uses_locks:
                    await self._locks.unlock([mq])
        return complete

    def _start_queue(self, mq: MessageQueue, offset: int, lock_time: float | None = None) -> None:
        assert self._offsets is not None and self._consume is not None and self._clock is not None
        puller = QueuePuller(
            self._instance,
            self.group,
            mq,
            offset,
            self._subscriptions,
            self._offsets,
            self._consume,
            pull_batch_size=self.pull_batch_size,
            consume_batch_size=self.consume_message_batch_max_size,
            commit_offsets=self.message_model == CLUSTERING,
            stats=self._stats,
            lock_queue=self._lock_one if self._uses_locks else None,
        )
        if lock_time is not None:
            puller.pq.mark_locked(lock_time)
        self._clock.taken(mq)
        self._pullers[mq] = puller
        puller.task = self._instance.spawn(puller.run(), f"_pull_loop({mq})")
        log.info("%s: consuming %s from offset %d", self.client_id, mq, offset)

    async def _drop_queue(self, mq: MessageQueue, persist: bool = True) -> None:
        puller = self._pullers.pop(mq, None)
        if puller is None:
            return
        puller.pq.dropped = True
        if self._clock is not None:
            self._clock.released(mq)
        puller.stop()
        assert self._offsets is not None
        if self._uses_locks:
            # Unlock only after the batch in the listener is done and its offset persisted;
            # wait a little for that here, let the rest finish in the background.
            release = self._instance.spawn(
                self._release_locked(mq, puller.pq, persist), f"_release({mq})"
            )
            self._releasing[mq] = release
            await asyncio.wait([release], timeout=RELEASE_WAIT)
            return
        if persist:
            await self._offsets.persist(mq)
        if self.message_model == CLUSTERING:
            self._offsets.remove(mq)
        log.info("%s: released %s", self.client_id, mq)

    async def _release_locked(self, mq: MessageQueue, pq: ProcessQueue, persist: bool) -> None:
        assert self._offsets is not None and isinstance(self._consume, OrderlyConsumeService)
        try:
            await self._consume.wait_idle(mq, pq)
            if persist:
                await self._offsets.persist(mq)
            self._offsets.remove(mq)
            await self._locks.unlock([mq])
            log.info("%s: released and unlocked %s", self.client_id, mq)
        finally:
            self._releasing.pop(mq, None)

    async def _lock_one(self, mq: MessageQueue, pq: ProcessQueue) -> bool:
        """Lock one owned queue again (its lock was lost or expired); True if held."""
        if self._closing or pq.dropped:
            return False
        sent = time.monotonic()
        granted = await self._locks.lock([mq])
        await self._unlock_stale(granted)
        puller = self._pullers.get(mq)
        if mq not in granted or puller is None or puller.pq is not pq:
            return False
        pq.mark_locked(sent)
        return True

    async def _lock_all(self) -> None:
        """Renew the locks of every owned queue (RebalanceImpl.lockAll)."""
        pullers = dict(self._pullers)
        if not pullers or self._closing:
            return
        sent = time.monotonic()
        granted = await self._locks.lock(list(pullers))
        await self._unlock_stale(granted)
        for mq, puller in pullers.items():
            if mq in granted:
                puller.pq.mark_locked(sent)
            elif puller.pq.locked:
                log.warning("%s: lost the lock of %s", self.client_id, mq)
                puller.pq.locked = False

    async def _unlock_stale(self, granted: set[MessageQueue]) -> None:
        """A lock granted for a queue released meanwhile (its unlock went out before our
        lock request) would block the next owner for 60 s: give it back."""
        stale = [mq for mq in granted if mq not in self._pullers and mq not in self._releasing]
        if stale and not self._closing:
            await self._locks.unlock(stale)

    async def _check_client_config(self) -> None:
        """CHECK_CLIENT_CONFIG (46) for non-TAG subscriptions at every known broker, so
        that a broker that cannot filter them makes start() fail (checkClientInBroker).

        Raises:
            MQBrokerError: a broker refused the subscription (e.g. SQL92 filtering off).
        """
        inst = self._instance
        for subscription in self._subscriptions.values():
            if not subscription.is_sql92:
                continue
            body = orjson.dumps(
                {
                    "clientId": self.client_id,
                    "group": self.group,
                    "subscriptionData": subscription.to_json(),
                }
            )
            for addr in sorted(inst.routes.all_broker_addrs(masters_only=True)):
                command = RemotingCommand.request(RequestCode.CHECK_CLIENT_CONFIG, {}, body)
                await inst.invoke_checked(addr, command)

    # Hooks -------------------------------------------------------------------------------
    def _heartbeat_body(self) -> bytes:
        data = ConsumerData(
            self.group,
            message_model=self.message_model,
            consume_from_where=self.consume_from_where,
            subscriptions=list(self._subscriptions.values()),
        )
        return heartbeat_body(self.client_id, [], [data])

    def _check_route_changes(self) -> None:
        routes = self._instance.routes.routes
        for topic in self._subscriptions:
            route = routes.get(topic)
            signature = tuple(route.subscribe_queues(topic)) if route is not None else ()
            if self._queue_signature.get(topic) != signature:
                self._queue_signature[topic] = signature
                self._wake.set()

    async def _persist_offsets(self) -> None:
        if self._offsets is not None:
            await self._offsets.persist_all(list(self._pullers))

    def _on_ids_changed(self, conn: ClientConnection, request: RemotingCommand) -> None:
        log.info("%s: consumer ids of %s changed; rebalancing", self.client_id, self.group)
        self._wake.set()

    async def _on_reset_offset(self, conn: ClientConnection, request: RemotingCommand) -> None:
        """RESET_CONSUMER_CLIENT_OFFSET (220): restart the named queues at the new offsets."""
        if request.ext_fields.get("group", self.group) != self.group or self._offsets is None:
            return
        restart = []
        for mq, offset in parse_reset_offsets(request.body).items():
            owned = mq in self._pullers
            await self._drop_queue(mq, persist=False)
            release = self._releasing.get(mq)
            if release is not None:  # orderly: its in-flight batch must finish first
                await asyncio.wait([release])
            self._offsets.update(mq, offset, increase_only=False)
            await self._offsets.persist(mq)
            if owned:
                restart.append((mq, offset))
        if self._uses_locks:
            self._wake.set()  # the rebalance locks them again and reads the new offsets
            return
        for mq, offset in restart:
            if mq not in self._pullers:  # a rebalance may have started it meanwhile
                self._start_queue(mq, offset)

    def _on_running_info(self, conn: ClientConnection, request: RemotingCommand) -> RemotingCommand:
        """GET_CONSUMER_RUNNING_INFO (307): properties, subscriptions, a ProcessQueueInfo
        for every owned queue and a ConsumeStatus for every subscribed topic."""
        consume = self._consume
        consuming = consume.consuming if isinstance(consume, OrderlyConsumeService) else None
        pqs = {mq: puller.pq for mq, puller in self._pullers.items()}
        queues = mq_table(pqs, self._clock, consuming) if self._clock is not None else None
        body = running_info_body(
            "CONSUME_PASSIVELY",
            self.consume_thread_max,
            self._start_time,
            list(self._subscriptions.values()),
            self._orderly,
            queues,
            {topic: self._stats.consume_status(topic) for topic in self._subscriptions},
        )
        return request.response(ext_fields={}, body=body)

    async def _on_consume_directly(
        self, conn: ClientConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """CONSUME_MESSAGE_DIRECTLY (309): give the relayed message to the listener now and
        answer a ConsumeMessageDirectlyResult (see consume_directly.py)."""
        group = request.ext_fields.get("consumerGroup", "")
        if group != self.group or self._listener is None:
            return request.response(
                ResponseCode.SYSTEM_ERROR,
                f"The Consumer Group <{group}> not exist in this consumer",
            )
        try:
            msg = message_for_listener(request.body, self.group)
        except RemoteProtocolError as exc:
            return request.response(ResponseCode.SYSTEM_ERROR, f"undecodable message: {exc}")
        log.info("%s: consuming %s directly, as asked", self.client_id, msg.msg_id)
        body = await consume_directly(self._listener, msg, self._orderly)
        return request.response(body=body)

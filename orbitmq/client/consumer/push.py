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
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from orbitmq.client.consumer.broker_requests import (
    now_ms,
    parse_reset_offsets,
    running_info_body,
)
from orbitmq.client.consumer.consume import ConsumeService, MessageListener
from orbitmq.client.consumer.offset_store import (
    LocalFileOffsetStore,
    OffsetStore,
    RemoteOffsetStore,
    default_offset_dir,
)
from orbitmq.client.consumer.puller import QueuePuller
from orbitmq.client.consumer.rebalance import Rebalancer, compute_pull_from_where
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
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.subscription import SubscriptionData, parse_subscription
from orbitmq.remoting.connection import RemotingConnection
from orbitmq.remoting.dispatch import RequestDispatcher

log = logging.getLogger(__name__)

REBALANCE_INTERVAL = 20.0
REBALANCE_RETRY_MIN = 0.5
PERSIST_INTERVAL = 5.0
RETRY_GROUP_TOPIC_PREFIX = "%RETRY%"


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
        self._offset_store_dir = Path(offset_store_dir) if offset_store_dir else None
        dispatcher = RequestDispatcher(f"consumer {group}")
        dispatcher.register(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, self._on_ids_changed)
        dispatcher.register(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, self._on_reset_offset)
        dispatcher.register(RequestCode.GET_CONSUMER_RUNNING_INFO, self._on_running_info)
        self._instance = ClientInstance(
            namesrv_addr, instance_name=instance_name, dispatcher=dispatcher
        )
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._listener: MessageListener | None = None
        self._offsets: OffsetStore | None = None
        self._consume: ConsumeService | None = None
        self._pullers: dict[MessageQueue, QueuePuller] = {}
        self._wake = asyncio.Event()
        self._queue_signature: dict[str, tuple[MessageQueue, ...]] = {}
        self._started = False
        self._start_time = 0
        self._rebalance_task: asyncio.Task[None] | None = None

    @property
    def client_id(self) -> str:
        return self._instance.client_id

    @property
    def retry_topic(self) -> str:
        return RETRY_GROUP_TOPIC_PREFIX + self.group

    @property
    def owned_queues(self) -> list[MessageQueue]:
        """The queues this member currently pulls."""
        return sorted(self._pullers)

    def subscribe(self, topic: str, expression: str = "*") -> None:
        """Subscribe to `topic` with a TAG expression (`*` or `TagA || TagB`)."""
        self._subscriptions[topic] = parse_subscription(topic, expression)
        if self._started:
            self._wake.set()
            self._instance.spawn(self._instance.send_heartbeat(), "_subscribe_heartbeat")

    def unsubscribe(self, topic: str) -> None:
        """Stop consuming `topic` (its queues are released at the next rebalance)."""
        self._subscriptions.pop(topic, None)
        self._wake.set()
        if self._started:
            self._instance.spawn(self._instance.send_heartbeat(), "_unsubscribe_heartbeat")

    def register_message_listener(self, listener: MessageListener) -> None:
        """Set the listener: `def` or `async def (msgs: list[MessageExt]) -> ConsumeStatus`.

        An exception, or anything but CONSUME_SUCCESS, means RECONSUME_LATER.
        """
        self._listener = listener

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
        self._consume = ConsumeService(
            inst,
            self.group,
            self.message_model,
            self._offsets,
            self._listener,
            self.consume_thread_max,
        )
        for topic in list(self._subscriptions):
            try:
                await inst.routes.refresh(topic)
            except Exception as exc:
                log.warning("route of %s unavailable at start: %s", topic, exc)
        inst.heartbeat_body = self._heartbeat_body  # set now: one heartbeat, not two
        inst.heartbeat_masters_only = False
        inst.topics = lambda: list(self._subscriptions)
        inst.on_routes_refreshed = self._check_route_changes
        self._check_route_changes()
        await inst.send_heartbeat()
        inst.start_services()
        self._rebalance_task = inst.spawn(self._rebalance_loop(), "_rebalance_loop")
        inst.run_every("_persist_loop", PERSIST_INTERVAL, self._persist_offsets, PERSIST_INTERVAL)
        self._started = True
        self._start_time = now_ms()

    async def shutdown(self) -> None:
        """Stop pulling, let running listeners finish (5 s), persist offsets, unregister."""
        if not self._started or self._instance.closed:
            return
        if self._rebalance_task is not None:  # no queue may be added from here on
            self._rebalance_task.cancel()
            await asyncio.wait([self._rebalance_task])
        pullers = list(self._pullers.values())
        for puller in pullers:
            puller.stop()
        if self._consume is not None:
            await self._consume.aclose()
        for puller in pullers:
            puller.pq.dropped = True
        await self._persist_offsets()
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
        """One round over every subscription; False if some topic could not be decided."""
        for mq in [mq for mq in self._pullers if mq.topic not in self._subscriptions]:
            await self._drop_queue(mq)
        complete = True
        for topic, subscription in list(self._subscriptions.items()):
            assigned = await rebalancer.assigned_queues(subscription)
            if assigned is None:
                complete = False
            else:
                await self._update_queues(topic, assigned)
        return complete

    async def _update_queues(self, topic: str, assigned: list[MessageQueue]) -> None:
        keep = set(assigned)
        for mq in [mq for mq in self._pullers if mq.topic == topic and mq not in keep]:
            await self._drop_queue(mq)
        for mq in assigned:
            if mq in self._pullers:
                continue
            assert self._offsets is not None
            offset = await compute_pull_from_where(
                self._instance,
                self._offsets,
                mq,
                self.consume_from_where,
                self.consume_timestamp,
            )
            if offset >= 0:
                self._start_queue(mq, offset)

    def _start_queue(self, mq: MessageQueue, offset: int) -> None:
        assert self._offsets is not None and self._consume is not None
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
        )
        self._pullers[mq] = puller
        puller.task = self._instance.spawn(puller.run(), f"_pull_loop({mq})")
        log.info("%s: consuming %s from offset %d", self.client_id, mq, offset)

    async def _drop_queue(self, mq: MessageQueue, persist: bool = True) -> None:
        puller = self._pullers.pop(mq, None)
        if puller is None:
            return
        puller.pq.dropped = True
        puller.stop()
        assert self._offsets is not None
        if persist:
            await self._offsets.persist(mq)
        if self.message_model == CLUSTERING:
            self._offsets.remove(mq)
        log.info("%s: released %s", self.client_id, mq)

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

    def _on_ids_changed(self, conn: RemotingConnection, request: RemotingCommand) -> None:
        log.info("%s: consumer ids of %s changed; rebalancing", self.client_id, self.group)
        self._wake.set()

    async def _on_reset_offset(self, conn: RemotingConnection, request: RemotingCommand) -> None:
        if request.ext_fields.get("group", self.group) != self.group or self._offsets is None:
            return
        for mq, offset in parse_reset_offsets(request.body).items():
            owned = mq in self._pullers
            await self._drop_queue(mq, persist=False)
            self._offsets.update(mq, offset, increase_only=False)
            await self._offsets.persist(mq)
            if owned:
                self._start_queue(mq, offset)

    def _on_running_info(
        self, conn: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        body = running_info_body(
            "CONSUME_PASSIVELY",
            self.consume_thread_max,
            self._start_time,
            list(self._subscriptions.values()),
        )
        return request.response(ext_fields={}, body=body)

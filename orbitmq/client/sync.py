"""Synchronous facade: the asyncio clients run on a private event loop in a daemon thread.

For scripts and mqadmin. Each facade object owns one loop thread, started in the
constructor and stopped by `shutdown()` (or leaving the `with` block). Calls block the
calling thread until the coroutine finishes on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from orbitmq.client.admin import ClusterInfo, MQAdmin
from orbitmq.client.consumer.consume import MessageListener
from orbitmq.client.consumer.consume_orderly import MessageListenerOrderly
from orbitmq.client.consumer.pull import PullConsumer
from orbitmq.client.consumer.pull_codec import PullResult
from orbitmq.client.consumer.push import PushConsumer
from orbitmq.client.consumer.selector import MessageSelector
from orbitmq.client.message import Message, MessageQueue, SendResult
from orbitmq.client.producer import Producer, QueueSelector, SendCallback
from orbitmq.client.route import TopicRouteData

T = TypeVar("T")

__all__ = ["SyncAdmin", "SyncProducer", "SyncPullConsumer", "SyncPushConsumer"]


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop thread and wait for its result."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync facade cannot be called from its own loop thread")
        return self.submit(coro).result()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()


class _SyncBase:
    _loop: _LoopThread

    def _shutdown_with(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            self._loop.run(coro)
        finally:
            self._loop.stop()

    def __enter__(self: T) -> T:
        self.start()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()  # type: ignore[attr-defined]


class SyncProducer(_SyncBase):
    """Blocking `Producer`; takes the same arguments."""

    def __init__(self, group: str, namesrv_addr: str, **kwargs: Any) -> None:
        self.producer = Producer(group, namesrv_addr, **kwargs)
        self._loop = _LoopThread(f"orbitmq-producer-{group}")

    def start(self) -> None:
        """Blocking `Producer.start`."""
        self._loop.run(self.producer.start())

    def shutdown(self) -> None:
        """Blocking `Producer.shutdown`."""
        self._shutdown_with(self.producer.shutdown())

    def send(self, msg: Message, timeout: float | None = None) -> SendResult:
        """Blocking `Producer.send`."""
        return self._loop.run(self.producer.send(msg, timeout))

    def send_batch(self, msgs: list[Message], timeout: float | None = None) -> SendResult:
        """Blocking `Producer.send_batch`."""
        return self._loop.run(self.producer.send_batch(msgs, timeout))

    def send_oneway(self, msg: Message) -> None:
        """Blocking `Producer.send_oneway`."""
        self._loop.run(self.producer.send_oneway(msg))

    def send_async(
        self, msg: Message, callback: SendCallback | None = None
    ) -> concurrent.futures.Future[SendResult]:
        """Returns at once; `callback(result, exc)` runs on the loop thread."""
        future = self._loop.submit(self.producer.send(msg))
        if callback is not None:

            def done(f: concurrent.futures.Future[SendResult]) -> None:
                exc = f.exception()
                callback(None if exc else f.result(), exc)

            future.add_done_callback(done)
        return future

    def send_to_queue(self, msg: Message, mq: MessageQueue) -> SendResult:
        """Blocking `Producer.send_to_queue`."""
        return self._loop.run(self.producer.send_to_queue(msg, mq))

    def send_orderly(self, msg: Message, selector: QueueSelector, arg: Any) -> SendResult:
        """Blocking `Producer.send_orderly`."""
        return self._loop.run(self.producer.send_orderly(msg, selector, arg))

    def fetch_publish_queues(self, topic: str) -> list[MessageQueue]:
        """Blocking `Producer.fetch_publish_queues`."""
        return self._loop.run(self.producer.fetch_publish_queues(topic))


class SyncPushConsumer(_SyncBase):
    """Blocking `PushConsumer`; a `def` listener runs on the consumer's thread pool."""

    def __init__(self, group: str, namesrv_addr: str, **kwargs: Any) -> None:
        self.consumer = PushConsumer(group, namesrv_addr, **kwargs)
        self._loop = _LoopThread(f"orbitmq-consumer-{group}")

    def subscribe(self, topic: str, expression: str | MessageSelector = "*") -> None:
        """Blocking `PushConsumer.subscribe`."""

        async def on_loop() -> None:  # after start() the consumer lives on the loop thread
            self.consumer.subscribe(topic, expression)

        self._loop.run(on_loop())

    def register_message_listener(
        self, listener: MessageListener | MessageListenerOrderly, *, orderly: bool = False
    ) -> None:
        """Blocking `PushConsumer.register_message_listener`."""
        self.consumer.register_message_listener(listener, orderly=orderly)

    def start(self) -> None:
        """Blocking `PushConsumer.start`."""
        self._loop.run(self.consumer.start())

    def shutdown(self) -> None:
        """Blocking `PushConsumer.shutdown`."""
        self._shutdown_with(self.consumer.shutdown())


class SyncPullConsumer(_SyncBase):
    """Blocking `PullConsumer`."""

    def __init__(self, group: str, namesrv_addr: str, **kwargs: Any) -> None:
        self.consumer = PullConsumer(group, namesrv_addr, **kwargs)
        self._loop = _LoopThread(f"orbitmq-pull-{group}")

    def start(self) -> None:
        """Blocking `PullConsumer.start`."""
        self._loop.run(self.consumer.start())

    def shutdown(self) -> None:
        """Blocking `PullConsumer.shutdown`."""
        self._shutdown_with(self.consumer.shutdown())

    def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """Blocking `PullConsumer.fetch_message_queues`."""
        return self._loop.run(self.consumer.fetch_message_queues(topic))

    def pull(
        self,
        mq: MessageQueue,
        expression: str | MessageSelector,
        offset: int,
        max_nums: int,
        timeout: float = 10.0,
        *,
        block: bool = False,
    ) -> PullResult:
        """Blocking `PullConsumer.pull`."""
        return self._loop.run(
            self.consumer.pull(mq, expression, offset, max_nums, timeout, block=block)
        )

    def query_consumer_offset(self, mq: MessageQueue) -> int | None:
        """Blocking `PullConsumer.query_consumer_offset`."""
        return self._loop.run(self.consumer.query_consumer_offset(mq))

    def update_consumer_offset(self, mq: MessageQueue, offset: int) -> None:
        """Blocking `PullConsumer.update_consumer_offset`."""
        self._loop.run(self.consumer.update_consumer_offset(mq, offset))

    def max_offset(self, mq: MessageQueue) -> int:
        """Blocking `PullConsumer.max_offset`."""
        return self._loop.run(self.consumer.max_offset(mq))

    def min_offset(self, mq: MessageQueue) -> int:
        """Blocking `PullConsumer.min_offset`."""
        return self._loop.run(self.consumer.min_offset(mq))

    def search_offset(self, mq: MessageQueue, timestamp: int) -> int:
        """Blocking `PullConsumer.search_offset`."""
        return self._loop.run(self.consumer.search_offset(mq, timestamp))


class SyncAdmin(_SyncBase):
    """Blocking `MQAdmin`. `call(coro_fn, *args)` runs any other MQAdmin coroutine."""

    def __init__(self, namesrv_addr: str, **kwargs: Any) -> None:
        self.admin = MQAdmin(namesrv_addr, **kwargs)
        self._loop = _LoopThread("orbitmq-admin")

    def start(self) -> None:
        """Blocking `MQAdmin.start`."""
        self._loop.run(self.admin.start())

    def shutdown(self) -> None:
        """Blocking `MQAdmin.shutdown`."""
        self._shutdown_with(self.admin.shutdown())

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `self.admin.<method>(...)`'s coroutine: `sync.call(sync.admin.topic_list())`."""
        return self._loop.run(coro)

    def create_topic(self, broker_addr: str, topic: str, *args: Any, **kwargs: Any) -> None:
        """Blocking `MQAdmin.create_topic`."""
        self._loop.run(self.admin.create_topic(broker_addr, topic, *args, **kwargs))

    def topic_route(self, topic: str) -> TopicRouteData:
        """Blocking `MQAdmin.topic_route`."""
        return self._loop.run(self.admin.topic_route(topic))

    def topic_list(self) -> list[str]:
        """Blocking `MQAdmin.topic_list`."""
        return self._loop.run(self.admin.topic_list())

    def cluster_info(self) -> ClusterInfo:
        """Blocking `MQAdmin.cluster_info`."""
        return self._loop.run(self.admin.cluster_info())

    def create_subscription_group(self, broker_addr: str, config: dict[str, Any]) -> None:
        """Blocking `MQAdmin.create_subscription_group`."""
        self._loop.run(self.admin.create_subscription_group(broker_addr, config))

    def get_all_topic_config(self, broker_addr: str) -> dict[str, Any]:
        """Blocking `MQAdmin.get_all_topic_config`."""
        return self._loop.run(self.admin.get_all_topic_config(broker_addr))

    def get_consumer_id_list(self, broker_addr: str, group: str) -> list[str]:
        """Blocking `MQAdmin.get_consumer_id_list`."""
        return self._loop.run(self.admin.get_consumer_id_list(broker_addr, group))

    def max_offset(self, mq: MessageQueue) -> int:
        """Blocking `MQAdmin.max_offset`."""
        return self._loop.run(self.admin.max_offset(mq))

    def min_offset(self, mq: MessageQueue) -> int:
        """Blocking `MQAdmin.min_offset`."""
        return self._loop.run(self.admin.min_offset(mq))

    def query_consumer_offset(self, group: str, mq: MessageQueue) -> int | None:
        """Blocking `MQAdmin.query_consumer_offset`."""
        return self._loop.run(self.admin.query_consumer_offset(group, mq))

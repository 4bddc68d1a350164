"""PullConsumer: the application decides which queue to read and from which offset.

Like DefaultMQPullConsumer: nothing is rebalanced or committed automatically. Pulls go to
the queue's master (or the broker id it last suggested) with sysFlag SUBSCRIPTION, plus
SUSPEND when `block=True`; offsets are read and written with explicit calls, at the
master or, while it is down, at a slave of its broker set. The last expression pulled per
topic is declared in the heartbeat (SQL92 ones as expressionType SQL92), as
DefaultMQPullConsumer's subscriptions are.
"""

from __future__ import annotations

from orbitmq.acl.signature import SessionCredentials
from orbitmq.client import broker_api
from orbitmq.client.consumer.pull_codec import (
    PullResult,
    parse_pull_response,
    pull_ext,
    pull_sys_flag,
)
from orbitmq.client.consumer.selector import MessageSelector, subscription_for
from orbitmq.client.errors import MQClientError
from orbitmq.client.heartbeat import CONSUME_ACTIVELY, ConsumerData, heartbeat_body
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.subscription import SubscriptionData
from orbitmq.remoting.errors import RemotingError
from orbitmq.remoting.tls import TlsConfig

BLOCK_SUSPEND_MS = 20_000


class PullConsumer:
    """An asyncio pull consumer.

    Args:
        group: consumer group (used for offsets and the heartbeat).
        namesrv_addr: NameServer addresses separated by ';'.
        instance_name: replaces `<pid>#<ns>` in the client id.
        credentials: an ACL account's keys; every request is signed with them.
        tls: dial with TLS: True (any server certificate), or a TlsConfig's `tls.client.*`.
    """

    def __init__(
        self,
        group: str,
        namesrv_addr: str,
        *,
        instance_name: str | None = None,
        credentials: SessionCredentials | None = None,
        tls: bool | TlsConfig = False,
    ) -> None:
        self.group = group
        self._instance = ClientInstance(
            namesrv_addr, instance_name=instance_name, credentials=credentials, tls=tls
        )
        self._routes = self._instance.routes
        self._topics: set[str] = set()
        self._subscriptions: dict[str, SubscriptionData] = {}
        self._broker_ids: dict[MessageQueue, int] = {}
        self._started = False

    @property
    def client_id(self) -> str:
        return self._instance.client_id

    async def start(self) -> None:
        """Start route refresh and heartbeats (consumeType CONSUME_ACTIVELY)."""
        if self._started:
            return
        inst = self._instance
        inst.heartbeat_body = lambda: heartbeat_body(
            self.client_id,
            [],
            [
                ConsumerData(
                    self.group,
                    consume_type=CONSUME_ACTIVELY,
                    subscriptions=list(self._subscriptions.values()),
                )
            ],
        )
        inst.heartbeat_masters_only = False
        inst.topics = lambda: list(self._topics)
        inst.start_services()
        self._started = True

    async def shutdown(self) -> None:
        """UNREGISTER_CLIENT and close every connection."""
        if not self._started or self._instance.closed:
            return
        await self._instance.unregister(consumer_group=self.group)
        await self._instance.aclose()

    async def __aenter__(self) -> PullConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def fetch_message_queues(self, topic: str) -> list[MessageQueue]:
        """The readable queues of `topic`, sorted (fresh from the NameServer).

        Raises:
            MQClientError: the topic has no route.
        """
        self._check_started()
        route = await self._routes.refresh(topic)
        if route is None:
            raise MQClientError(f"Can not find Message Queue for this topic, {topic}")
        self._topics.add(topic)
        return route.subscribe_queues(topic)

    async def pull(
        self,
        mq: MessageQueue,
        expression: str | MessageSelector,
        offset: int,
        max_nums: int,
        timeout: float = 10.0,
        *,
        block: bool = False,
    ) -> PullResult:
        """Pull up to `max_nums` messages of `mq` starting at `offset`.

        Args:
            expression: TAG subscription (`*` or `TagA || TagB`), applied by the broker
                and again exactly here; or a MessageSelector (`MessageSelector.by_sql`),
                applied by the broker only.
            block: let the broker hold the request up to 20 s when nothing is there
                (the timeout is raised to at least 30 s).

        Returns:
            A PullResult; pull again from `next_begin_offset`.

        Raises:
            MQBrokerError: an error code. RemotingError: the network failed.
            ValueError: the expression is invalid (SqlSyntaxError names the column).
        """
        self._check_started()
        subscription = subscription_for(mq.topic, expression, 0)
        self._subscriptions[mq.topic] = subscription
        addr = await self._pull_addr(mq)
        sys_flag = pull_sys_flag(False, block, True)
        suspend = BLOCK_SUSPEND_MS if block else 0
        ext = pull_ext(self.group, mq, offset, max_nums, sys_flag, 0, suspend, subscription)
        command = RemotingCommand(code=RequestCode.PULL_MESSAGE, ext_fields=ext)
        try:
            response = await self._instance.invoke(
                addr, command, max(timeout, 30.0) if block else timeout
            )
        except RemotingError:
            # The broker may be gone: back to the master id, with a fresh route.
            self._broker_ids.pop(mq, None)
            await self._routes.refresh_after_failure(mq.topic)
            raise
        result = parse_pull_response(response, subscription)
        self._broker_ids[mq] = result.suggest_which_broker_id
        return result

    async def _pull_addr(self, mq: MessageQueue) -> str:
        addr = self._routes.find_subscribe_addr(mq.broker_name, self._broker_ids.get(mq, 0))
        if addr is None:
            await self._routes.refresh(mq.topic)
            addr = self._routes.find_subscribe_addr(mq.broker_name)
        if addr is None:
            raise MQClientError(f"the broker[{mq.broker_name}] does not exist")
        self._topics.add(mq.topic)
        return addr

    async def _master(self, mq: MessageQueue) -> str:
        self._check_started()
        self._topics.add(mq.topic)
        return await self._routes.find_master(mq.broker_name, mq.topic)

    async def _offset_addr(self, mq: MessageQueue) -> str:
        """The master, or a slave of the set while the master is down."""
        self._check_started()
        self._topics.add(mq.topic)
        return await self._routes.find_offset_addr(mq.broker_name, mq.topic)

    async def query_consumer_offset(self, mq: MessageQueue) -> int | None:
        """The group's committed offset of `mq` at the broker, None if it has none."""
        addr = await self._offset_addr(mq)
        return await broker_api.query_consumer_offset(self._instance, addr, self.group, mq)

    async def update_consumer_offset(self, mq: MessageQueue, offset: int) -> None:
        """Commit `offset` (the next offset to consume) for the group at the broker."""
        addr = await self._offset_addr(mq)
        await broker_api.update_consumer_offset(
            self._instance, addr, self.group, mq, offset, oneway=False
        )

    async def max_offset(self, mq: MessageQueue) -> int:
        """The queue's max offset (exclusive: the offset the next message will get)."""
        return await broker_api.get_max_offset(self._instance, await self._master(mq), mq)

    async def min_offset(self, mq: MessageQueue) -> int:
        """The smallest offset still stored."""
        return await broker_api.get_min_offset(self._instance, await self._master(mq), mq)

    async def search_offset(self, mq: MessageQueue, timestamp: int) -> int:
        """The offset of the first message stored at or after `timestamp` (ms epoch)."""
        return await broker_api.search_offset(self._instance, await self._master(mq), mq, timestamp)

    def _check_started(self) -> None:
        if not self._started or self._instance.closed:
            raise MQClientError(f"pull consumer {self.group} is not running; call start()")

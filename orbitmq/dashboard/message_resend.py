"""Resend = CONSUME_MESSAGE_DIRECTLY: a stored message is handed to one online consumer of
a group through the broker that stored it, and that consumer's listener result comes
back. Nothing is re-published, so without an online member nothing can happen.

The member is chosen from those the storing broker knows (GET_CONSUMER_CONNECTION_LIST at
that broker): the relay goes over the member's own connection to that broker.
"""

from __future__ import annotations

from dataclasses import dataclass

from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.dashboard.context import Console
from orbitmq.dashboard.message_queries import ConsumeDirectlyResult, consume_message_directly
from orbitmq.dashboard.message_view import host_text
from orbitmq.errors import OrbitMQError
from orbitmq.protocol.message import MessageExt

# The broker waits 10 s for the client (Broker2Client); Java tools allow 3x their timeout.
RESEND_TIMEOUT_FACTOR = 3


class NoConsumerOnline(OrbitMQError):
    """No member of the group is connected to the broker that stored the message."""


@dataclass(frozen=True, slots=True)
class ResendOutcome:
    msg_id: str
    client_id: str
    result: ConsumeDirectlyResult

    def describe(self) -> str:
        text = (
            f"Message {self.msg_id} consumed by {self.client_id}: "
            f"{self.result.consume_result} in {self.result.spent_ms} ms"
        )
        return text + (f" ({self.result.remark})" if self.result.remark else "")


async def online_client(console: Console, store_addr: str, group: str) -> str:
    """The first member of `group` the broker at `store_addr` knows.

    Raises:
        NoConsumerOnline: it knows none.
    """
    try:
        connection = await console.bounded(console.admin.get_consumer_connection(store_addr, group))
    except ConsumerNotOnlineError:
        connection = None
    if connection is None or not connection.connections:
        raise NoConsumerOnline(f"no consumer of group {group} online (at broker {store_addr})")
    return connection.connections[0].client_id


async def resend(
    console: Console, msg: MessageExt, group: str, client_id: str | None = None
) -> ResendOutcome:
    """Have a member of `group` consume `msg` now.

    Raises:
        NoConsumerOnline: no member is connected to the storing broker.
        MQBrokerError, ClientError, OSError: the broker or the client refused or failed.
    """
    store_addr = host_text(msg.store_host)
    client = client_id or await online_client(console, store_addr, group)
    result = await consume_message_directly(
        console.admin,
        store_addr,
        group,
        client,
        msg.topic,
        msg.offset_msg_id,
        console.config.admin_timeout * RESEND_TIMEOUT_FACTOR,
    )
    return ResendOutcome(msg.msg_id, client, result)

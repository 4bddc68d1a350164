"""Where a message is, per consumer group that subscribes its topic
(DefaultMQAdminExtImpl.messageTrackDetail, as rocketmq-dashboard shows it):

  no member online (GET_CONSUMER_CONNECTION_LIST fails)      NOT_ONLINE
  a pull consumer (CONSUME_ACTIVELY)                         PULL
  broadcasting                                               CONSUME_BROADCASTING
  the group's offset of the message's queue > its offset     CONSUMED, or
                                                             CONSUMED_BUT_FILTERED when
                                                             the group's tags exclude it
  otherwise                                                  NOT_CONSUME_YET
  another error                                              UNKNOWN
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import ConsumerConnection, OffsetWrapper
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.message import MessageQueue
from orbitmq.dashboard.context import CALL_ERRORS, BrokerFailure, Console, describe_error
from orbitmq.dashboard.message_view import host_text
from orbitmq.protocol.message import MessageExt


class TrackType(enum.StrEnum):
    CONSUMED = "CONSUMED"
    CONSUMED_BUT_FILTERED = "CONSUMED_BUT_FILTERED"
    PULL = "PULL"
    NOT_CONSUME_YET = "NOT_CONSUME_YET"
    NOT_ONLINE = "NOT_ONLINE"
    CONSUME_BROADCASTING = "CONSUME_BROADCASTING"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class MessageTrack:
    group: str
    track_type: TrackType
    detail: str = ""


def broker_name_of(store_host: tuple[str, int], info: ClusterInfo) -> str | None:
    """The broker set whose master stored a message."""
    addr = host_text(store_host)
    return next(
        (name for name, data in info.broker_addr_table.items() if data.master_addr == addr),
        None,
    )


def tag_subscribed(subscription: dict[str, Any] | None, tags: str | None) -> bool:
    """Whether a subscription (SubscriptionData JSON) takes a message's tag: no tag filter,
    `*`, or the tag listed. SQL92 subscriptions carry no tags and count as taking it."""
    if subscription is None:
        return True
    tags_set = subscription.get("tagsSet") or []
    return not tags_set or "*" in tags_set or tags in tags_set


def decide_track(
    connection: ConsumerConnection,
    offsets: dict[MessageQueue, OffsetWrapper],
    msg: MessageExt,
    broker_name: str | None,
) -> TrackType:
    if connection.consume_type == "CONSUME_ACTIVELY":
        return TrackType.PULL
    if connection.message_model == "BROADCASTING":
        return TrackType.CONSUME_BROADCASTING
    wrapper = offsets.get(MessageQueue(msg.topic, broker_name or "", msg.queue_id))
    if wrapper is None or wrapper.consumer_offset <= msg.queue_offset:
        return TrackType.NOT_CONSUME_YET
    if tag_subscribed(connection.subscription_table.get(msg.topic), msg.tags):
        return TrackType.CONSUMED
    return TrackType.CONSUMED_BUT_FILTERED


async def track_group(
    console: Console, msg: MessageExt, broker_name: str | None, group: str
) -> MessageTrack:
    admin = console.admin
    try:
        connection = await console.bounded(admin.examine_consumer_connection(group))
        if (
            connection.consume_type == "CONSUME_ACTIVELY"
            or connection.message_model == "BROADCASTING"
        ):
            offsets = {}
        else:
            stats = await console.bounded(admin.examine_consume_stats(group, msg.topic))
            offsets = stats.offset_table
    except ConsumerNotOnlineError as exc:
        return MessageTrack(group, TrackType.NOT_ONLINE, exc.remark)
    except CALL_ERRORS as exc:
        return MessageTrack(
            group, TrackType.UNKNOWN, describe_error(exc, console.config.admin_timeout)
        )
    return MessageTrack(group, decide_track(connection, offsets, msg, broker_name))


async def message_tracks(
    console: Console, msg: MessageExt
) -> tuple[list[MessageTrack], list[BrokerFailure]]:
    """The track of every group that subscribes the message's topic (from the topic's
    brokers, QUERY_TOPIC_CONSUME_BY_WHO)."""
    admin = console.admin
    try:
        groups = await console.bounded(admin.query_topic_consume_by_who(msg.topic))
        info = await console.cluster_info()
    except CALL_ERRORS as exc:
        reason = describe_error(exc, console.config.admin_timeout)
        return [], [
            BrokerFailure("consumer groups of " + msg.topic, host_text(msg.store_host), reason)
        ]
    broker_name = broker_name_of(msg.store_host, info)
    tracks = await asyncio.gather(*(track_group(console, msg, broker_name, g) for g in groups))
    return list(tracks), []

"""What a request needs: the topics and groups it touches and the permission on each
(PlainAccessResource.parse, apache/rocketmq 4.9.x). Groups appear as their retry topic
`%RETRY%group`; codes not listed need only a valid signature (and admin rights for the
admin codes, permission.ADMIN_CODES).

One deliberate difference: SEND_BATCH_MESSAGE (320) needs PUB on its topic like 310.
RocketMQ 4.9 lists no resource for it, so an account denied a topic could still batch
to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from orbitmq.acl.errors import AclError
from orbitmq.acl.permission import PUB, SUB
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.topics import is_retry_topic, retry_topic

_SEND = int(RequestCode.SEND_MESSAGE)
_SEND_V2 = int(RequestCode.SEND_MESSAGE_V2)
_SEND_BATCH = int(RequestCode.SEND_BATCH_MESSAGE)
_SEND_BACK = int(RequestCode.CONSUMER_SEND_MSG_BACK)
_PULL = int(RequestCode.PULL_MESSAGE)
_QUERY = int(RequestCode.QUERY_MESSAGE)
_HEART_BEAT = int(RequestCode.HEART_BEAT)
_GROUP_ONLY = {
    int(RequestCode.UNREGISTER_CLIENT): "consumerGroup",
    int(RequestCode.GET_CONSUMER_LIST_BY_GROUP): "consumerGroup",
}
_UPDATE_OFFSET = int(RequestCode.UPDATE_CONSUMER_OFFSET)


def required_perms(request: RemotingCommand) -> dict[str, int]:
    """Resource -> needed permission for `request`.

    Raises:
        AclError: the request lacks a field its code needs (as RocketMQ's parse fails).
    """
    code = request.code
    ext = request.ext_fields
    needed: dict[str, int] = {}
    if code in (_SEND, _SEND_V2, _SEND_BATCH):
        topic_key, group_key = ("topic", "group") if code == _SEND else ("b", "a")
        topic = _field(ext, topic_key, code)
        if is_retry_topic(topic):  # a consumer's send-back: SUB on its group
            needed[retry_topic(_field(ext, group_key, code))] = SUB
        else:
            needed[topic] = PUB
    elif code == _SEND_BACK:
        needed[retry_topic(_field(ext, "group", code))] = SUB
        if ext.get("originTopic"):
            needed[ext["originTopic"]] = PUB
    elif code == _PULL:
        needed[_field(ext, "topic", code)] = SUB
        needed[retry_topic(_field(ext, "consumerGroup", code))] = SUB
    elif code == _QUERY:
        needed[_field(ext, "topic", code)] = SUB
    elif code == _HEART_BEAT:
        _heartbeat_perms(request.body, needed)
    elif code in _GROUP_ONLY:
        group = ext.get(_GROUP_ONLY[code])
        if group:  # a producer's UNREGISTER_CLIENT names no consumer group
            needed[retry_topic(group)] = SUB
    elif code == _UPDATE_OFFSET:
        needed[retry_topic(_field(ext, "consumerGroup", code))] = SUB
        needed[_field(ext, "topic", code)] = SUB
    return needed


def _field(ext: Mapping[str, str], key: str, code: int) -> str:
    value = ext.get(key)
    if not value:
        raise AclError(f"request code {code} has no {key!r} field to check permissions on")
    return value


def _heartbeat_perms(body: bytes, needed: dict[str, int]) -> None:
    """SUB on each consumer group's retry topic and on every topic it subscribes."""
    if not body:
        return
    try:
        data = loads_tolerant(body)
    except ValueError as exc:
        raise AclError(f"heartbeat body is not JSON: {exc}") from None
    consumers = data.get("consumerDataSet") if isinstance(data, dict) else None
    for consumer in consumers or ():
        if not isinstance(consumer, dict):
            continue
        group = consumer.get("groupName")
        if group:
            needed[retry_topic(str(group))] = SUB
        for subscription in consumer.get("subscriptionDataSet") or ():
            if isinstance(subscription, dict) and subscription.get("topic"):
                needed[str(subscription["topic"])] = SUB

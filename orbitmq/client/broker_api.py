"""Thin request helpers for broker calls shared by consumers and the admin client (§3.4).

Each helper builds one request with RocketMQ's ext names (values as strings), sends it
through a ClientInstance, and decodes the answer. Error codes become MQBrokerError.
"""

from __future__ import annotations

import orjson

from orbitmq.client.errors import MQClientError
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt

OFFSET_TIMEOUT = 5.0
DEFAULT_MAX_RECONSUME_TIMES = 16


def _queue_ext(mq: MessageQueue) -> dict[str, str]:
    return {"topic": mq.topic, "queueId": str(mq.queue_id), "bname": mq.broker_name}


def _int_field(response: RemotingCommand, name: str) -> int:
    try:
        return int(response.ext_fields[name])
    except (KeyError, ValueError) as exc:
        raise MQClientError(f"response code {response.code} lacks a valid {name!r}") from exc


async def query_consumer_offset(
    inst: ClientInstance,
    addr: str,
    group: str,
    mq: MessageQueue,
    timeout: float = OFFSET_TIMEOUT,
    *,
    zero_if_not_found: bool = True,
) -> int | None:
    """QUERY_CONSUMER_OFFSET (14): the stored offset, or None when the broker has none.

    Any error code counts as "none" (Java and C++ treat every non-0 code like 22);
    transport errors propagate. `zero_if_not_found=False` sends RocketMQ 5's
    `setZeroIfNotFound=false`: no "0" for a young queue the group never committed.
    """
    ext = {"consumerGroup": group, **_queue_ext(mq)}
    if not zero_if_not_found:
        ext["setZeroIfNotFound"] = "false"
    command = RemotingCommand.request(RequestCode.QUERY_CONSUMER_OFFSET, ext)
    response = await inst.invoke(addr, command, timeout)
    if response.code != ResponseCode.SUCCESS:
        return None
    return _int_field(response, "offset")


async def update_consumer_offset(
    inst: ClientInstance,
    addr: str,
    group: str,
    mq: MessageQueue,
    offset: int,
    *,
    oneway: bool = True,
) -> None:
    """UPDATE_CONSUMER_OFFSET (15); one-way by default, as Java's offset store sends it."""
    ext = {"consumerGroup": group, **_queue_ext(mq), "commitOffset": str(offset)}
    command = RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, ext, oneway=oneway)
    if oneway:
        await inst.invoke_oneway(addr, command)
    else:
        await inst.invoke_checked(addr, command, OFFSET_TIMEOUT)


async def _offset_call(
    inst: ClientInstance, addr: str, code: int, ext: dict[str, str], field: str
) -> int:
    response = await inst.invoke_checked(addr, RemotingCommand.request(code, ext), 3.0)
    return _int_field(response, field)


async def get_max_offset(inst: ClientInstance, addr: str, mq: MessageQueue) -> int:
    """GET_MAX_OFFSET (30): the queue's exclusive max offset."""
    return await _offset_call(inst, addr, RequestCode.GET_MAX_OFFSET, _queue_ext(mq), "offset")


async def get_min_offset(inst: ClientInstance, addr: str, mq: MessageQueue) -> int:
    """GET_MIN_OFFSET (31): the smallest offset still stored."""
    return await _offset_call(inst, addr, RequestCode.GET_MIN_OFFSET, _queue_ext(mq), "offset")


async def search_offset(inst: ClientInstance, addr: str, mq: MessageQueue, timestamp: int) -> int:
    """SEARCH_OFFSET_BY_TIMESTAMP (29): first offset stored at or after `timestamp` (ms)."""
    ext = {**_queue_ext(mq), "timestamp": str(timestamp)}
    return await _offset_call(inst, addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, ext, "offset")


async def get_earliest_msg_store_time(inst: ClientInstance, addr: str, mq: MessageQueue) -> int:
    """GET_EARLIEST_MSG_STORETIME (32): store time (ms) of the message at the min offset."""
    return await _offset_call(
        inst, addr, RequestCode.GET_EARLIEST_MSG_STORETIME, _queue_ext(mq), "timestamp"
    )


async def get_consumer_id_list(
    inst: ClientInstance, addr: str, group: str, timeout: float = OFFSET_TIMEOUT
) -> list[str]:
    """GET_CONSUMER_LIST_BY_GROUP (38): client ids of the group's live members."""
    command = RemotingCommand.request(
        RequestCode.GET_CONSUMER_LIST_BY_GROUP, {"consumerGroup": group}
    )
    response = await inst.invoke_checked(addr, command, timeout)
    if not response.body:
        return []
    try:
        ids = orjson.loads(response.body).get("consumerIdList") or []
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise MQClientError(f"bad consumer list body from {addr}: {exc}") from exc
    return [str(i) for i in ids]


async def consumer_send_msg_back(
    inst: ClientInstance,
    addr: str,
    group: str,
    msg: MessageExt,
    delay_level: int = 0,
    max_reconsume_times: int = DEFAULT_MAX_RECONSUME_TIMES,
    timeout: float = OFFSET_TIMEOUT,
) -> None:
    """CONSUMER_SEND_MSG_BACK (36): ask the broker to redeliver `msg` through %RETRY%<group>."""
    ext = {
        "offset": str(msg.commit_log_offset),
        "group": group,
        "delayLevel": str(delay_level),
        "originMsgId": msg.msg_id,
        "originTopic": msg.topic,
        "unitMode": "false",
        "maxReconsumeTimes": str(max_reconsume_times),
    }
    command = RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, ext)
    await inst.invoke_checked(addr, command, timeout)

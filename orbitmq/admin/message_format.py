"""How consumeMessage prints messages: Java's `toString()`s of MessageExt. Pure code.

Line shape (PrintMessageByQueueCommand.printMessage):
  MSGID: <UNIQ_KEY or offset msg id> MessageExt [brokerName=…, …, toString()=Message{…}] BODY: …
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping

from orbitmq.admin.formatting import java_str
from orbitmq.protocol.message import MessageExt

__all__ = [
    "consume_message_line",
    "message_detail_lines",
    "message_ext_str",
    "message_json",
    "message_queue_str",
    "parse_timestamp",
]

_JAVA_DATE_FORMAT = "%Y-%m-%d#%H:%M:%S:%f"  # UtilAll.YYYY_MM_DD_HH_MM_SS_SSS


def message_queue_str(topic: str, broker_name: str, queue_id: int) -> str:
    """MessageQueue.toString()."""
    return f"MessageQueue [topic={topic}, brokerName={broker_name}, queueId={queue_id}]"


def _socket_address(host: tuple[str, int]) -> str:
    """InetSocketAddress.toString() of a resolved address: `/ip:port`."""
    return f"/{host[0]}:{host[1]}"


def _java_map(values: Mapping[str, str]) -> str:
    """AbstractMap.toString(): `{k1=v1, k2=v2}`."""
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


def _java_bytes(data: bytes) -> str:
    """Arrays.toString(byte[]): signed decimal bytes."""
    return "[" + ", ".join(str(b - 256 if b > 127 else b) for b in data) + "]"


def message_ext_str(msg: MessageExt, broker_name: str | None = None) -> str:
    """MessageExt.toString(), including Message.toString() for `toString()=`."""
    message = (
        f"Message{{topic='{msg.topic}', flag={msg.flag}, "
        f"properties={_java_map(msg.properties)}, body={_java_bytes(msg.body)}, "
        f"transactionId='null'}}"
    )
    return (
        f"MessageExt [brokerName={java_str(broker_name)}, queueId={msg.queue_id}, "
        f"storeSize={msg.store_size}, queueOffset={msg.queue_offset}, "
        f"sysFlag={msg.sys_flag}, bornTimestamp={msg.born_timestamp}, "
        f"bornHost={_socket_address(msg.born_host)}, storeTimestamp={msg.store_timestamp}, "
        f"storeHost={_socket_address(msg.store_host)}, msgId={msg.offset_msg_id}, "
        f"commitLogOffset={msg.commit_log_offset}, bodyCRC={msg.body_crc}, "
        f"reconsumeTimes={msg.reconsume_times}, "
        f"preparedTransactionOffset={msg.prepared_transaction_offset}, "
        f"toString()={message}]"
    )


def consume_message_line(msg: MessageExt, broker_name: str | None = None) -> str:
    """PrintMessageByQueueCommand.printMessage: `MSGID: … MessageExt [...] BODY: …`."""
    body = msg.body.decode("utf-8", errors="replace")
    return f"MSGID: {msg.msg_id} {message_ext_str(msg, broker_name)} BODY: {body}"


DETAIL_ROW = "%-20s %s"


def message_detail_lines(
    msg: MessageExt, body_path: str, human_time: Callable[[int], str], offset_id: bool = True
) -> list[str]:
    """QueryMsgByIdSubCommand.printMsg (QueryMsgByUniqueKeySubCommand.showMessage has no
    OffsetID line); `human_time` is UtilAll.timeMillisToHumanString2."""
    keys = msg.properties.get("KEYS")
    rows = [
        ("Topic:", msg.topic),
        ("Tags:", f"[{java_str(msg.tags)}]"),
        ("Keys:", f"[{java_str(keys)}]"),
        ("Queue ID:", msg.queue_id),
        ("Queue Offset:", msg.queue_offset),
        ("CommitLog Offset:", msg.commit_log_offset),
        ("Reconsume Times:", msg.reconsume_times),
        ("Born Timestamp:", human_time(msg.born_timestamp)),
        ("Store Timestamp:", human_time(msg.store_timestamp)),
        ("Born Host:", f"{msg.born_host[0]}:{msg.born_host[1]}"),
        ("Store Host:", f"{msg.store_host[0]}:{msg.store_host[1]}"),
        ("System Flag:", msg.sys_flag),
        ("Properties:", _java_map(msg.properties)),
        ("Message Body Path:", body_path),
    ]
    if offset_id:
        rows.insert(0, ("OffsetID:", msg.offset_msg_id))
    return [DETAIL_ROW % (name, value) for name, value in rows]


def message_json(
    msg: MessageExt, broker_name: str | None = None, charset: str = "utf-8"
) -> dict[str, object]:
    """A message for `--json` output."""
    return {
        "msgId": msg.msg_id,
        "offsetMsgId": msg.offset_msg_id,
        "topic": msg.topic,
        "brokerName": broker_name,
        "queueId": msg.queue_id,
        "queueOffset": msg.queue_offset,
        "commitLogOffset": msg.commit_log_offset,
        "tags": msg.tags,
        "keys": msg.properties.get("KEYS"),
        "bornTimestamp": msg.born_timestamp,
        "storeTimestamp": msg.store_timestamp,
        "bornHost": f"{msg.born_host[0]}:{msg.born_host[1]}",
        "storeHost": f"{msg.store_host[0]}:{msg.store_host[1]}",
        "sysFlag": msg.sys_flag,
        "reconsumeTimes": msg.reconsume_times,
        "properties": dict(msg.properties),
        "body": msg.body.decode(charset, errors="replace"),
    }


def parse_timestamp(value: str) -> int:
    """A `-s`/`-e` value: ms since the epoch, or local time `yyyy-MM-dd#HH:mm:ss:SSS`.

    Raises:
        ValueError: neither form.
    """
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = _dt.datetime.strptime(text, _JAVA_DATE_FORMAT)
    except ValueError:
        raise ValueError(
            f"timestamp {value!r} is neither ms since the epoch nor yyyy-MM-dd#HH:mm:ss:SSS"
        ) from None
    return int(moment.timestamp() * 1000)

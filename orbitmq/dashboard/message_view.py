"""Finding one message and showing it: message-id lookups (a producer's UNIQ_KEY id or a
broker's offset message id), the header fields, properties and body of the detail pages.

An id is 32 hex digits either way, and a UNIQ_KEY id also decodes as an offset id, so
Java tools first try VIEW_MESSAGE_BY_ID at whatever address it decodes to (slow when that
address is no broker). Here an id is treated as an offset id only when it decodes to the
address of a broker of this cluster; otherwise it is looked up in the topic's UNIQ_KEY
index (QUERY_MESSAGE with _UNIQUE_KEY_QUERY=true).
"""

from __future__ import annotations

from dataclasses import dataclass

from orbitmq.client import MQBrokerError, MQClientError
from orbitmq.client.consumer.pull_codec import decompress
from orbitmq.dashboard.context import Console
from orbitmq.dashboard.pages.common import FormError, format_ms
from orbitmq.protocol.message import MessageExt, SysFlag, decode_offset_msg_id

MAX_BY_KEY = 64  # brokers cap QUERY_MESSAGE at 64
MAX_BY_ID = 32
BODY_SHOWN = 64 * 1024
HEX_LINE = 32


def host_text(host: tuple[str, int]) -> str:
    ip, port = host
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def offset_id_addr(msg_id: str) -> str | None:
    """The broker address an offset message id names, None if it does not decode."""
    try:
        ip, port, _ = decode_offset_msg_id(msg_id)
    except ValueError:
        return None
    return host_text((ip, port))


def is_offset_id(msg_id: str, broker_addrs: set[str]) -> bool:
    return offset_id_addr(msg_id) in broker_addrs


async def find_by_id(console: Console, topic: str, msg_id: str) -> list[MessageExt]:
    """The message(s) `msg_id` names: VIEW_MESSAGE_BY_ID for an offset id of this
    cluster, else the UNIQ_KEY index of `topic` (at most 32).

    Raises:
        FormError: the id is not an offset id here and no topic was given.
        TopicNotExistError: `topic` has no route.
    """
    addrs = {addr for _, _, addr in await console.all_brokers()}
    if is_offset_id(msg_id, addrs):
        try:
            return [readable(await console.bounded(console.admin.view_message(msg_id)))]
        except (MQBrokerError, MQClientError):
            if not topic:
                raise
    if not topic:
        raise FormError(
            f"{msg_id} is not an offset message id of this cluster: give its topic to look "
            "it up as a message id (UNIQ_KEY)."
        )
    found = await console.bounded(
        console.admin.query_message(topic, msg_id, MAX_BY_ID, unique=True)
    )
    return [readable(m) for m in found]


async def view_by_offset_id(console: Console, offset_msg_id: str) -> MessageExt:
    """VIEW_MESSAGE_BY_ID with the body inflated.

    The id names the address the request goes to, and ids come from forms and links: only
    brokers of this cluster are asked, never whatever host and port an id was made up with.

    Raises:
        MQClientError: not an offset message id, or not one of a broker of this cluster.
        MQBrokerError: no such message.
    """
    addr = offset_id_addr(offset_msg_id)
    if addr is not None and addr not in {a for _, _, a in await console.all_brokers()}:
        raise MQClientError(f"{offset_msg_id} names {addr}, which is not a broker of this cluster.")
    return readable(await console.bounded(console.admin.view_message(offset_msg_id)))


def readable(msg: MessageExt) -> MessageExt:
    decompress(msg)
    return msg


def sys_flag_text(flag: int) -> str:
    names = []
    if flag & SysFlag.COMPRESSED:
        names.append("COMPRESSED")
    if flag & SysFlag.MULTI_TAGS:
        names.append("MULTI_TAGS")
    kind = flag & SysFlag.TRANSACTION_MASK
    names.append(
        {
            SysFlag.TRANSACTION_PREPARED: "TRANSACTION_PREPARED",
            SysFlag.TRANSACTION_COMMIT: "TRANSACTION_COMMIT",
            SysFlag.TRANSACTION_ROLLBACK: "TRANSACTION_ROLLBACK",
        }.get(kind, "TRANSACTION_NOT_TYPE")
    )
    return f"{flag} ({', '.join(names)})"


def header_fields(msg: MessageExt) -> list[tuple[str, str]]:
    """The stored header, in rocketmq-dashboard's detail order."""
    return [
        ("Topic", msg.topic),
        ("Message ID", msg.msg_id),
        ("Offset message ID", msg.offset_msg_id),
        ("Tags", msg.tags or "-"),
        ("Keys", " ".join(msg.keys) or "-"),
        ("Queue ID", str(msg.queue_id)),
        ("Queue offset", str(msg.queue_offset)),
        ("Commit log offset", str(msg.commit_log_offset)),
        ("Born host", host_text(msg.born_host)),
        ("Born time", format_ms(msg.born_timestamp)),
        ("Store host", host_text(msg.store_host)),
        ("Store time", format_ms(msg.store_timestamp)),
        ("Store size", f"{msg.store_size} bytes"),
        ("Body length", f"{len(msg.body)} bytes"),
        ("Reconsume times", str(msg.reconsume_times)),
        ("Sys flag", sys_flag_text(msg.sys_flag)),
        ("Flag", str(msg.flag)),
        ("Body CRC", str(msg.body_crc)),
        ("Prepared transaction offset", str(msg.prepared_transaction_offset)),
    ]


@dataclass(frozen=True, slots=True)
class BodyView:
    encoding: str  # "UTF-8" or "hex"
    text: str
    cut: bool


def body_view(body: bytes) -> BodyView:
    """The body as UTF-8 text when it is text, else as hex; the first 64 KiB."""
    shown = body[:BODY_SHOWN]
    cut = len(body) > BODY_SHOWN
    try:
        text = shown.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The cut may split the last character; an error before that means binary.
        if not (cut and exc.start >= len(shown) - 3):
            return BodyView("hex", _hex(shown), cut)
        text = shown[: exc.start].decode("utf-8")
    if any(ch < " " and ch not in "\t\n\r" for ch in text):
        return BodyView("hex", _hex(shown), cut)
    return BodyView("UTF-8", text, cut)


def _hex(data: bytes) -> str:
    return "\n".join(
        f"{i:08x}  {data[i : i + HEX_LINE].hex(' ')}" for i in range(0, len(data), HEX_LINE)
    )

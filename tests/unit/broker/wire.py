"""A broker's connection fed whole frames in memory, its answers read back decoded: the
send lane and metrics tests drive the real dispatcher without sockets."""

from __future__ import annotations

from orbitmq.broker.broker import BrokerController
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.frame import FrameDecoder
from orbitmq.remoting.connection import RemotingConnection


class RecordingTransport:
    """What the connection writes, decoded back into commands by opaque."""

    def __init__(self) -> None:
        self.decoder = FrameDecoder()

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def writelines(self, data: list[bytes]) -> None:
        self.decoder.feed(b"".join(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> tuple[str, int]:
        return ("127.0.0.1", 40000)

    def responses(self) -> dict[int, RemotingCommand]:
        out = {}
        while (command := self.decoder.next_frame()) is not None:
            out[command.opaque] = command
        return out


def connect(broker: BrokerController) -> tuple[RemotingConnection, RecordingTransport]:
    transport = RecordingTransport()
    connection = RemotingConnection(broker.dispatcher)
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport

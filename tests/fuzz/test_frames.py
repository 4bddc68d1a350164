"""Frame decoders: FrameDecoder (next_frame, whole_frames) and the client's splitter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.frame import encode_frame
from tests.fuzz import targets
from tests.fuzz.budget import FUZZ
from tests.fuzz.strategies import chunked, mutated
from tests.strategies import remoting_commands

frames = st.lists(remoting_commands(), min_size=1, max_size=3).map(
    lambda commands: b"".join(encode_frame(c) for c in commands)
)
streams = st.one_of(st.binary(max_size=300), frames, mutated(frames))


@FUZZ
@given(chunked(streams))
def test_frame_decoder(data: bytes) -> None:
    targets.frame(data)


@FUZZ
@given(chunked(streams))
def test_client_transport(data: bytes) -> None:
    targets.client_transport(data)

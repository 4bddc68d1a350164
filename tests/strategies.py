"""Hypothesis strategies shared by the test suite."""

from hypothesis import strategies as st

from orbitmq.protocol.codes import SerializeType
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)


@st.composite
def remoting_commands(draw: st.DrawFn) -> RemotingCommand:
    return RemotingCommand(
        code=draw(st.integers(0, 32767)),
        opaque=draw(st.integers(0, 2**31 - 1)),
        flag=draw(st.sampled_from([0, FLAG_RESPONSE, 2])),
        language=draw(st.sampled_from(["JAVA", "CPP", "PYTHON", "GO"])),
        version=draw(st.integers(0, 32767)),
        remark=draw(st.one_of(st.none(), _text.filter(bool))),
        ext_fields=draw(st.dictionaries(_text.filter(bool), _text, max_size=5)),
        body=draw(st.binary(max_size=300)),
        serialize_type=draw(st.sampled_from(list(SerializeType))),
    )

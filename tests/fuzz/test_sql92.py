"""The SQL92 selector parser and its evaluation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol import sql92
from tests.fuzz import targets
from tests.fuzz.budget import FUZZ
from tests.fuzz.strategies import deep_nesting

# The parser's own keywords, then names, operators and literals at their edges.
_TOKENS = [
    *sorted(sql92._KEYWORDS),
    "a",
    "b",
    "TAGS",
    "$x",
    "_y",
    "=",
    "<>",
    ">",
    ">=",
    "<",
    "<=",
    "(",
    ")",
    ",",
    "+",
    "-",
    "0",
    "1",
    "007",
    "2147483648",
    "9223372036854775808",
    "5L",
    "1.5",
    ".5e3",
    "1e309",
    "'x'",
    "'it''s'",
    "''",
    "'",
    "/*",
    "/* c */",
    "-- c\n",
]
_selectors = st.lists(st.sampled_from(_TOKENS), max_size=25).map(" ".join)
_properties = st.dictionaries(
    st.sampled_from(["a", "b", "TAGS", "$x", "_y"]),
    st.sampled_from(["1", "-3", "1.5", "x", "", "NaN", "Infinity", "true", "99999999999", " 2 "]),
    max_size=4,
).map(lambda table: "\x01".join(f"{k}={v}" for k, v in table.items()))


@FUZZ
@given(
    st.tuples(
        st.one_of(
            _selectors,
            st.text(max_size=40),
            deep_nesting(b"(", b")", b"a = 1").map(bytes.decode),
            deep_nesting(b"NOT ", b"", b"a").map(bytes.decode),
            deep_nesting(b"- ", b"", b"1 > a").map(bytes.decode),
            st.integers(1, 3000).map(lambda n: " AND ".join(["a = 1"] * n)),
        ),
        _properties,
    ).map(lambda t: t[0].encode("utf-8", "surrogatepass") + b"\x00" + t[1].encode())
)
def test_sql92(data: bytes) -> None:
    targets.sql92(data)

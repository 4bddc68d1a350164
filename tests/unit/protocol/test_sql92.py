"""The SQL92 selector language: grammar, Java's parse-time checks, three-valued evaluation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.sql92 import SqlSyntaxError, compile_sql


def ev(expression: str, **props: str) -> bool | None:
    return compile_sql(expression).evaluate(props)


# --------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize(
    ("expression", "props", "expected"),
    [
        ("a > 5", {"a": "6"}, True),
        ("a > 5", {"a": "5"}, False),
        ("a >= 5", {"a": "5"}, True),
        ("a < 5", {"a": "-7"}, True),
        ("a <= 5", {"a": "5"}, True),
        ("a = 5", {"a": "5"}, True),
        ("a <> 5", {"a": "5"}, False),
        ("a <> 5", {"a": "4"}, True),
        ("a = 'x'", {"a": "x"}, True),
        ("a = 'x'", {"a": "X"}, False),
        ("a <> 'x'", {"a": "y"}, True),
        ("a = 'it''s'", {"a": "it's"}, True),
        ("a > 2.5", {"a": "3"}, True),
        ("a > 2.5", {"a": "2.25"}, False),
        ("a = 5.0", {"a": "5"}, True),  # a string converts to the constant's type: Double
        ("a > -5", {"a": "-4"}, True),
        ("a > +5", {"a": "6"}, True),
        ("a = 3000000000", {"a": "3000000000"}, True),  # a Long constant
        ("a > 1e3", {"a": "1001"}, True),
        ("a = 5L", {"a": "5"}, True),
        ("5 < a", {"a": "6"}, True),
        ("a > b", {"a": "10", "b": "9.5"}, True),  # two strings: compared as doubles
        ("a = b", {"a": "x", "b": "x"}, True),
        ("a = TRUE", {"a": "true"}, True),
        ("a = TRUE", {"a": "TRUE"}, True),
        ("a = FALSE", {"a": "yes"}, True),  # Boolean.valueOf: anything but "true" is false
        ("TAGS = 'TagA'", {"TAGS": "TagA"}, True),
    ],
)
def test_comparisons(expression: str, props: dict[str, str], expected: bool) -> None:
    assert compile_sql(expression).evaluate(props) is expected


@pytest.mark.parametrize(
    ("expression", "props"),
    [
        ("a > 5", {"a": "five"}),  # Integer.valueOf fails: no match
        ("a > 5", {"a": "5.5"}),  # Integer constant, not an integer string
        ("a = 5", {"a": "3000000000"}),  # out of Integer range
        ("a > b", {"a": "x", "b": "1"}),
        ("TRUE = a", {"a": "true"}),  # Java casts the Boolean to String and throws
    ],
)
def test_values_that_do_not_convert_never_match(expression: str, props: dict[str, str]) -> None:
    selector = compile_sql(expression)
    assert selector.evaluate(props) is None
    assert not selector.matches(props)


# --------------------------------------------------------------------------- unknowns


def test_missing_property_is_unknown_and_never_matches() -> None:
    for expression in (
        "a > 5",
        "a = 5",
        "a <> 5",
        "NOT (a = 5)",
        "a IN ('x')",
        "a BETWEEN 1 AND 2",
    ):
        assert ev(expression) is None, expression
        assert not compile_sql(expression).matches({})


def test_equality_with_a_constant_on_the_left_is_false_not_unknown() -> None:
    # ComparisonExpression.doCreateEqual: only a null LEFT side gives unknown.
    assert ev("5 = a") is False
    assert ev("NOT (5 = a)") is True
    assert ev("a = b") is True  # both missing: null == null


def test_is_null() -> None:
    assert ev("a IS NULL") is True
    assert ev("a IS NULL", a="1") is False
    assert ev("a IS NOT NULL", a="1") is True
    assert ev("a IS NOT NULL") is False


def test_kleene_logic() -> None:
    assert ev("a = 1 OR b = 2", b="2") is True
    assert ev("a = 1 OR b = 2", b="3") is None
    assert ev("a = 1 AND b = 2", b="3") is False
    assert ev("a = 1 AND b = 2", b="2") is None
    assert ev("a = 1 AND b = 2", a="1", b="2") is True
    assert ev("NOT a = 1 OR TRUE") is True
    assert ev("TRUE AND FALSE") is False
    assert ev("TRUE") is True


# --------------------------------------------------------------------------- operators


def test_between_and_not_between() -> None:
    assert ev("a BETWEEN 1 AND 5", a="1") is True
    assert ev("a BETWEEN 1 AND 5", a="5") is True
    assert ev("a BETWEEN 1 AND 5", a="6") is False
    assert ev("a NOT BETWEEN 1 AND 5", a="6") is True
    assert ev("a NOT BETWEEN 1 AND 5", a="3") is False
    assert ev("a BETWEEN -1.5 AND 1.5 AND b = 'x'", a="0", b="x") is True


def test_in_and_not_in() -> None:
    assert ev("a IN ('x', 'y')", a="y") is True
    assert ev("a IN ('x', 'y')", a="z") is False
    assert ev("a NOT IN ('x', 'y')", a="z") is True
    assert ev("a NOT IN ('x')") is None


def test_string_tests() -> None:
    assert ev("a CONTAINS 'ell'", a="hello") is True
    assert ev("a NOT CONTAINS 'ell'", a="hello") is False
    assert ev("a STARTSWITH 'he'", a="hello") is True
    assert ev("a ENDSWITH 'lo'", a="hello") is True
    assert ev("a ENDSWITH 'x'") is None


def test_keywords_are_case_insensitive_and_comments_skipped() -> None:
    selector = compile_sql("a = 1 and /* note */ b is not null -- tail\n or c in ('q')")
    assert selector.matches({"a": "1", "b": "2"})
    assert selector.matches({"c": "q"})


def test_precedence_and_parentheses() -> None:
    assert ev("a = 1 OR b = 1 AND c = 1", a="1") is True
    assert ev("(a = 1 OR b = 1) AND c = 1", a="1", c="0") is False
    assert ev("NOT (a = 1 AND b = 1)", a="1", b="0") is True


def test_property_alone_is_a_boolean_cast() -> None:
    # A property is a string, never a Boolean: FALSE, or unknown when missing.
    assert ev("a", a="true") is False
    assert ev("a") is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expression", "column", "words"),
    [
        ("a >", 4, "expected a value"),
        ("a > ", 5, "end of expression"),
        ("", 1, "empty"),
        ("   ", 4, "empty"),
        ("a = NULL", 5, "IS NULL"),
        ("a > 'x'", 5, "only numbers"),
        ("a > TRUE", 5, "only numbers"),
        ("a BETWEEN 5 AND 1", 11, "lower bound first"),
        ("a BETWEEN 1 5", 13, "AND between"),
        ("5", 1, "not a boolean"),
        ("'x' AND a = 1", 1, "not a boolean"),
        ("'x' IN ('a')", 1, "needs a property"),
        ("a IN (1, 2)", 7, "string literal"),
        ("a IN ('x'", 10, "')'"),
        ("a = 1 b", 7, "after a complete expression"),
        ("a = 'open", 5, "not closed"),
        ("a # 1", 3, "unexpected character"),
        ("TRUE = 5", 8, "cannot be compared"),
        ("(a = 1", 7, "')'"),
        ("a IS 5", 6, "NULL"),
        ("a = 007", 5, "leading zero"),
        ("a = 99999999999999999999", 5, "64-bit"),
        ("a > (b = 1)", 5, "boolean"),
        ("a = 1 AND", 10, "expected a value"),
        ("a CONTAINS 5", 12, "string literal"),
    ],
)
def test_bad_expressions_name_the_column(expression: str, column: int, words: str) -> None:
    with pytest.raises(SqlSyntaxError) as info:
        compile_sql(expression)
    error = info.value
    assert error.column == column, str(error)
    assert error.position == column - 1
    assert words in str(error)
    assert f"column {column}" in str(error)
    assert isinstance(error, ValueError)


def test_compiled_selectors_are_cached() -> None:
    assert compile_sql("a > 1") is compile_sql("a > 1")


# --------------------------------------------------------------------------- properties

_names = st.sampled_from(["a", "b", "c"])
_values = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.sampled_from(["x", "y", "", "1.5", "true"]),
)
_props = st.dictionaries(_names, _values, max_size=3)
# Values every generated comparison converts: an evaluation error (e.g. 'x' = 0) aborts
# the whole expression in Java, which is not Kleene logic, so those are kept apart.
_clean_props = st.dictionaries(_names, st.integers(-1000, 1000).map(str), max_size=3)


@st.composite
def _comparisons(draw: st.DrawFn) -> str:
    name = draw(_names)
    kind = draw(st.sampled_from(["num", "str", "null", "in", "between"]))
    if kind == "num":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        return f"{name} {op} {draw(st.integers(-5, 5))}"
    if kind == "str":
        return f"{name} {draw(st.sampled_from(['=', '<>']))} '{draw(st.sampled_from(['x', 'y']))}'"
    if kind == "null":
        return f"{name} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if kind == "in":
        return f"{name} {draw(st.sampled_from(['', 'NOT ']))}IN ('x', '1')"
    low = draw(st.integers(-5, 5))
    return f"{name} BETWEEN {low} AND {low + draw(st.integers(0, 5))}"


_expressions = st.recursive(
    _comparisons(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
        inner.map(lambda e: f"NOT ({e})"),
    ),
    max_leaves=6,
)


@given(_expressions, _props)
def test_generated_expressions_parse_and_evaluate_to_three_values(
    expression: str, props: dict[str, str]
) -> None:
    result = compile_sql(expression).evaluate(props)
    assert result in (True, False, None)


@given(_expressions, _clean_props)
def test_not_is_the_three_valued_complement(expression: str, props: dict[str, str]) -> None:
    result = compile_sql(expression).evaluate(props)
    negated = compile_sql(f"NOT ({expression})").evaluate(props)
    assert negated == (None if result is None else not result)


@given(_expressions, _expressions, _clean_props)
def test_and_or_follow_kleene(left: str, right: str, props: dict[str, str]) -> None:
    lv = compile_sql(left).evaluate(props)
    rv = compile_sql(right).evaluate(props)
    both = compile_sql(f"({left}) AND ({right})").evaluate(props)
    either = compile_sql(f"({left}) OR ({right})").evaluate(props)
    if lv is False or rv is False:
        assert both is False
    elif lv is None or rv is None:
        assert both is None
    else:
        assert both is True
    if lv is True or rv is True:
        assert either is True
    elif lv is None or rv is None:
        assert either is None
    else:
        assert either is False


def test_an_evaluation_error_anywhere_means_no_match() -> None:
    selector = compile_sql("(a = 0) OR (a IS NOT NULL)")
    assert selector.evaluate({"a": "1"}) is True
    assert not selector.matches({"a": "x"})  # Integer.valueOf("x") throws in Java too


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_sql_syntax_error(text: str) -> None:
    try:
        selector = compile_sql(text)
    except SqlSyntaxError as error:
        assert 0 <= error.position <= len(text)
    else:
        assert selector.evaluate({"a": "1"}) in (True, False, None)

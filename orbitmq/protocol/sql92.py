"""SQL92 property filters: RocketMQ's message selector language. Pure code.

Grammar (apache/rocketmq filter/.../parser/SelectorParser.jj; keywords are
case-insensitive; `--` and `/* */` comments are skipped):

    selector   := or_expr                                   (must be boolean)
    or_expr    := and_expr ( OR and_expr )*
    and_expr   := eq_expr ( AND eq_expr )*
    eq_expr    := cmp_expr ( '=' cmp_expr | '<>' cmp_expr | IS NULL | IS NOT NULL )*
    cmp_expr   := unary ( ('>' | '>=' | '<' | '<=') unary
                        | [NOT] BETWEEN unary AND unary
                        | [NOT] IN '(' string ( ',' string )* ')'
                        | [NOT] (CONTAINS | STARTSWITH | ENDSWITH) string )*
    unary      := '+' unary | '-' unary | NOT unary | primary
    primary    := literal | property | '(' or_expr ')'
    literal    := 'text' ('' escapes a quote) | 123 | 123L | 1.5 | 1e3 | TRUE | FALSE | NULL
    property   := [a-zA-Z_$][a-zA-Z0-9_$]*                  (a message property, e.g. TAGS)

Semantics follow the Java classes the grammar builds (ComparisonExpression,
LogicExpression, UnaryExpression, ConstantExpression): values are three-valued
(TRUE, FALSE, unknown). A missing property is unknown; a comparison with an unknown
operand is unknown (except `=` with a constant on the left, which is FALSE); NOT of
unknown is unknown; AND/OR are Kleene's. A message matches only if the whole expression
is TRUE. Property values are strings: compared with a number they are converted to
that number's Java type (Integer, Long or Double), `>`/`<` between two strings compare
them as doubles, and a value that does not convert makes the message not match.
Integer literals are Java Integers when they fit 32 bits, else Longs.

Parse-time checks are Java's too: only numbers (or non-boolean expressions) around
`<`, `>`, BETWEEN; no NULL literal around `=`; IN needs a property on its left; a
boolean is required where AND/OR/NOT/the whole selector need one. Unlike Java, text
after a complete expression is an error rather than silently ignored.

    selector = compile_sql("a > 5 AND TAGS IN ('TagA', 'TagB')")
    selector.matches({"a": "6", "TAGS": "TagA"})   # True
    compile_sql("a >")     # SqlSyntaxError: ... at column 4: expected a value ...
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["SqlFilter", "SqlSyntaxError", "compile_sql"]

Properties = Mapping[str, str]
Evaluator = Callable[[Properties], object]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Both the parser and the compiled evaluators recurse, once per nesting level (of
# parentheses, NOT/+/-) and once per operator of a chain (`a = 1 AND b = 2 AND ...`
# nests closures); past these depths Python would raise RecursionError instead of a
# syntax error. Real selectors stay far below them.
_MAX_NESTING = 64
_MAX_DEPTH = 256


class SqlSyntaxError(ValueError):
    """An SQL92 selector that does not parse, or that Java's parser would refuse.

    Attributes:
        expression: the selector as given.
        position: 0-based character offset of the offending token.
        column: `position + 1`.
        reason: what is wrong there.
    """

    def __init__(self, expression: str, position: int, reason: str) -> None:
        self.expression = expression
        self.position = position
        self.column = position + 1
        self.reason = reason
        super().__init__(
            f"invalid SQL92 expression at column {self.column}: {reason} (in {expression!r})"
        )


class _EvalError(Exception):
    """Evaluation failed (Java throws, and the broker treats the message as not matched)."""


class _Long(int):
    """An integer of Java type Long (plain `int` stands for Integer)."""

    __slots__ = ()


# --------------------------------------------------------------------------- tokens

_KEYWORDS = frozenset(
    {
        "NOT",
        "AND",
        "OR",
        "BETWEEN",
        "IN",
        "TRUE",
        "FALSE",
        "NULL",
        "IS",
        "CONTAINS",
        "STARTSWITH",
        "ENDSWITH",
    }
)
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\n\r\f]+|--[^\n\r]*|/\*.*?\*/)
  | (?P<float>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>\d+[lL]?)
  | (?P<string>'(?:''|[^'])*')
  | (?P<id>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op><>|>=|<=|[=<>(),+\-])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "int", "float", "string", "id", a keyword, an operator, or "eof"
    text: str
    position: int


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    end = len(expression)
    while pos < end:
        match = _TOKEN.match(expression, pos)
        if match is None:
            if expression.startswith("'", pos):
                raise SqlSyntaxError(expression, pos, "string literal is not closed")
            if expression.startswith("/*", pos):
                raise SqlSyntaxError(expression, pos, "comment is not closed")
            raise SqlSyntaxError(expression, pos, f"unexpected character {expression[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind == "id" and text.upper() in _KEYWORDS:
            kind = text.upper()
        elif kind == "op":
            kind = text
        elif kind == "int" and len(text.rstrip("lL")) > 1 and text.startswith("0"):
            raise SqlSyntaxError(expression, pos, f"number {text} has a leading zero")
        if kind != "space":
            tokens.append(_Token(kind, text, pos))
        pos = match.end()
    tokens.append(_Token("eof", "", end))
    return tokens


# --------------------------------------------------------------------------- values


def _java_int(text: str, long: bool) -> int:
    """Integer.valueOf / Long.valueOf: optional sign and digits, range-checked."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _EvalError(f"{text!r} is not an integer")
    value = int(text)
    low, high = (_LONG_MIN, _LONG_MAX) if long else (_INT_MIN, _INT_MAX)
    if not low <= value <= high:
        raise _EvalError(f"{text!r} is out of range")
    return _Long(value) if long else value


_JAVA_DOUBLE = re.compile(
    r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
)


def _java_double(text: str) -> float:
    """Double.valueOf: surrounding blanks ignored, optional f/d suffix."""
    stripped = text.strip("".join(chr(c) for c in range(33)))
    if not _JAVA_DOUBLE.fullmatch(stripped):
        raise _EvalError(f"{text!r} is not a number")
    return float(stripped.rstrip("fFdD").replace("Infinity", "inf"))


def _java_type(value: object) -> str:
    kind = type(value)
    if kind is bool:
        return "B"
    if kind is str:
        return "S"
    if kind is _Long:
        return "L"
    if kind is int:
        return "I"
    if kind is float:
        return "D"
    return "?"


def _convert(text: str, java_type: str) -> object:
    if java_type == "I":
        return _java_int(text, long=False)
    if java_type == "L":
        return _java_int(text, long=True)
    return _java_double(text)


def _compare(lv: object, rv: object) -> int:
    """ComparisonExpression.__compare with string conversion on."""
    lt, rt = _java_type(lv), _java_type(rv)
    if lt != rt:
        if lt == "B":
            if rt == "S":  # Java casts the Boolean to String here and throws
                raise _EvalError("cannot compare a boolean with a string")
            return -1
        if lt in "ILD":
            if rt == "S":
                rv = _convert(rv, lt)  # type: ignore[arg-type]
            elif rt not in "ILD":
                return -1
        elif lt == "S":
            if rt == "B":
                lv = lv.lower() == "true"  # type: ignore[attr-defined]
            elif rt in "ILD":
                lv = _convert(lv, rt)  # type: ignore[arg-type]
            else:
                return -1
        else:
            return -1
    if isinstance(lv, float) or isinstance(rv, float):
        a, b = float(lv), float(rv)  # type: ignore[arg-type]
        if math.isnan(a) or math.isnan(b):  # Double.compareTo: NaN above everything
            return int(math.isnan(a)) - int(math.isnan(b))
        return (a > b) - (a < b)
    return int((lv > rv) - (lv < rv))  # type: ignore[operator]


def _java_equals(lv: object, rv: object) -> bool:
    return type(lv) is type(rv) and lv == rv


# --------------------------------------------------------------------------- nodes


@dataclass(slots=True)
class _Node:
    evaluate: Evaluator
    kind: str  # "const", "property", "boolean" (a BooleanExpression) or "value"
    start: int
    end: int
    value: object = None  # constants only
    boolean_constant: bool = False  # TRUE, FALSE and NULL are BooleanConstantExpressions
    depth: int = 1  # how deep `evaluate` recurses

    @property
    def is_boolean(self) -> bool:
        return self.kind == "boolean" or self.boolean_constant


def _constant(value: object, start: int, end: int, boolean: bool = False) -> _Node:
    return _Node(lambda _p: value, "const", start, end, value, boolean)


def _property(name: str, start: int, end: int) -> _Node:
    return _Node(lambda p: p.get(name), "property", start, end)


def _bool(evaluate: Evaluator, start: int, end: int, *operands: _Node) -> _Node:
    depth = 1 + max((operand.depth for operand in operands), default=0)
    return _Node(evaluate, "boolean", start, end, depth=depth)


def _equal(left: _Node, right: _Node) -> Evaluator:
    lf, rf = left.evaluate, right.evaluate

    def evaluate(p: Properties) -> object:
        lv, rv = lf(p), rf(p)
        if (lv is None) != (rv is None):
            return None if lv is None else False
        if lv is None or _java_equals(lv, rv):
            return True
        return _compare(lv, rv) == 0

    return evaluate


def _not(operand: Evaluator) -> Evaluator:
    def evaluate(p: Properties) -> object:
        value = operand(p)
        return None if value is None else not value

    return evaluate


_ORDER: dict[str, Callable[[int], bool]] = {
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
}


def _ordering(op: str, left: _Node, right: _Node) -> Evaluator:
    lf, rf, test = left.evaluate, right.evaluate, _ORDER[op]

    def evaluate(p: Properties) -> object:
        lv = lf(p)
        if lv is None:
            return None
        rv = rf(p)
        if rv is None:
            return None
        if type(lv) is str and type(rv) is str:
            lv, rv = _java_double(lv), _java_double(rv)
        return test(_compare(lv, rv))

    return evaluate


def _and(lf: Evaluator, rf: Evaluator) -> Evaluator:
    def evaluate(p: Properties) -> object:
        lv = lf(p)
        if lv is False:
            return False
        rv = rf(p)
        if rv is False:
            return False
        return None if lv is None or rv is None else True

    return evaluate


def _or(lf: Evaluator, rf: Evaluator) -> Evaluator:
    def evaluate(p: Properties) -> object:
        lv = lf(p)
        if lv is True:
            return True
        rv = rf(p)
        if rv is True:
            return True
        return None if lv is None or rv is None else False

    return evaluate


def _in(operand: Evaluator, values: frozenset[str], negated: bool) -> Evaluator:
    def evaluate(p: Properties) -> object:
        value = operand(p)
        if type(value) is not str:
            return None
        return (value in values) != negated

    return evaluate


_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "CONTAINS": lambda value, arg: arg in value,
    "STARTSWITH": lambda value, arg: value.startswith(arg),
    "ENDSWITH": lambda value, arg: value.endswith(arg),
}


def _string_test(kind: str, operand: Evaluator, arg: str, negated: bool) -> Evaluator:
    test = _STRING_TESTS[kind]

    def evaluate(p: Properties) -> object:
        value = operand(p)
        if value is None:
            return None
        if type(value) is not str:
            return False
        return test(value, arg) != negated

    return evaluate


def _negate(operand: Evaluator) -> Evaluator:
    def evaluate(p: Properties) -> object:
        value = operand(p)
        if isinstance(value, _Long):
            return _Long(-value)
        if type(value) in (int, float):
            return -value  # type: ignore[operator]
        return None

    return evaluate


def _boolean_cast(operand: Evaluator) -> Evaluator:
    def evaluate(p: Properties) -> object:
        value = operand(p)
        if value is None:
            return None
        return value if type(value) is bool else False

    return evaluate


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0
        self.nesting = 0

    # helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def error(self, reason: str, position: int | None = None) -> SqlSyntaxError:
        return SqlSyntaxError(
            self.expression, self.token.position if position is None else position, reason
        )

    def found(self) -> str:
        token = self.token
        return "end of expression" if token.kind == "eof" else repr(token.text)

    def expect(self, kind: str, what: str) -> _Token:
        if self.token.kind != kind:
            raise self.error(f"expected {what}, found {self.found()}")
        return self.advance()

    def text(self, node: _Node) -> str:
        return self.expression[node.start : node.end]

    def as_boolean(self, node: _Node) -> _Node:
        """SelectorParser.asBooleanExpression."""
        if node.is_boolean:
            return node
        if node.kind == "property":
            return _bool(_boolean_cast(node.evaluate), node.start, node.end, node)
        raise self.error(
            f"{self.text(node)!r} is not a boolean expression (a comparison, AND/OR/NOT, "
            "IN, IS NULL, TRUE/FALSE or a property)",
            node.start,
        )

    # grammar
    def parse(self) -> _Node:
        if self.token.kind == "eof":
            raise self.error("the expression is empty")
        node = self.as_boolean(self.or_expr())
        if self.token.kind != "eof":
            raise self.error(f"unexpected {self.found()} after a complete expression")
        if node.depth > _MAX_DEPTH:
            raise self.error(f"the expression nests more than {_MAX_DEPTH} operators deep", 0)
        return node

    def or_expr(self) -> _Node:
        left = self.and_expr()
        while self.token.kind == "OR":
            self.advance()
            right = self.and_expr()
            lb, rb = self.as_boolean(left), self.as_boolean(right)
            left = _bool(_or(lb.evaluate, rb.evaluate), left.start, right.end, lb, rb)
        return left

    def and_expr(self) -> _Node:
        left = self.eq_expr()
        while self.token.kind == "AND":
            self.advance()
            right = self.eq_expr()
            lb, rb = self.as_boolean(left), self.as_boolean(right)
            left = _bool(_and(lb.evaluate, rb.evaluate), left.start, right.end, lb, rb)
        return left

    def eq_expr(self) -> _Node:
        left = self.cmp_expr()
        while True:
            kind = self.token.kind
            if kind in ("=", "<>"):
                self.advance()
                right = self.cmp_expr()
                for operand in (left, right):
                    if operand.kind == "const" and operand.value is None:
                        raise self.error(
                            "NULL cannot be compared with = or <>; use IS NULL", operand.start
                        )
                if (
                    left.kind == "const"
                    and right.kind == "const"
                    and left.boolean_constant
                    and not right.boolean_constant
                ):
                    raise self.error(
                        f"{self.text(left)} cannot be compared with {self.text(right)}",
                        right.start,
                    )
                evaluate = _equal(left, right)
                left = _bool(
                    evaluate if kind == "=" else _not(evaluate), left.start, right.end, left, right
                )
            elif kind == "IS":
                self.advance()
                negated = self.token.kind == "NOT"
                if negated:
                    self.advance()
                end = self.expect("NULL", "NULL after IS" + (" NOT" if negated else "")).position
                null = _constant(None, end, end + 4, boolean=True)
                evaluate = _equal(left, null)
                left = _bool(_not(evaluate) if negated else evaluate, left.start, end + 4, left)
            else:
                return left

    def cmp_expr(self) -> _Node:
        left = self.unary()
        while True:
            kind = self.token.kind
            negated = kind == "NOT" and self.peek().kind in (
                "BETWEEN",
                "IN",
                *_STRING_TESTS,
            )
            if negated:
                self.advance()
                kind = self.token.kind
            if kind in _ORDER:
                self.advance()
                right = self.unary()
                self.check_orderable(left)
                self.check_orderable(right)
                left = _bool(_ordering(kind, left, right), left.start, right.end, left, right)
            elif kind == "BETWEEN":
                left = self.between(left, negated)
            elif kind == "IN":
                left = self.in_list(left, negated)
            elif kind in _STRING_TESTS:
                self.advance()
                arg_token = self.token
                arg = self.string_literal()
                evaluate = _string_test(kind, left.evaluate, arg, negated)
                end = arg_token.position + len(arg_token.text)
                left = _bool(evaluate, left.start, end, left)
            else:
                return left

    def check_orderable(self, node: _Node) -> None:
        """ComparisonExpression.checkLessThanOperand: numbers only."""
        if node.kind == "const":
            if type(node.value) in (int, _Long, float):
                return
            raise self.error(
                f"{self.text(node)} cannot be compared with <, >, <=, >= or BETWEEN; "
                "only numbers can",
                node.start,
            )
        if node.is_boolean:
            raise self.error(
                f"the boolean {self.text(node)!r} cannot be compared with <, >, <=, >= or BETWEEN",
                node.start,
            )

    def between(self, value: _Node, negated: bool) -> _Node:
        self.advance()
        low = self.unary()
        self.expect("AND", "AND between the BETWEEN bounds")
        high = self.unary()
        if not negated and low.kind == "const" and high.kind == "const":
            if low.value is None or high.value is None:
                raise self.error("BETWEEN bounds cannot be NULL", low.start)
            try:
                reversed_bounds = _compare(high.value, low.value) < 0
            except _EvalError:
                reversed_bounds = False
            if reversed_bounds:
                raise self.error(
                    f"BETWEEN needs its lower bound first: {self.text(low)} is greater "
                    f"than {self.text(high)}",
                    low.start,
                )
        for node in (value, low, high):
            self.check_orderable(node)
        if negated:  # value < low OR value > high
            evaluate = _or(_ordering("<", value, low), _ordering(">", value, high))
        else:  # value >= low AND value <= high
            evaluate = _and(_ordering(">=", value, low), _ordering("<=", value, high))
        return _bool(evaluate, value.start, high.end, value, low, high)

    def in_list(self, value: _Node, negated: bool) -> _Node:
        self.advance()
        if value.kind != "property":
            raise self.error(
                f"IN needs a property on its left, not {self.text(value)!r}", value.start
            )
        self.expect("(", "'(' after IN")
        items = [self.string_literal()]
        while self.token.kind == ",":
            self.advance()
            items.append(self.string_literal())
        close = self.expect(")", "',' or ')' in the IN list")
        return _bool(
            _in(value.evaluate, frozenset(items), negated), value.start, close.position + 1, value
        )

    def string_literal(self) -> str:
        token = self.expect("string", "a string literal in single quotes")
        return token.text[1:-1].replace("''", "'")

    def unary(self) -> _Node:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise self.error(f"the expression nests more than {_MAX_NESTING} levels deep")
        try:
            return self._unary()
        finally:
            self.nesting -= 1

    def _unary(self) -> _Node:
        token = self.token
        if token.kind == "+":
            self.advance()
            operand = self.unary()
            return _Node(
                operand.evaluate, "value", token.position, operand.end, depth=operand.depth
            )
        if token.kind == "-":
            self.advance()
            operand = self.unary()
            return _Node(
                _negate(operand.evaluate),
                "value",
                token.position,
                operand.end,
                depth=operand.depth + 1,
            )
        if token.kind == "NOT":
            self.advance()
            operand = self.as_boolean(self.unary())
            return _bool(_not(operand.evaluate), token.position, operand.end, operand)
        return self.primary()

    def primary(self) -> _Node:
        token = self.token
        start, end = token.position, token.position + len(token.text)
        kind = token.kind
        if kind == "string":
            self.advance()
            return _constant(token.text[1:-1].replace("''", "'"), start, end)
        if kind == "int":
            self.advance()
            digits = token.text.rstrip("lL")
            value = int(digits)
            if value > _LONG_MAX:
                raise self.error(f"{token.text} does not fit a 64-bit integer", start)
            return _constant(value if value <= _INT_MAX else _Long(value), start, end)
        if kind == "float":
            self.advance()
            number = float(token.text)
            if math.isinf(number):
                raise self.error(f"{token.text} is too large for a double", start)
            return _constant(number, start, end)
        if kind in ("TRUE", "FALSE", "NULL"):
            self.advance()
            literal = {"TRUE": True, "FALSE": False, "NULL": None}[kind]
            return _constant(literal, start, end, boolean=True)
        if kind == "id":
            self.advance()
            return _property(token.text, start, end)
        if kind == "(":
            self.advance()
            inner = self.or_expr()
            close = self.expect(")", "')'")
            inner.start, inner.end = start, close.position + 1
            return inner
        raise self.error(f"expected a value, a property or '(', found {self.found()}")


# --------------------------------------------------------------------------- public


@dataclass(frozen=True, slots=True)
class SqlFilter:
    """A compiled selector; `matches` is safe to call on any properties."""

    expression: str
    _evaluate: Evaluator

    def evaluate(self, properties: Properties) -> bool | None:
        """TRUE, FALSE or None (unknown); None also when evaluation fails."""
        try:
            result = self._evaluate(properties)
        except (_EvalError, TypeError, ValueError, OverflowError):
            return None
        return result if isinstance(result, bool) else None

    def matches(self, properties: Properties) -> bool:
        """True only if the selector is TRUE for these message properties."""
        return self.evaluate(properties) is True


@functools.lru_cache(maxsize=512)
def compile_sql(expression: str) -> SqlFilter:
    """Parse and check an SQL92 selector (cached: brokers compile per pull).

    Raises:
        SqlSyntaxError: it does not parse or fails Java's checks; the error names
            the column.
    """
    node = _Parser(expression).parse()
    return SqlFilter(expression, node.evaluate)

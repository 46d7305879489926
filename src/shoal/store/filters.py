"""The filter grammar shared by the SDK, the CLI and the REST API.

    where  := or
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | atom
    atom   := "(" or ")" | operand cmp operand | field ["not"] "in" "(" literal, ... ")"
            | field "is" ["not"] "null"
    cmp    := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    operand:= field | literal
    field  := name ("." name)?          store, mape, tags.team, production.mape
    literal:= 'text' | "text" | number | true | false

This module only parses: it knows nothing of fleets or SQL, so every entry point
shares one grammar and one set of error messages. ``search`` resolves the names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from shoal.errors import FilterSyntaxError

Literal = str | float | int | bool


@dataclass(frozen=True)
class Field:
    """A name in a filter: ``store``, ``mape``, ``tags.team`` or ``production.mape``."""

    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Compare:
    left: Field | Literal
    op: str
    right: Field | Literal


@dataclass(frozen=True)
class In:
    field: Field
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    field: Field
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | In | IsNull | And | Or | Not

OPERATORS = ("=", "==", "!=", "<>", "<", "<=", ">", ">=")
"""Every comparison operator the parser accepts (``cmp`` above); docs and help list these."""
SYNONYMS = {"==": "=", "<>": "!="}
"""Operators that parse as another: a parsed :class:`Compare` holds only ``= != < <= > >=``."""
KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
"""Words the parser reserves, in any case (``AND`` too); no bare field can be named one."""

# Longest first, so "<=" is not read as "<" then "=".
_OP_PATTERN = "|".join(re.escape(op) for op in sorted(OPERATORS, key=len, reverse=True))
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|-?\.\d+(?:[eE][-+]?\d+)?)
    | (?P<op>"""
    + _OP_PATTERN
    + r""")
    | (?P<punct>[(),*])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is string, number, op, punct, name, kw (a keyword) or end."""

    kind: str
    value: str
    pos: int


EXAMPLE = "write e.g. \"store = 's012' and mape > 0.3\""


def tokenize(text: str, *, field: str = "where", example: str = EXAMPLE) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    The one tokenizer of Shoal's small languages: filters here, alert rules in
    ``shoal.monitor`` (``mape > 1.3 * training.mape``), so a name, a number or an
    operator reads the same in both. An unreadable character is a
    :class:`FilterSyntaxError` naming ``field``, the position and ``example``.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            rest = text[pos:].lstrip()
            at = len(text) - len(rest)  # where the unreadable text starts, past the spaces
            raise FilterSyntaxError(
                f"{field}: unexpected {rest[:20]!r} at position {at}; {example}", field=field
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        start = match.start(kind)
        if kind == "name" and value.lower() in KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append(Token(kind, value, start))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


MAX_DEPTH = 32
"""How deep parentheses and ``not`` may nest: deeper is refused, never a RecursionError."""

MAX_CHARS = 4000
"""The longest filter accepted (URL-encoded, it still fits a request line over REST)."""

INT_RANGE = (-(2**63), 2**63 - 1)
"""Integers a filter may hold: what a store's 64-bit columns can compare against."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(
                f"where: nested more than {MAX_DEPTH} deep at position {self.peek().pos}: "
                "flatten the parentheses and 'not's",
                field="where",
            )

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, expected: str) -> FilterSyntaxError:
        tok = self.peek()
        found = "the end" if tok.kind == "end" else repr(tok.value)
        return FilterSyntaxError(
            f"where: expected {expected} at position {tok.pos} but found {found} in {self.text!r}",
            field="where",
        )

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            return self.take()
        return None

    def expect(self, kind: str, value: str, expected: str) -> None:
        if not self.accept(kind, value):
            raise self.error(expected)

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek().kind != "end":
            raise self.error("'and', 'or' or the end")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.accept("kw", "or"):
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.accept("kw", "and"):
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Node:
        if self.accept("kw", "not"):
            self.deeper()
            node: Node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_atom()

    def parse_atom(self) -> Node:
        if self.accept("punct", "("):
            self.deeper()
            node = self.parse_or()
            self.expect("punct", ")", "')'")
            self.depth -= 1
            return node
        left = self.parse_operand()
        if isinstance(left, Field):
            if self.accept("kw", "is"):
                negated = bool(self.accept("kw", "not"))
                self.expect("kw", "null", "'null' after 'is'")
                return IsNull(left, negated)
            negated = False
            if self.peek().kind == "kw" and self.peek().value == "not":
                self.take()
                negated = True
                if self.peek().value != "in":
                    raise self.error("'in' after 'not'")
            if self.accept("kw", "in"):
                return In(left, self.parse_list(), negated)
        op = self.accept("op")
        if not op:
            raise self.error("a comparison (=, !=, <, <=, >, >=, in)")
        right = self.parse_operand()
        if not isinstance(left, Field) and not isinstance(right, Field):
            raise FilterSyntaxError(
                f"where: {self.text!r} compares two values; one side must be a field "
                "such as a key, a metric or a tag",
                field="where",
            )
        return Compare(left, SYNONYMS.get(op.value, op.value), right)

    def parse_list(self) -> tuple[Literal, ...]:
        self.expect("punct", "(", "'(' after 'in'")
        values = [self.parse_literal()]
        while self.accept("punct", ","):
            values.append(self.parse_literal())
        self.expect("punct", ")", "',' or ')'")
        return tuple(values)

    def parse_operand(self) -> Field | Literal:
        tok = self.peek()
        if tok.kind == "name":
            self.take()
            return Field(tuple(tok.value.split(".")))
        return self.parse_literal()

    def parse_literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            quote = tok.value[0]
            # Keys and tags are stored NFC: a value typed decomposed matches them too.
            return unicodedata.normalize("NFC", tok.value[1:-1].replace(quote * 2, quote))
        if tok.kind == "number":
            return self.number(tok)
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        self.i -= 1
        raise self.error("a value: a 'quoted string', a number, true or false")

    def number(self, tok: Token) -> int | float:
        """An int within :data:`INT_RANGE`, or a finite float; anything else names its place."""
        low, high = INT_RANGE
        if re.fullmatch(r"-?\d+", tok.value):
            whole = int(tok.value)
            if low <= whole <= high:
                return whole
            problem = f"is outside the 64-bit range {low} to {high}"
        else:
            number = float(tok.value)
            if math.isfinite(number):
                return number
            problem = "is too large to be a finite number"
        raise FilterSyntaxError(
            f"where: the number {tok.value[:40]} at position {tok.pos} {problem}; "
            "compare against a smaller value",
            field="where",
        )


def parse(text: str) -> Node | None:
    """Parse a ``where=`` expression; ``None`` or blank means no filter."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_CHARS:
        raise FilterSyntaxError(
            f"where: the filter is {len(text)} characters, over the limit of {MAX_CHARS}; "
            "match many values with one 'in (...)' or narrow it with a tag",
            field="where",
        )
    return _Parser(text).parse()


def fields_of(node: Node | None) -> list[Field]:
    """Every field a filter mentions, in order."""
    if node is None:
        return []
    if isinstance(node, Compare):
        return [side for side in (node.left, node.right) if isinstance(side, Field)]
    if isinstance(node, In | IsNull):
        return [node.field]
    if isinstance(node, Not):
        return fields_of(node.item)
    return [field for item in node.items for field in fields_of(item)]


def conjuncts(node: Node | None) -> list[Node]:
    """The top-level AND terms of a filter (one term if it is not an AND)."""
    if node is None:
        return []
    return list(node.items) if isinstance(node, And) else [node]

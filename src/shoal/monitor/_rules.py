"""Alert rules: a small grammar over monitoring figures, checked after every pass.

    rule    := figure OP bound ["on any feature"] ["for" N "windows"]
    bound   := NUMBER | [NUMBER "*"] "training." METRIC
    OP      := > | >= | < | <=

Examples: ``mape > 1.3 * training.mape``, ``psi > 0.2 on any feature for 2 windows``,
``drifted_features >= 1``, ``predictions < 10 for 3 windows``.

A model figure is one of the per-version figures of ``monitor_results`` (``mae``,
``mape``, ``prediction_psi``, ``drifted_features``, ...). With ``on any feature`` the
figure is a feature's (``psi``, ``statistic``, ``missing_rate``, ``out_of_range``); for
``psi`` and ``statistic`` only features the fleet-wide false-discovery control flagged
count (a rule on raw PSI would fire on sampling noise in every small window), while
missing rates and out-of-range counts are read on every feature. ``training.<metric>`` is
the metric of that name registered with the serving version (a version without it never
matches).
``for N windows`` needs the rule to hold in each of the fleet's N newest windows.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from shoal.errors import FilterSyntaxError, InvalidInput
from shoal.registry import FIGURES, Token, tokenize

FEATURE_FIGURES = ("psi", "statistic", "missing_rate", "out_of_range")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip
EXAMPLE = "write e.g. 'mape > 1.3 * training.mape' or 'psi > 0.2 on any feature for 2 windows'"


@dataclass(frozen=True)
class Rule:
    """A parsed rule."""

    figure: str
    op: str
    number: float | None
    factor: float
    metric: str | None
    on_feature: bool
    windows: int

    def bound(self, training: dict[str, float] | None) -> float:
        if self.metric is None:
            assert self.number is not None  # parse gives a rule without a metric its number
            return float(self.number)
        value = (training or {}).get(self.metric)
        return math.nan if value is None else self.factor * value

    def holds(self, value: Any, training: dict[str, float] | None = None) -> bool:
        if value is None:
            return False
        bound = self.bound(training)
        if math.isnan(bound) or (isinstance(value, float) and math.isnan(value)):
            return False
        return _OPS[self.op](float(value), bound)


def parse(expression: str) -> Rule:
    """Parse a rule, or say what is wrong with it and how to write it.

    The rule is read by the filter grammar's tokenizer (``shoal.registry.tokenize``), so
    names, numbers and operators are the ones ``--where`` reads.
    """
    tokens = _Tokens(expression or "")
    figure = tokens.name("a figure such as mape or psi").lower()
    op = tokens.take("op", "a comparison: >, >=, < or <=")
    if op not in _OPS:
        tokens.fail(
            f"{op!r} does not compare a figure with a bound; use >, >=, < or <=", at=tokens.last()
        )
    number: float | None = None
    factor, metric = 1.0, None
    if tokens.peek().kind == "number":
        number = float(tokens.take("number", "a number"))
        if tokens.accept("punct", "*"):
            factor, number = number, None
            metric = _training_metric(tokens, expression)
    else:
        metric = _training_metric(tokens, expression)
    on_feature = False
    if tokens.accept_word("on"):
        for word in ("any", "feature"):
            if not tokens.accept_word(word):
                tokens.fail("'on' is followed by 'any feature'")
        on_feature = True
    windows = 1
    if tokens.accept_word("for"):
        count = tokens.take("number", "a whole number of windows")
        if not count.isdigit():
            tokens.fail("write 'for N windows' with N a whole number", at=tokens.last())
        if not tokens.accept_word("windows", "window"):
            tokens.fail("write 'for N windows' with N a whole number")
        windows = int(count)
    tokens.end()
    allowed = FEATURE_FIGURES if on_feature else tuple(sorted(FIGURES))
    if figure not in allowed:
        where = "a feature figure" if on_feature else "a model figure"
        raise InvalidInput(
            f"alert rule {expression!r}: {figure!r} is not {where}; use one of {list(allowed)}",
            field="rule",
        )
    if not 1 <= windows <= 100:
        raise InvalidInput("alert rule: 'for N windows' takes N from 1 to 100", field="rule")
    return Rule(figure=figure, op=op, number=number, factor=factor, metric=metric,
                on_feature=on_feature, windows=windows)  # fmt: skip


def _training_metric(tokens: _Tokens, expression: str) -> str:
    name = tokens.name("a number or training.<metric>")
    prefix, _, metric = name.partition(".")
    if prefix.lower() != "training" or not metric:
        raise InvalidInput(
            f"alert rule {expression!r}: the bound is a number, training.<metric> or "
            f"N * training.<metric>, not {name!r}; {EXAMPLE}",
            field="rule",
        )
    return metric


class _Tokens:
    """A rule's tokens, read left to right; every mistake names the rule and an example."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        try:
            self.items = tokenize(expression, field="rule", example=EXAMPLE)
        except FilterSyntaxError as exc:
            reason = str(exc).removeprefix("rule: ")
            raise InvalidInput(f"alert rule {expression!r}: {reason}", field="rule") from None
        self.i = 0

    def peek(self) -> Token:
        return self.items[self.i]

    def last(self) -> Token:
        """The token just taken."""
        return self.items[self.i - 1]

    def fail(self, what: str, at: Token | None = None) -> NoReturn:
        """Refuse the rule at ``at`` (by default the token not yet taken)."""
        pos = (at or self.peek()).pos
        raise InvalidInput(
            f"alert rule {self.expression!r} is not understood at position {pos}: {what}; "
            f"{EXAMPLE}",
            field="rule",
        )

    def take(self, kind: str, what: str) -> str:
        token = self.peek()
        if token.kind != kind:
            self.fail(f"expected {what}")
        self.i += 1
        return token.value

    def name(self, what: str) -> str:
        return self.take("name", what)

    def accept(self, kind: str, value: str) -> bool:
        token = self.peek()
        if token.kind == kind and token.value == value:
            self.i += 1
            return True
        return False

    def accept_word(self, *words: str) -> bool:
        token = self.peek()
        if token.kind == "name" and token.value.lower() in words:
            self.i += 1
            return True
        return False

    def end(self) -> None:
        if self.peek().kind != "end":
            self.fail("expected the end of the rule (or 'on any feature', 'for N windows')")

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
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.errors import InvalidInput
from shoal.registry import FIGURES

FEATURE_FIGURES = ("psi", "statistic", "missing_rate", "out_of_range")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip
_RULE = re.compile(
    r"""^\s*(?P<figure>[a-z_]+)\s*(?P<op>>=|<=|>|<)\s*
    (?:(?P<factor>[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?)\s*\*\s*)?
    (?:training\.(?P<metric>[A-Za-z0-9_.-]+)|(?P<number>[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?))
    (?P<feature>\s+on\s+any\s+feature)?
    (?:\s+for\s+(?P<windows>\d+)\s+windows?)?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)


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
            return float(self.number)  # type: ignore[arg-type]
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
    """Parse a rule, or say what is wrong with it and how to write it."""
    match = _RULE.match(expression or "")
    example = "write e.g. 'mape > 1.3 * training.mape' or 'psi > 0.2 on any feature for 2 windows'"
    if match is None:
        raise InvalidInput(f"alert rule {expression!r} is not understood; {example}", field="rule")
    figure = match["figure"].lower()
    on_feature = bool(match["feature"])
    allowed = FEATURE_FIGURES if on_feature else tuple(sorted(FIGURES))
    if figure not in allowed:
        where = "a feature figure" if on_feature else "a model figure"
        raise InvalidInput(
            f"alert rule {expression!r}: {figure!r} is not {where}; use one of {list(allowed)}",
            field="rule",
        )
    windows = int(match["windows"] or 1)
    if not 1 <= windows <= 100:
        raise InvalidInput("alert rule: 'for N windows' takes N from 1 to 100", field="rule")
    if match["factor"] and not match["metric"]:
        raise InvalidInput(
            f"alert rule {expression!r}: a factor multiplies training.<metric>; {example}",
            field="rule",
        )
    return Rule(
        figure=figure, op=match["op"],
        number=float(match["number"]) if match["number"] else None,
        factor=float(match["factor"]) if match["factor"] else 1.0,
        metric=match["metric"], on_feature=on_feature, windows=windows,
    )  # fmt: skip

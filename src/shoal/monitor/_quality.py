"""The built-in quality rule: a live figure far worse than the one the version recorded.

Why built in: a fleet owner should not have to declare a rule before the worst model of
the fleet raises an alert. Every version records metrics at registration (evaluated,
``eval_mape``, or plain, ``mape``); after each pass this rule compares each model's live
figures in the newest window with its serving version's recorded ones:

- an error figure (``mae``, ``rmse``, ``mape``, ``smape``, ``log_loss``) above ``factor``
  times the recorded value (default 2);
- a score (``accuracy``, ``f1``) below the recorded value less ``margin`` (default 0.1);
- live MAPE above ``ceiling`` (default 1.0) whatever was recorded: a forecast of zero
  scores a MAPE of exactly 1, so a model above it does worse than no model at all, even
  when it was already that bad at evaluation;

and only for models with at least ``min_labelled`` actuals in the window (a figure over
two actuals is noise). The alert names the figure and what it was compared with. A figure
the fleet already judges with a declared rule against a recorded metric (``mape > 1.3 *
training.mape``) is left to that rule, so one cause raises one alert.

The rule is stored as an alert rule named ``quality`` whose expression reads
``builtin quality factor=2 margin=0.1 ceiling=1 min_labelled=5``: created the first time
it matches (so a fleet where nothing is wrong lists no rule it did not ask for), or when a
person configures it (``fleet.alerts.quality_rule(factor=3)``, or ``enabled=False`` to
turn it off for the fleet; ``MonitorOptions(quality_alerts=False)`` skips it for a pass).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shoal.errors import InvalidInput
from shoal.registry.alerts import Match

NAME = "quality"
"""The built-in rule's name (``quality-builtin`` where a fleet already has a ``quality``)."""
PREFIX = "builtin quality"
ERRORS = ("mae", "rmse", "mape", "smape", "log_loss")
SCORES = ("accuracy", "f1")


@dataclass(frozen=True)
class Quality:
    """The built-in rule's thresholds (see the module doc)."""

    factor: float = 2.0
    margin: float = 0.1
    ceiling: float = 1.0
    """Live MAPE above this alerts whatever was recorded; 0 turns the ceiling off."""
    min_labelled: int = 5

    def __post_init__(self) -> None:
        checks = {
            "factor": self.factor > 1, "margin": self.margin >= 0, "ceiling": self.ceiling >= 0,
            "min_labelled": isinstance(self.min_labelled, int) and self.min_labelled >= 1,
        }  # fmt: skip
        for name, ok in checks.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not ok or not math.isfinite(float(value)):
                raise InvalidInput(
                    f"quality rule: {name} {value!r} is out of range (factor > 1, margin >= 0, "
                    "ceiling >= 0, min_labelled a whole number >= 1)",
                    field=name,
                )

    def expression(self) -> str:
        return PREFIX + "".join(f" {k}={v:g}" for k, v in asdict(self).items())

    def settings(self) -> dict[str, Any]:
        return asdict(self)


def is_builtin(expression: str) -> bool:
    return expression.strip().lower().startswith(PREFIX)


def read(expression: str) -> Quality:
    """The thresholds an expression written by :meth:`Quality.expression` holds."""
    words = expression.strip()[len(PREFIX) :].split()
    values: dict[str, Any] = {}
    for word in words:
        name, _, text = word.partition("=")
        if name not in Quality.__dataclass_fields__ or not text:
            raise InvalidInput(f"quality rule: {word!r} is not a setting", field="rule")
        try:
            values[name] = int(text) if name == "min_labelled" else float(text)
        except ValueError:
            raise InvalidInput(f"quality rule: {word!r} is not a number", field="rule") from None
    return Quality(**values)


def recorded_names() -> list[str]:
    """The registered metrics the rule reads: ``eval_<figure>`` first, then ``<figure>``."""
    return [name for f in (*ERRORS, *SCORES) for name in (f"eval_{f}", f)]


def matches(
    rule: Quality,
    rows: Sequence[dict[str, Any]],
    recorded: dict[tuple[int, str], float],
    covered: Collection[str] = (),
) -> tuple[list[Match], set[int]]:
    """Models whose live figures breach ``rule`` in a window's ``rows``, and the models the
    window could judge (enough actuals and a live quality figure): only those resolve.
    Figures in ``covered`` (judged by a declared rule against a recorded metric) are
    left out."""
    found: dict[int, tuple[float, Match]] = {}
    judged: set[int] = set()
    for row in rows:
        if (row.get("labelled") or 0) < rule.min_labelled:
            continue
        vid = row["version_id"]
        for figure in (*ERRORS, *SCORES):
            if figure in covered:
                continue
            live = row.get(figure)
            if live is None or not math.isfinite(live):
                continue
            judged.add(row["model_id"])
            breach = _breach(rule, figure, live, vid, recorded)
            if breach is None:
                continue
            severity, detail = breach
            best = found.get(row["model_id"])
            if best is None or severity > best[0]:
                found[row["model_id"]] = (
                    severity, Match(row["model_id"], vid, float(live), detail[:200])
                )  # fmt: skip
    return [m for _, m in found.values()], judged


def _breach(
    rule: Quality, figure: str, live: float, vid: int, recorded: dict[tuple[int, str], float]
) -> tuple[float, str] | None:
    """(severity, what it was compared with) when ``live`` breaches the rule, else None."""
    name = next((n for n in (f"eval_{figure}", figure) if (vid, n) in recorded), None)
    worst: tuple[float, str] | None = None
    if name is not None:
        base = recorded[(vid, name)]
        if figure in ERRORS and base > 0 and live > rule.factor * base:
            worst = (live / base, f"{figure} > {rule.factor:g} x {name} {base:.4g}")
        elif figure in SCORES and live < base - rule.margin:
            worst = (1 + (base - live) / max(rule.margin, 1e-9),
                     f"{figure} < {name} {base:.4g} - {rule.margin:g}")  # fmt: skip
    if figure == "mape" and rule.ceiling > 0 and live > rule.ceiling:
        severity = live / rule.ceiling
        if worst is None or severity > worst[0]:
            zero = " (worse than forecasting zero)" if rule.ceiling == 1 else ""
            worst = (severity, f"mape > {rule.ceiling:g}{zero}")
    return worst

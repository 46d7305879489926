"""After a pass: check every enabled rule of the fleet, store alerts, notify.

Each rule reads the N newest windows it needs in one query per window, and the training
metrics it compares with in one query; alerts are opened, refreshed and resolved in one
transaction per rule. Notifications follow the commit: a log line for each opened alert,
and one webhook POST per rule and pass carrying all of them (in batches of
``WEBHOOK_BATCH``), retried a few times; a receiver that is down never fails the pass.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.errors import InvalidInput
from shoal.monitor import _quality
from shoal.monitor._rules import Rule, parse
from shoal.monitor._webhook_guard import check_webhook
from shoal.registry import FleetRef, Registry
from shoal.registry.alerts import Match
from shoal.registry.monitoring import Monitoring

log = logging.getLogger("shoal.alerts")
WEBHOOK_BATCH = 500
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT = 5.0


@dataclass
class AlertOutcome:
    opened: int = 0
    resolved: int = 0
    open_now: int = 0
    webhook_errors: list[str] = field(default_factory=list)


def check_rules(
    registry: Registry, fleet: FleetRef, window_seconds: int, *, actor: str, quality: bool = True
) -> AlertOutcome:
    """Check the fleet's enabled rules, and the built-in quality rule (``_quality``) unless
    ``quality`` is False or the fleet turned it off."""
    outcome = AlertOutcome()
    every = registry.alerts.rules(fleet)
    declared = [r for r in every if r["enabled"]]
    recent = registry.monitoring.windows(fleet, window_seconds, limit=100)
    if not recent:
        return outcome
    rows: dict[tuple[int, float], list[dict[str, Any]]] = {}  # each window read once
    builtin = next((r for r in every if _quality.is_builtin(r["expression"])), None)
    if quality and builtin is None:  # not stored until it first matches (see _quality)
        declared.append(
            {
                "id": None,
                "name": _quality.NAME,
                "expression": _quality.Quality().expression(),
                "webhook": None,
            }
        )
    elif not quality:
        declared = [r for r in declared if not _quality.is_builtin(r["expression"])]
    # A figure the fleet already judges against a recorded metric (``mape > 1.3 *
    # training.mape``) is left to that rule: one reason, one alert.
    parsed = {r["id"]: parse(r["expression"]) for r in declared
              if not _quality.is_builtin(r["expression"])}  # fmt: skip
    covered = {p.figure for p in parsed.values() if p.metric and not p.on_feature}
    for declared_rule in declared:
        if _quality.is_builtin(declared_rule["expression"]):
            matches, seen = _quality_matches(registry.monitoring, fleet, declared_rule,
                                             recent[0], rows, covered)  # fmt: skip
            if declared_rule["id"] is None:
                if not matches:
                    continue
                taken = {r["name"] for r in every}
                name = _quality.NAME if _quality.NAME not in taken else f"{_quality.NAME}-builtin"
                declared_rule = registry.alerts.add_rule(
                    fleet, name, declared_rule["expression"], actor=actor
                )
        else:
            rule = parsed[declared_rule["id"]]
            matches, seen = _matches(registry.monitoring, fleet, rule, recent[: rule.windows], rows)
        opened, resolved, fresh = registry.alerts.apply(
            fleet, declared_rule["id"], recent[0][1], matches, seen, actor=actor
        )
        outcome.opened += len(opened)
        outcome.resolved += len(resolved)
        _notify(fleet, declared_rule, fresh, resolved, outcome)
    outcome.open_now = registry.alerts.count(fleet)
    return outcome


def _matches(
    stored: Monitoring,
    fleet: FleetRef,
    rule: Rule,
    windows: Sequence[tuple[int, float]],
    cache: dict[tuple[int, float], list[dict[str, Any]]],
) -> tuple[list[Match], set[int]]:
    """Models for which ``rule`` holds in every one of ``windows`` (newest first), and the
    models the newest window could judge (only those may have an alert resolved)."""
    newest_seen: set[int] = set()
    matched: dict[int, Match] | None = None
    for index, window in enumerate(windows):
        if window not in cache:
            cache[window] = stored.window_rows(fleet, window)
        rows = cache[window]
        training = _training(stored, fleet, rule, rows)
        if index == 0:
            newest_seen = _judged(rule, rows, training)
            if len(windows) < rule.windows:
                return [], newest_seen
        found: dict[int, Match] = {}
        if rule.on_feature:
            by_version = {r["version_id"]: r for r in rows}
            # Drift figures count only where the fleet-wide control flagged the feature;
            # missing values and out-of-range counts are facts, read on every feature.
            gated = rule.figure in ("psi", "statistic")
            for f in stored.feature_rows(fleet, window, drifted_only=gated):
                row = by_version.get(f["version_id"])
                value = _feature_value(rule.figure, f)
                if row is None or not rule.holds(value, training.get(f["version_id"])):
                    continue
                best = found.get(row["model_id"])
                if best is None or (value or 0) > (best.value or 0):
                    found[row["model_id"]] = Match(
                        row["model_id"], row["version_id"], value, f["feature"]
                    )
        else:
            for row in rows:
                value = row[rule.figure]
                if rule.holds(value, training.get(row["version_id"])):
                    found[row["model_id"]] = Match(row["model_id"], row["version_id"], value, None)
        matched = found if matched is None else {k: v for k, v in matched.items() if k in found}
    return list((matched or {}).values()), newest_seen


def _quality_matches(
    stored: Monitoring,
    fleet: FleetRef,
    declared: dict[str, Any],
    window: tuple[int, float],
    cache: dict[tuple[int, float], list[dict[str, Any]]],
    covered: set[str],
) -> tuple[list[Match], set[int]]:
    """The built-in rule over the newest window (less the ``covered`` figures): its rows,
    and the versions' recorded metrics in one query."""
    if window not in cache:
        cache[window] = stored.window_rows(fleet, window)
    rows = cache[window]
    recorded = stored.version_metrics(
        fleet, sorted({r["version_id"] for r in rows}), _quality.recorded_names()
    )
    return _quality.matches(_quality.read(declared["expression"]), rows, recorded, covered)


def _judged(
    rule: Rule, rows: Sequence[dict[str, Any]], training: dict[int, dict[str, float]]
) -> set[int]:
    """Models whose figure the window holds: a window with no actuals yet (MAPE NULL), or a
    version without the training metric, cannot say a quality alert is over."""
    if rule.on_feature:
        return {r["model_id"] for r in rows}
    return {
        r["model_id"] for r in rows
        if r[rule.figure] is not None
        and (rule.metric is None or rule.metric in training.get(r["version_id"], {}))
    }  # fmt: skip


def _feature_value(figure: str, row: dict[str, Any]) -> float | None:
    if figure == "missing_rate":
        return row["missing"] / row["n"] if row["n"] else None
    value: float | None = row[figure]
    return value


def _training(
    stored: Monitoring, fleet: FleetRef, rule: Rule, rows: Sequence[dict[str, Any]]
) -> dict[int, dict[str, float]]:
    if rule.metric is None:
        return {}
    found = stored.version_metrics(fleet, [r["version_id"] for r in rows], [rule.metric])
    out: dict[int, dict[str, float]] = {}
    for (vid, name), value in found.items():
        out.setdefault(vid, {})[name] = value
    return out


def describe_key(fleet: FleetRef, alert: dict[str, Any]) -> str:
    return ",".join(f"{dim}={alert.get(f'key.{dim}')}" for dim in fleet.keys)


def _notify(
    fleet: FleetRef,
    rule: dict[str, Any],
    opened: Sequence[dict[str, Any]],
    resolved: Sequence[int],
    outcome: AlertOutcome,
) -> None:
    for alert in opened:
        log.warning(
            "alert %s opened: fleet=%s rule=%s key=%s version=%s value=%s%s",
            alert["id"], fleet.path, rule["name"], describe_key(fleet, alert), alert["version"],
            _short(alert["value"]), f" feature={alert['feature']}" if alert["feature"] else "",
        )  # fmt: skip
    url = rule.get("webhook")
    if not url or not (opened or resolved):
        return
    items = [
        {
            "id": a["id"],
            "key": {d: a.get(f"key.{d}") for d in fleet.keys},
            "version": a["version"],
            "value": a["value"],
            "feature": a["feature"],
            "window": a["last_window"],
            "state": a["state"],
        }
        for a in opened
    ]
    for start in range(0, max(len(items), 1), WEBHOOK_BATCH):
        body = {
            "fleet": fleet.path, "rule": rule["name"], "expression": rule["expression"],
            "opened": items[start : start + WEBHOOK_BATCH],
            "resolved": list(resolved) if start == 0 else [],
        }  # fmt: skip
        error = post_json(url, body)
        if error is not None:  # the receiver is down: the rest would wait just as long
            outcome.webhook_errors.append(error)
            log.error("alert webhook of rule %s failed: %s", rule["name"], error)
            break


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def post_json(url: str, body: dict[str, Any]) -> str | None:
    """POST ``body`` as JSON, retried on failure; None when delivered, else the last error."""
    try:
        check_webhook(url)  # again: the host may resolve elsewhere since the rule was added
    except InvalidInput as exc:
        return str(exc)
    data = json.dumps(body, default=str).encode()
    opener = urllib.request.build_opener(_NoRedirect)
    error = None
    for attempt in range(WEBHOOK_ATTEMPTS):
        if attempt:
            time.sleep(0.2 * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"content-type": "application/json"}
        )
        try:
            with opener.open(request, timeout=WEBHOOK_TIMEOUT) as reply:
                if 200 <= reply.status < 300:
                    return None
                error = f"HTTP {reply.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 300 <= exc.code < 500:
                return error  # a redirect or a refusal: sending it again will not help
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
    return error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as a GET and look delivered: treat it as an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

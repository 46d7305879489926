"""How a :class:`~shoal.report.cards.ModelCard` reads: sections of fields and tables, then
Markdown or HTML from one template each, within :data:`~shoal.report.cards.MAX_BYTES`.

The view is built at a level of detail (:class:`Caps`): every list, value and text is cut
to that level, and each cut says so ("… and 12 more"). A card is rendered at the fullest
level first; one over the bound is rendered again at the next, shorter level. The last
level is small enough for any model (key values, names and texts are all cut there), so
the bound holds whatever the params, versions or written text; a test renders a model
with huge params, long texts of escaped characters and thousands of versions.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from shoal.report.cards import FIELDS, MAX_BYTES, clip

if TYPE_CHECKING:
    from shoal.report.cards import ModelCard

TEMPLATES = Path(__file__).parent / "templates"
NONE = "\N{EN DASH}"
"""What a cell shows for no value."""


@dataclass(frozen=True)
class Caps:
    """One level of detail: how many entries and rows, how long a value and a text."""

    entries: int
    rows: int
    value: int
    text: int


LEVELS = (Caps(40, 12, 120, 4000), Caps(20, 8, 60, 2000), Caps(10, 5, 40, 1000),
          Caps(5, 3, 24, 400))  # fmt: skip
"""From the fullest card to the shortest; the last fits any model in MAX_BYTES."""

MISSING = {
    "purpose": "the fleet has no description",
    "registered": "not recorded",
    "owner": "not written yet",
    "intended_use": "not written yet",
    "limitations": "not written yet",
    "version": "no live version (every version is archived)",
    "signature": "no signature recorded",
    "params": "no parameters recorded",
    "metrics": "no training metrics recorded",
    "tags": "no tags",
    "dataset": "no lineage: no dataset recorded",
    "slice": "no lineage: no key slice recorded",
    "run": "no lineage: not made by a run",
    "code": "no code reference recorded",
    "baseline": "no baseline: drift cannot be measured",
    "evaluation": "no evaluation recorded",
    "monitoring": "not monitored",
    "predictions": "not monitored",
    "ground_truth": "not monitored",
    "drift": "not monitored",
    "rules": "no alert rules on the fleet",
    "alerts": "no alerts",
    "aliases": "no aliases",
    "moves": "no alias moves",
    "versions": "no versions",
}
"""What a field says when Shoal has nothing for it: never a blank."""
_LABELS = {name: label for name, label, _ in FIELDS}
_PEOPLE = {name for name, _, who in FIELDS if who == "people"}
_STATUS = {"draft": "Draft", "approved": "Approved", "archived": "Archived"}


def when(ts: float | None) -> str:
    """UNIX seconds as a person reads them: ``2026-11-24 21:30 UTC``."""
    if ts is None:
        return NONE
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def day(ts: float | None) -> str:
    """A monitoring window's start: ``2026-11-24`` (with the time when it is not midnight)."""
    if ts is None:
        return NONE
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%d" if moment.hour == moment.minute == 0 else "%Y-%m-%d %H:%M")


def num(value: Any) -> str:
    """A figure as a card prints it: ints with separators, floats to 4 significant digits."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def size(n: int | None) -> str:
    if n is None:
        return NONE
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"


def more(shown: int, total: int) -> str | None:
    """``… and 12 more`` under a cut list; None when nothing was cut."""
    return f"… and {total - shown:,} more" if total > shown else None


class _View:
    """The sections of one card at one level of detail."""

    def __init__(self, card: ModelCard, caps: Caps, fmt: str) -> None:
        self.card, self.caps, self.fmt = card, caps, fmt
        self.filled = card.filled()
        self.sections: list[dict[str, Any]] = []

    def v(self, text: Any) -> str:
        """A short value (a name, a key value, a param) cut to the level's length."""
        return clip(str(text), self.caps.value)

    def field(self, name: str, text: str | None = None, *, block: bool = False) -> dict[str, Any]:
        missing = not self.filled[name]
        shown = MISSING.get(name, "not available") if missing else (text or "")
        return {"name": name, "label": _LABELS[name], "text": shown, "missing": missing,
                "people": name in _PEOPLE, "block": block and not missing}  # fmt: skip

    def section(self, title: str, fields: list[dict[str, Any]], **table: Any) -> None:
        self.sections.append({"title": title, "fields": fields, "table": table or None})

    def written(self, text: str) -> str:
        """Text people wrote, cut so that it takes at most the level's bytes as rendered
        (HTML escapes ``<`` to four bytes, UTF-8 takes up to four a character)."""
        budget, used, cut = self.caps.text, 0, len(text)
        for i, char in enumerate(text):
            used += len((html.escape(char) if self.fmt == "html" else char).encode())
            if used > budget:
                cut = i
                break
        if cut == len(text):
            return text
        return text[:cut] + f" … ({len(text) - cut:,} more characters: see the model's page)"


def build(card: ModelCard, caps: Caps, fmt: str) -> dict[str, Any]:
    """The template's context: title, status, counts and sections."""
    view = _View(card, caps, fmt)
    key_text = (
        ", ".join(f"{view.v(d)}={view.v(x)}" for d, x in card.key.items())
        or "(the fleet's one model)"
    )
    _about(view, key_text)
    _version(view)
    _lineage(view)
    _evaluation(view)
    _monitoring(view)
    _alerts(view)
    _aliases(view)
    _versions(view)
    if card.status == "approved":
        status = f"Approved by {view.v(card.approved_by or 'unknown')} on {when(card.approved_at)}"
    elif card.status == "archived":
        status = "Archived"
    else:
        status = "Draft: not approved"
    edited = (f"last edited by {view.v(card.updated_by)} on {when(card.updated_at)}"
              if card.updated_by else "never edited")  # fmt: skip
    return {
        "title": f"{card.fleet} · {key_text}", "fleet": card.fleet, "key_text": key_text,
        "status": card.status, "status_text": status, "edited": edited,
        "summary": card.summary, "sections": view.sections,
    }  # fmt: skip


def _about(view: _View, key_text: str) -> None:
    card = view.card
    dims = ", ".join(view.v(d) for d in card.fleet_keys) or "no keys"
    view.section("Model", [
        view.field("fleet", f"{card.fleet} ({card.fleet_models:,} models, keyed by {dims})"),
        view.field("key", key_text),
        view.field("purpose", view.written(card.purpose), block=True),
        view.field("registered", when(card.registered_at)),
    ])  # fmt: skip
    view.section("Written by people", [
        view.field("owner", view.v(card.owner) if len(card.owner) > view.caps.value * 2
                   else card.owner),
        view.field("intended_use", view.written(card.intended_use), block=True),
        view.field("limitations", view.written(card.limitations), block=True),
    ])  # fmt: skip


def _pairs(view: _View, mapping: dict[str, Any], total: int) -> str:
    items = list(mapping.items())[: view.caps.entries]
    text = ", ".join(f"{view.v(k)}={view.v(num(x))}" for k, x in items)
    tail = more(len(items), total)
    return f"{text} {tail}" if tail else text


def _version(view: _View) -> None:
    card, v = view.card, view.card.version or {}
    shown = "at production" if card.shown_by == "production" else "latest; no production alias"
    sig = v.get("signature") or {}
    inputs = sig.get("inputs") or []
    cut = inputs[: view.caps.entries]
    sig_text = ", ".join(f"{view.v(i['name'])} ({view.v(i['dtype'])})" for i in cut)
    tail = more(len(cut), sig.get("inputs_total", len(inputs)))
    sig_text = (f"{sig_text} {tail}" if tail else sig_text) + (
        f" → {view.v(sig['output'])}" if sig.get("output") else "")  # fmt: skip
    view.section("Version", [
        view.field("version", f"{v.get('number')} ({shown}) · id {v.get('id')}"),
        view.field("flavor", view.v(v.get("flavor"))),
        view.field("artifact", f"sha256 {str(v.get('artifact_sha256'))[:16]}… · "
                               f"{size(v.get('artifact_size'))}"),
        view.field("signature", sig_text),
        view.field("trained", f"{when(v.get('created_at'))} by {view.v(v.get('created_by'))}"),
        view.field("params", _pairs(view, card.params, card.params_total)),
        view.field("metrics", _pairs(view, card.metrics, card.metrics_total)),
        view.field("tags", _pairs(view, card.tags, card.tags_total)),
    ])  # fmt: skip


def _lineage(view: _View) -> None:
    lineage = view.card.lineage
    data, run = lineage.get("dataset") or {}, lineage.get("run") or {}
    parent = (view.card.version or {}).get("parent_version_id")
    run_text = (f"{run.get('id')} ({run.get('kind')}, {run.get('status')}) by "
                f"{view.v(run.get('created_by'))}, {when(run.get('started_at'))}"
                + (f"; fine-tuned from version id {parent}" if parent else ""))  # fmt: skip
    view.section("Lineage", [
        view.field("dataset", f"{view.v(data.get('name'))} · fingerprint "
                              f"{str(data.get('fingerprint'))[:16]}… · "
                              f"{num(data.get('row_count'))} rows"),
        view.field("slice", f"fingerprint {str(lineage.get('slice_fingerprint'))[:16]}…"),
        view.field("run", run_text),
        view.field("code", view.v(lineage.get("code_ref"))),
        view.field("baseline", "stored with the version: drift is measured against its "
                               "training slice"),
    ])  # fmt: skip


def _evaluation(view: _View) -> None:
    card = view.card
    done = card.evaluated or {}
    note = (f" (evaluated at {view.v(done.get('alias'))} on {when(done.get('at'))} by "
            f"{view.v(done.get('by'))})" if done else "")  # fmt: skip
    text = _pairs(view, card.evaluation, len(card.evaluation)) + note
    view.section("Evaluation", [view.field("evaluation", text)])


def _monitoring(view: _View) -> None:
    card, rows = view.card, view.card.windows[: view.caps.rows]
    predicted = sum(w.get("predictions") or 0 for w in rows)
    labelled = sum(w.get("labelled") or 0 for w in rows)
    span = f"in the {len(rows)} newest windows" if len(rows) > 1 else "in the newest window"
    share = f" ({labelled / predicted:.0%} of predictions)" if predicted else ""
    newest = rows[0] if rows else {}
    drift_text = (
        f"{newest.get('drifted_features')} of {newest.get('tested_features')} features drifted "
        f"in the window of {day(newest.get('window_start'))}; max PSI "
        f"{num(newest.get('max_psi'))}"
        + (f" on {view.v(newest['max_psi_feature'])}" if newest.get("max_psi_feature") else "")
    )  # fmt: skip
    classify = not any(w.get("mape") is not None for w in rows) and any(
        w.get("accuracy") is not None for w in rows
    )
    quality = "accuracy" if classify else "mape"
    table = {
        "columns": ["window", "version", "predictions", "labelled", quality, "max PSI",
                    "drifted", "top feature"],
        "rows": [[day(w.get("window_start")), num(w.get("version")), num(w.get("predictions")),
                  num(w.get("labelled")), num(w.get(quality)), num(w.get("max_psi")),
                  f"{w.get('drifted_features')}/{w.get('tested_features')}",
                  view.v(w.get("max_psi_feature") or NONE)] for w in rows],
        "more": more(len(rows), card.window_total),
    }  # fmt: skip
    view.section("Monitoring", [
        view.field("monitoring", f"{card.window_total:,} results in all, newest "
                                 f"{day(newest.get('window_start'))}"),
        view.field("predictions", f"{predicted:,} {span}"),
        view.field("ground_truth", f"{labelled:,} labelled{share}"),
        view.field("drift", drift_text),
    ], **(table if rows else {}))  # fmt: skip


def _alerts(view: _View) -> None:
    card = view.card
    rules = card.rules[: view.caps.rows]
    rule_text = "; ".join(f"{view.v(r['name'])}: {clip(str(r['expression']), view.caps.value * 2)}"
                          for r in rules)  # fmt: skip
    tail = more(len(rules), len(card.rules))
    rows = card.alerts[: view.caps.rows]
    open_ = sum(a["state"] != "resolved" for a in rows)
    alert_text = (f"{card.alert_total:,} in all, {open_} unresolved among the newest" if rows
                  else f"none raised in {card.window_total:,} monitored results")  # fmt: skip
    table = {
        "columns": ["alert", "rule", "state", "value", "feature", "windows", "version"],
        "rows": [[num(a["alert_id"]), view.v(a["rule"]), a["state"], num(a.get("value")),
                  view.v(a.get("feature") or NONE),
                  f"{day(a.get('first_window'))} → {day(a.get('last_window'))}",
                  num(a.get("version"))] for a in rows],
        "more": more(len(rows), card.alert_total),
    }  # fmt: skip
    view.section("Alerts", [
        view.field("rules", f"{rule_text} {tail}" if tail else rule_text),
        view.field("alerts", alert_text),
    ], **(table if rows else {}))  # fmt: skip


def _aliases(view: _View) -> None:
    card = view.card
    held = card.aliases[: view.caps.rows]
    held_text = ", ".join(f"{view.v(a['name'])} → {a['version']}" for a in held)
    tail = more(len(held), len(card.aliases))
    rows = card.moves[: view.caps.rows]
    table = {
        "columns": ["move", "alias", "from", "to", "by", "at"],
        "rows": [[num(m["move_id"]), view.v(m["alias"]), num(m.get("old_version")),
                  num(m.get("new_version")), view.v(m.get("actor")), when(m.get("at"))]
                 for m in rows],
        "more": more(len(rows), card.move_total),
    }  # fmt: skip
    view.section("Aliases", [
        view.field("aliases", f"{held_text} {tail}" if tail else held_text),
        view.field("moves", f"{card.move_total:,} in all, newest first"),
    ], **(table if rows else {}))  # fmt: skip


def _versions(view: _View) -> None:
    card = view.card
    rows = card.versions[: view.caps.rows]
    table = {
        "columns": ["version", "status", "flavor", "created", "by", "run"],
        "rows": [[num(r["number"]), r["status"], view.v(r.get("flavor")), when(r["created_at"]),
                  view.v(r.get("created_by")), num(r.get("run_id"))] for r in rows],
        "more": more(len(rows), card.version_total),
    }  # fmt: skip
    view.section("Versions", [
        view.field("versions", f"{card.version_total:,} in all, newest first"),
    ], **(table if rows else {}))  # fmt: skip


# -- rendering ------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def md_inline(value: Any) -> str:
    """A value inside a Markdown line or table cell: specials escaped, one line."""
    return " ".join(str(value).translate(_MD_SPECIAL).split())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, auto_reload=False,
    )  # fmt: skip
    env.filters["md"] = md_inline
    return env


_ENV = _environment()


def render(card: ModelCard, fmt: str, *, form: str = "") -> str:
    """The card as ``md`` or ``html``: the fullest level of detail within MAX_BYTES."""
    template = _ENV.get_template("card.md" if fmt == "md" else "card.html")
    text = ""
    for caps in LEVELS:
        text = template.render(build(card, caps, fmt), form=Markup(""))
        if len(text.encode()) <= MAX_BYTES:
            break
    if form:  # a page's form goes in after the bound is measured: it is not the card
        text = template.render(build(card, caps, fmt), form=Markup(form))
    return text

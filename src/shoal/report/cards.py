"""Model cards: one page per model, filled from what Shoal tracks, in Markdown and HTML.

A card is built from the registry's bulk read (:meth:`shoal.registry.Registry.cards`),
never from one query per model, so the cards of a whole filter are written at the pace
of a few queries per 500 models. Of its 30 fields, 27 are filled by Shoal (the fleet's
purpose, the version shown and its params, metrics, signature and lineage, evaluation,
monitoring, drift, alerts, aliases and their moves, the versions before it) and three are
written by people (owner, intended use, limitations), with a status: draft, approved
(by whom, when) or archived. A field Shoal has nothing for says so plainly ("not
monitored", "no evaluation recorded"), never a blank, and the card counts how many of
its fields were filled, and by whom.

A card is bounded: the record holds at most :data:`MAX_ENTRIES` params, metrics and tags
with values shortened, and the newest few of each list with the total beside it; the
rendering then shortens further until the card fits :data:`MAX_BYTES` in Markdown and in
HTML, whatever the model (see :mod:`shoal.report._card_view`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["FIELDS", "MAX_BYTES", "ModelCard", "cards_from"]

MAX_BYTES = 20_000
"""The most bytes a card takes, in Markdown and in HTML."""
MAX_ENTRIES = 40
"""The most params, metrics, evaluation figures and tags a card's record holds."""
MAX_VALUE_CHARS = 120
"""A param or tag value longer than this is shortened (with "…") on the card."""

FIELDS: tuple[tuple[str, str, str], ...] = (
    # (name, label, who fills it)
    ("fleet", "Fleet", "shoal"),
    ("key", "Key", "shoal"),
    ("purpose", "Purpose", "shoal"),
    ("registered", "First registered", "shoal"),
    ("owner", "Owner", "people"),
    ("intended_use", "Intended use", "people"),
    ("limitations", "Limitations", "people"),
    ("version", "Version shown", "shoal"),
    ("flavor", "Flavor", "shoal"),
    ("artifact", "Artifact", "shoal"),
    ("signature", "Signature", "shoal"),
    ("trained", "Trained", "shoal"),
    ("params", "Parameters", "shoal"),
    ("metrics", "Training metrics", "shoal"),
    ("tags", "Tags", "shoal"),
    ("dataset", "Dataset", "shoal"),
    ("slice", "Key slice", "shoal"),
    ("run", "Run", "shoal"),
    ("code", "Code", "shoal"),
    ("baseline", "Drift baseline", "shoal"),
    ("evaluation", "Evaluation", "shoal"),
    ("monitoring", "Quality by window", "shoal"),
    ("predictions", "Predictions", "shoal"),
    ("ground_truth", "Ground truth", "shoal"),
    ("drift", "Drift", "shoal"),
    ("rules", "Alert rules", "shoal"),
    ("alerts", "Alerts", "shoal"),
    ("aliases", "Aliases", "shoal"),
    ("moves", "Alias moves", "shoal"),
    ("versions", "Versions", "shoal"),
)
"""Every field of a card, in the order it reads, and whether Shoal or people fill it."""


def iso(ts: float | None) -> str | None:
    """UNIX seconds as ISO 8601 UTC to the second (the SDK's JSON shape); None stays None."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def clip(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters, ending in "…" when cut."""
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def short_value(value: Any, chars: int = MAX_VALUE_CHARS) -> Any:
    """A param value as a card holds it: numbers, booleans and None as they are, anything
    else as compact JSON text, shortened to ``chars``."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                           separators=(",", ":"))  # fmt: skip
    return clip(text, chars)


def _bounded(mapping: dict[str, Any] | None, most: int = MAX_ENTRIES) -> dict[str, Any]:
    items = sorted((mapping or {}).items())[:most]
    return {clip(str(k), 100): short_value(v) for k, v in items}


@dataclass(frozen=True)
class ModelCard:
    """One model's card: what Shoal tracks about it and what people wrote on it.

    ``version`` is the version shown (the one ``production`` points at, else the latest;
    ``shown_by`` says which), None when every version is archived. Lists are newest first
    and hold the newest few; ``*_total`` counts them all. ``to_dict()`` is what JSON,
    REST and ``--format json`` print; ``to_markdown()`` and ``to_html()`` are the card
    itself, at most :data:`MAX_BYTES` each.
    """

    fleet: str
    key: dict[str, str]
    model_id: int
    status: str = "draft"
    approved_by: str | None = None
    approved_at: float | None = None
    updated_by: str | None = None
    updated_at: float | None = None
    owner: str = ""
    intended_use: str = ""
    limitations: str = ""
    purpose: str = ""
    fleet_models: int = 0
    fleet_keys: list[str] = field(default_factory=list)
    registered_at: float | None = None
    shown_by: str = "latest"
    version: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    params_total: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_total: int = 0
    evaluation: dict[str, float] = field(default_factory=dict)
    evaluated: dict[str, Any] | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    tags_total: int = 0
    lineage: dict[str, Any] = field(default_factory=dict)
    baseline: bool = False
    versions: list[dict[str, Any]] = field(default_factory=list)
    version_total: int = 0
    aliases: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    move_total: int = 0
    windows: list[dict[str, Any]] = field(default_factory=list)
    window_total: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_total: int = 0
    rules: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_data(cls, fleet: dict[str, Any], model: dict[str, Any]) -> ModelCard:
        """A card from one model's part of the registry's bulk read (and its fleet's)."""
        card, version = model["card"], model.get("version")
        figures = dict((version or {}).get("metrics") or {})
        evaluated_names = set(fleet.get("evaluated_metrics") or [])
        evaluation = {n: v for n, v in figures.items()
                      if n in evaluated_names or n.startswith("eval_")}  # fmt: skip
        training = {n: v for n, v in figures.items() if n not in evaluation}
        params = dict((version or {}).get("params") or {})
        tags = dict((version or {}).get("tags") or {})
        return cls(
            fleet=fleet["path"], key=dict(model["key"]), model_id=model["model_id"],
            status=card["status"], approved_by=card["approved_by"],
            approved_at=card["approved_at"], updated_by=card["updated_by"],
            updated_at=card["updated_at"], owner=card["owner"] or "",
            intended_use=card["intended_use"] or "", limitations=card["limitations"] or "",
            purpose=fleet.get("description") or "", fleet_models=fleet.get("models", 0),
            fleet_keys=list(fleet.get("keys") or []), registered_at=model.get("created_at"),
            shown_by=model.get("shown_by", "latest"), version=_version(version),
            params=_bounded(params), params_total=len(params),
            metrics=_bounded(training), metrics_total=len(training),
            evaluation=_bounded(evaluation),
            evaluated=fleet.get("evaluation") if evaluation else None,
            tags=_bounded(tags), tags_total=len(tags), lineage=_lineage(version),
            baseline=bool((version or {}).get("baseline")),
            versions=list(model.get("versions") or []),
            version_total=int(model.get("version_total") or 0),
            aliases=list(model.get("aliases") or []), moves=list(model.get("moves") or []),
            move_total=int(model.get("move_total") or 0),
            windows=list(model.get("windows") or []),
            window_total=int(model.get("window_total") or 0),
            alerts=list(model.get("alerts") or []),
            alert_total=int(model.get("alert_total") or 0),
            rules=[r for r in fleet.get("rules") or [] if r.get("enabled", True)],
        )  # fmt: skip

    # -- fields --------------------------------------------------------------------------------

    def filled(self) -> dict[str, bool]:
        """Per field of :data:`FIELDS`: whether the card has something for it."""
        v, lineage = self.version, self.lineage
        predicted = sum(w.get("predictions") or 0 for w in self.windows)
        labelled = sum(w.get("labelled") or 0 for w in self.windows)
        return {
            "fleet": True, "key": True, "purpose": bool(self.purpose.strip()),
            "registered": self.registered_at is not None,
            "owner": bool(self.owner.strip()), "intended_use": bool(self.intended_use.strip()),
            "limitations": bool(self.limitations.strip()),
            "version": v is not None, "flavor": v is not None, "artifact": v is not None,
            "signature": bool(v and v.get("signature")), "trained": v is not None,
            "params": bool(self.params), "metrics": bool(self.metrics), "tags": bool(self.tags),
            "dataset": bool(lineage.get("dataset")),
            "slice": bool(lineage.get("slice_fingerprint")), "run": bool(lineage.get("run")),
            "code": bool(lineage.get("code_ref")), "baseline": self.baseline,
            "evaluation": bool(self.evaluation), "monitoring": bool(self.windows),
            "predictions": predicted > 0, "ground_truth": labelled > 0,
            "drift": any((w.get("tested_features") or 0) > 0 for w in self.windows),
            "rules": bool(self.rules),
            # "No alert" is a finding once the model is monitored under rules.
            "alerts": bool(self.alerts) or bool(self.windows and self.rules),
            "aliases": bool(self.aliases), "moves": bool(self.moves),
            "versions": bool(self.versions),
        }  # fmt: skip

    def field_counts(self) -> dict[str, Any]:
        """How many fields Shoal filled, how many people did, and which are missing."""
        done = self.filled()
        source = {name: who for name, _, who in FIELDS}
        return {
            "total": len(FIELDS),
            "from_shoal": sum(done[n] for n, w in source.items() if w == "shoal"),
            "by_people": sum(done[n] for n, w in source.items() if w == "people"),
            "shoal_fields": sum(w == "shoal" for w in source.values()),
            "missing": [n for n, _, _ in FIELDS if not done[n]],
        }

    @property
    def summary(self) -> str:
        """``27 of 30 fields filled from Shoal, 2 by people`` (and what is missing)."""
        counts = self.field_counts()
        text = (f"{counts['from_shoal']} of {counts['total']} fields filled from Shoal, "
                f"{counts['by_people']} by people")  # fmt: skip
        missing = len(counts["missing"])
        return text + (f", {missing} not available" if missing else "")

    # -- output --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The card's data as JSON prints it, every time in ISO 8601 UTC."""
        data: dict[str, Any] = _times(dataclasses.asdict(self))
        data["fields"] = self.field_counts()
        data["summary"] = self.summary
        return data

    def to_markdown(self) -> str:
        """The card in Markdown, at most :data:`MAX_BYTES` bytes."""
        from shoal.report._card_view import render

        return render(self, "md")

    def to_html(self, *, form: str = "") -> str:
        """The card as a self-contained HTML page (inline CSS, no script, no external
        URL, a print stylesheet), at most :data:`MAX_BYTES` bytes. ``form`` is trusted
        HTML a page adds after the card's header (hidden in print), outside the bound."""
        from shoal.report._card_view import render

        return render(self, "html", form=form)


def _version(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    signature = row.get("signature")
    return {
        "id": row["version_id"], "number": row["number"], "status": row["status"],
        "flavor": row["flavor"], "artifact_sha256": row["artifact_sha256"],
        "artifact_size": row["artifact_size"], "signature": _signature(signature),
        "created_by": row["created_by"], "created_at": row["created_at"],
        "parent_version_id": row.get("parent_version_id"),
    }  # fmt: skip


def _signature(value: Any) -> dict[str, Any] | None:
    """A stored signature, its inputs cut to :data:`MAX_ENTRIES` with their total."""
    if not isinstance(value, dict):
        return None
    inputs = [i for i in value.get("inputs") or [] if isinstance(i, dict)]
    return {
        "inputs": [{"name": clip(str(i.get("name")), 100), "dtype": clip(str(i.get("dtype")), 40)}
                   for i in inputs[:MAX_ENTRIES]],
        "inputs_total": len(inputs), "output": value.get("output"),
    }  # fmt: skip


def _lineage(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {}
    run = row.get("run")
    return {
        "dataset": row.get("dataset"), "slice_fingerprint": row.get("slice_fingerprint"),
        "run": run, "code_ref": row.get("code_ref") or (run or {}).get("code_ref"),
    }  # fmt: skip


_TIMES = frozenset({
    "approved_at", "updated_at", "registered_at", "created_at", "at", "started_at",
    "finished_at", "window_start", "first_window", "last_window", "opened_at", "resolved_at",
})  # fmt: skip


def _times(value: Any) -> Any:
    """``value`` with every UNIX time under a name of :data:`_TIMES` as ISO 8601 text."""
    if isinstance(value, dict):
        return {k: iso(v) if k in _TIMES and isinstance(v, int | float) else _times(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_times(v) for v in value]
    return value


def cards_from(data: dict[str, Any]) -> list[ModelCard]:
    """The cards of a bulk read (``registry.cards.read``), in its order."""
    return [ModelCard.from_data(data["fleet"], model) for model in data["models"]]

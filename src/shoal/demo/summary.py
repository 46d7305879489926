"""What the demo prints: the fleets it built, where they are weak, and what to try next.

The fleets' figures are read back through the SDK (counts, facets, sorted searches, alias
coverage) rather than from the builder's own variables, so the summary shows what the
store holds, is the same on a second run that finds the demo already built, and doubles
as a first example of each query. The traffic section reports the replay as its client
measured it (:mod:`shoal.demo.traffic`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from rich import box
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from shoal import config
from shoal.demo.apparel import FLEET as APPAREL
from shoal.demo.build import DemoResult
from shoal.demo.grocer import FLEET as DEMAND
from shoal.demo.grocer import PROMOTE_WHERE
from shoal.demo.traffic import DRIFT_SALES, PREDICT, Replay
from shoal.sdk.client import Client
from shoal.sdk.history import MoveRecord
from shoal.sdk.results import Dataset, FleetInfo, ModelVersion

MAPE_THRESHOLD = 0.3
"""Where a daily SKU forecast stops being useful."""
OVER = f"alias = 'production' and eval_mape > {MAPE_THRESHOLD}"


@dataclass(frozen=True)
class Summary:
    """The figures the demo prints, read from the store after the build."""

    result: DemoResult
    store_url: str
    artifacts_url: str
    fleets: list[FleetInfo]
    datasets: list[Dataset]
    """What the production baselines, the candidates and the classifiers trained on."""
    coverage: dict[str, dict[str, int]]
    over: int
    facet: dict[str, int]
    worst: list[ModelVersion]
    classifiers: list[ModelVersion]
    promotion: MoveRecord | None
    """The demo's promote move, as ``fleet.alias_moves()`` records it (None if none)."""


def collect(client: Client, result: DemoResult, *, worst: int = 5) -> Summary:
    """Query the store for the summary: a handful of aggregate and sorted reads."""
    demand, apparel = client.fleet(DEMAND), client.fleet(APPAREL)
    paths = (DEMAND, APPAREL)
    return Summary(
        result=result,
        store_url=client.store_url,
        artifacts_url=client.artifacts_url,
        fleets=[f for f in client.fleets() if f.path in paths],
        datasets=_trained_on(client, result),
        coverage={DEMAND: demand.coverage(), APPAREL: apparel.coverage()},
        over=demand.count(OVER),
        facet=demand.facets("store", OVER, limit=8),
        worst=list(demand.search("alias = 'production'", sort="-eval_mape", limit=worst)),
        classifiers=list(apparel.search("alias = 'production'", sort="-log_loss", limit=50)),
        promotion=_promotion_move(demand.alias_moves(limit=50)),
    )


def _trained_on(client: Client, result: DemoResult) -> list[Dataset]:
    """The builds' datasets; when the world was found built, the candidates' from the store."""
    builds = [result.demand, result.candidate, result.apparel]
    found = [b.dataset for b in builds if b is not None]
    if result.candidate is None:
        page = client.fleet(DEMAND).search("alias = 'candidate'", limit=1)
        if page and page[0].dataset_id and page[0].dataset_id not in {d.id for d in found}:
            found.insert(1, client.datasets.get(page[0].dataset_id))
    return found


def _promotion_move(moves: Iterable[MoveRecord]) -> MoveRecord | None:
    """The latest move of ``production`` by :data:`PROMOTE_WHERE` (moves come newest first)."""
    for move in moves:
        if move.alias == "production" and move.where == PROMOTE_WHERE:
            return move
    return None


def render(summary: Summary, console: Console, *, shoal: str = "shoal") -> None:
    """Print the summary: fleets, weak spots, the promotion, next steps.

    ``shoal`` is how the printed commands start (with ``--store`` when the demo was
    pointed at one). Commands and code are printed unwrapped (``soft_wrap``), so they
    copy and paste whole from any terminal width.
    """
    console.print()
    console.print(_fleets(summary))
    console.print(_datasets(summary), highlight=False)
    console.print(_weak_spots(summary), highlight=False)
    console.print(_worst(summary))
    console.print(_classifiers(summary))
    console.print(_promotion(summary), highlight=False)
    console.print("[bold]Try next[/bold]")
    for line in commands(summary, shoal):
        console.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
    console.print("\n[bold]The same in Python[/bold]")
    code = Syntax(python_snippet(summary), "python", background_color="default")
    console.print(
        code if console.is_terminal else python_snippet(summary),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    console.print(f"\nBuilt in {summary.result.seconds:.1f} s.", highlight=False)


def commands(summary: Summary, shoal: str = "shoal") -> list[str]:
    """Shell commands to try next; ``shoal`` is the program with any store options."""
    example = summary.worst[0].id if summary.worst else 1
    return [
        f"{shoal} fleets",
        f"{shoal} runs {DEMAND}",
        f'{shoal} models {DEMAND} --where "{OVER}" --sort -eval_mape',
        f'{shoal} models {DEMAND} --facet store --where "{OVER}"',
        f"{shoal} lineage {example}",
        f"{shoal} alias moves {DEMAND}",
        f"{shoal} models {APPAREL} --sort -log_loss",
    ]


def python_snippet(summary: Summary) -> str:
    """The same tour through the SDK, ready to paste."""
    default = (config.store_url(), config.artifacts_url())
    stores = (summary.store_url, summary.artifacts_url)
    args = "" if stores == default else f"{summary.store_url!r}, {summary.artifacts_url!r}"
    key = summary.worst[0].key if summary.worst else {"store": "s001", "sku": "dairy-01"}
    spec = summary.result.world.spec
    tomorrow = spec.dates[-1] + pd.Timedelta(days=1)
    return "\n".join(
        [
            "import shoal",
            "from shoal.demo import features",
            "",
            f"client = shoal.connect({args})",
            f'demand = client.fleet("{DEMAND}")',
            f'demand.facets("store", where="{OVER}")',
            'page = demand.search(where="alias = \'production\'", sort="-eval_mape", limit=10)',
            "client.lineage(page[0])",
            "client.run(page[0].run_id)",
            "demand.alias_moves(limit=1)",
            f'model = client.load_model("{DEMAND}", {key!r}, alias="production")',
            f'X = features(["{tomorrow:%Y-%m-%d}"], origin="{spec.start}", promo=[0])',
            "model.predict_one(X.iloc[0])",
        ]
    )


def _fleets(summary: Summary) -> Table:
    table = Table(title=f"Fleets in {summary.store_url}", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("fleet", "keys", "models", "versions", "production", "candidate"):
        numeric = name in ("models", "versions", "production", "candidate")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=name == "fleet")
    for fleet in summary.fleets:
        path = fleet.path
        cover = summary.coverage.get(path, {})
        table.add_row(
            path,
            ", ".join(fleet.keys),
            f"{fleet.models:,}",
            f"{fleet.versions:,}",
            f"{cover.get('production', 0):,}",
            f"{cover.get('candidate', 0):,}",
        )
    table.caption = "This run: " + "; ".join(
        f"{path} {_status(summary, path)}" for path in (DEMAND, APPAREL)
    )
    table.caption_justify = "left"
    return table


def _datasets(summary: Summary) -> str:
    lines = ["Datasets (each version names one, and the fingerprint of its key's slice of it):"]
    for data in summary.datasets:
        lines.append(
            f"  {data.tenant}/{data.name}  #{data.id}  {data.row_count:,} rows  "
            f"{data.fingerprint[:16]}"
        )
    return "\n".join(lines)


def _status(summary: Summary, path: str) -> str:
    """What this invocation did to a fleet: which runs, how long, or nothing."""
    result = summary.result
    builds = [result.demand, result.candidate] if path == DEMAND else [result.apparel]
    done = [b for b in builds if b is not None and not b.already_built]
    if not done:
        return "already built"
    runs = ", ".join(str(b.run_id) for b in done)
    seconds = sum(b.seconds for b in done)
    return f"run{'s' if len(done) > 1 else ''} {runs} (trained in {seconds:.1f} s)"


def _weak_spots(summary: Summary) -> str:
    total = summary.coverage[DEMAND].get("production", 0)
    share = summary.over / total if total else 0.0
    stores = ", ".join(f"{store} ({n})" for store, n in summary.facet.items()) or "none"
    stores_frame = summary.result.world.stores
    hit = ", ".join(stores_frame.loc[stores_frame["competitor_from"].notna(), "store"])
    return (
        f"\n{DEMAND}: {summary.over:,} of {total:,} production models ({share:.0%}) have "
        f"holdout MAPE > {MAPE_THRESHOLD}.\nBy store: {stores}\n"
        f"(A competitor opened next to {hit} during the holdout weeks. Most of the rest "
        "are slow sellers, or seasonal-naive baselines outside the pilot stores, which "
        "repeat last week's sales and miss every promotion.)\n"
    )


def _worst(summary: Summary) -> Table:
    table = Table(
        title=f"Worst {DEMAND} production models (holdout)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    columns = ("id", "store", "sku", "v", "model", "eval_mape", "eval_smape", "eval_rmse")
    for name in (*columns, "region", "format"):
        table.add_column(name, no_wrap=True)
    for v in summary.worst:
        m = v.metrics
        table.add_row(
            str(v.id),
            v.key["store"],
            v.key["sku"],
            str(v.version),
            str(v.params.get("estimator", "")),
            f"{m.get('eval_mape', 0):.3f}",
            f"{m.get('eval_smape', 0):.3f}",
            f"{m.get('eval_rmse', 0):.1f}",
            v.tags.get("region", ""),
            v.tags.get("format", ""),
        )
    return table


def _classifiers(summary: Summary) -> Table:
    table = Table(
        title=f"{APPAREL} (return prediction), production",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("category", "version", "accuracy", "f1", "log_loss", "auc", "return_rate"):
        table.add_column(name)
    for v in summary.classifiers:
        m = v.metrics
        cells = [
            f"{m[k]:.3f}" if k in m else "-"
            for k in ("accuracy", "f1", "log_loss", "auc", "return_rate")
        ]
        table.add_row(v.key["category"], str(v.version), *cells)
    return table


def _promotion(summary: Summary) -> str:
    """The promote the demo applied, as the store recorded it, and a few of its changes."""
    move = summary.promotion
    candidates = summary.coverage[DEMAND].get("candidate", 0)
    if move is None:
        return f"\nNo promotion of production where {PROMOTE_WHERE} is recorded.\n"
    undone = f", undone by move {move.undone_by}" if move.undone_by else ""
    lines = [
        f"\nPromoted production where {PROMOTE_WHERE}: {move.moved:,} of {candidates:,} "
        f"pilot keys moved to their candidate (move {move.id}{undone}; "
        f"'shoal alias undo {DEMAND} {move.id}' puts them back)."
    ]
    done = summary.result.promotion
    for change in done.preview[:5] if done is not None else []:
        key = ", ".join(f"{k}={v}" for k, v in change["key"].items())
        lines.append(f"  {key}: v{change['from']} -> v{change['to']}")
    return "\n".join(lines) + "\n"


def render_traffic(
    replay: Replay, console: Console, *, shoal: str = "shoal", serving: bool = False
) -> None:
    """Print what the replay sent and measured, where the logs are, and a curl to try.

    ``serving`` says whether the server keeps running after this; when it does not, the
    curl is preceded by the command that starts one on the same port.
    """
    days = f"{replay.days[0]} to {replay.days[-1]}" if replay.days else "no days"
    port = replay.url.rsplit(":", 1)[-1]
    heading = f": one week ({days}) replayed through {replay.url} in {replay.seconds:.1f} s"
    console.print(Text.assemble("\n", ("Traffic", "bold"), heading), soft_wrap=True)
    lines = [
        f"  {replay.requests:,} requests sent, {replay.rows:,} rows predicted ({replay.keys:,} "
        f"keys x {len(replay.days)} days); latency p50 {replay.percentile(50):.0f} ms, "
        f"p99 {replay.percentile(99):.0f} ms (client side)",
        f"  {replay.actuals:,} actuals sent as feedback, by request id and row, and by key and day",
        f"  Drift injected into {', '.join(replay.drifted)}: a promotion on every SKU every "
        f"day, and {DRIFT_SALES:g}x their usual sales",
        f"  Request ids demo-{replay.replay_id}-<day>-<n> name the day each request stands for.",
        "Logs (Parquet, one folder per day the forecasts are for):",
        *[f"  {kind:<12} {where}" for kind, where in replay.logs.items()],
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    hint = ("" if serving else f" (stopped with the demo: '{shoal} serve --port {port} --no-auth' "
            "starts it on loopback; without --no-auth, send a token from "
            f"'{shoal} token create --tenant grocer --role predict' as "
            "-H 'authorization: Bearer TOKEN')")  # fmt: skip
    console.print(Text.assemble("\n", ("Try the server", "bold"), hint), soft_wrap=True)
    console.print(f"  {curl_command(replay)}", soft_wrap=True, highlight=False, markup=False)


def curl_command(replay: Replay) -> str:
    """A curl that asks the demo's server for two of the replayed rows' forecasts."""
    body = json.dumps({"rows": replay.example}, separators=(",", ":"))
    return (
        f"curl -s {replay.url}{PREDICT} -H 'content-type: application/json' -d {shlex.quote(body)}"
    )

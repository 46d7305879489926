"""The night's batch: tomorrow's forecast for every (store, SKU) in one ``fleet.predict`` call.

After the replayed week, the demo plans the day after it the way a merchandising system
would: the day's plan (every key's calendar features and promotion flag) is written as
Parquet partitioned by store, scored by each key's production version in one call, and
written back partitioned by store, logged with ``as_of`` = that day so monitoring files
the forecasts under the day they are for.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.text import Text

from shoal.demo.forecast import WITH_PROMO, design
from shoal.demo.grocer import FLEET
from shoal.demo.traffic import replay_days
from shoal.demo.world import World
from shoal.sdk.client import Client

if TYPE_CHECKING:
    from shoal.score import BatchScores


@dataclass(frozen=True)
class Batch:
    """What the night's batch scored, and where it put it."""

    day: str
    plan: Path
    out: Path
    scores: BatchScores


def plan_of(world: World, day: pd.Timestamp) -> pd.DataFrame:
    """Every key's row for ``day``: its key and the features a forecast reads."""
    sales = world.sales
    rows = sales[(sales["date"] == day).to_numpy()].reset_index(drop=True)
    matrix = design(rows["date"], world.spec.start, rows["promo"])
    plan = pd.DataFrame({"store": rows["store"], "sku": rows["sku"]})
    for j, name in enumerate(WITH_PROMO):
        plan[name] = matrix[:, j]
    return plan


def score_next_day(client: Client, world: World, folder: Path) -> Batch | None:
    """Score the day after the replayed week into ``folder`` (replaced on each run)."""
    days = replay_days(world.spec)
    day = days[-1] + pd.Timedelta(days=1)
    plan = plan_of(world, day)
    if plan.empty:  # a world too small to have a day after its week
        return None
    label = day.strftime("%Y-%m-%d")
    inputs, out = folder / "plans" / label, folder / "forecasts" / label
    for path in (inputs, out):
        shutil.rmtree(path, ignore_errors=True)
    plan.to_parquet(inputs, partition_cols=["store"], index=False)
    scores = client.fleet(FLEET).predict(inputs, out=out, as_of=label, progress=False)
    return Batch(label, inputs, out, scores)


def render_batch(batch: Batch | None, console: Console, *, shoal: str = "shoal") -> None:
    """Say what the batch scored, where it is, and the command that does it again."""
    if batch is None:
        return
    s = batch.scores
    heading = (f": tomorrow's forecast ({batch.day}) for every store and SKU in one "
               f"fleet.predict call, {s.seconds:.1f} s")  # fmt: skip
    console.print(Text.assemble("\n", ("Batch scoring", "bold"), heading), soft_wrap=True)
    not_scored = sum(s.problem_rows.values())
    lines = [
        f"  {s.rows_scored:,} of {s.rows_in:,} rows scored by {s.versions_loaded:,} versions "
        f"({not_scored:,} not scored); run {s.run_id}, logged for {batch.day}",
        f"  plan      {batch.plan}  (Parquet, partitioned by store)",
        f"  forecast  {batch.out}  (partitioned by store, like the plan)",
        f"  again: {shoal} predict {FLEET} {batch.plan} --out {batch.out} --overwrite "
        f"--as-of {batch.day}",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)

"""Fleet reports and model cards: what a manager reads and an engineer drills into.

A fleet report is a roll-up, never a listing: every figure is computed over the whole
fleet from a few bulk reads (one row per model, streamed from the registry into Arrow and
aggregated in DuckDB), and what the page shows is bounded (top cohorts, worst models, a
heat map of the largest cohorts), so the HTML stays small at a million models. The
per-model table goes to a sidecar file by export. Reports are recorded, so the next one
of the same fleet says what changed since.
"""

from __future__ import annotations

from shoal.report.cards import ModelCard as ModelCard

"""A week of the grocer's traffic, replayed through the prediction server, with drift and truth.

What it sends, day by day over a week of the holdout (:func:`replay_days`; the world has
no days after its holdout, and the models never trained on these):

1. every (store, sku) of ``grocer/demand`` asks for its day's forecast: multi-key
   ``POST .../predict`` requests of up to :data:`ROWS_PER_REQUEST` rows, each row carrying
   exactly the features its production version's signature takes (the calendar, plus
   the promotion flag where the promo-aware candidate was promoted), and ``as_of`` = the
   day: the server logs it as the rows' ``event_at`` (and files them under that day);
2. then that day's actual sales come back as ground truth: ``POST .../feedback`` items
   naming their prediction by request id and row, and by key and day.

The server logs when it answered (``at``: the minute the demo ran) beside the day each
forecast is for (``event_at``), so monitoring by event time puts each replayed day in its
own window. The day is in the request id too, ``demo-<replay>-<day>-<n>``, and in each
feedback item's ``time``.

Drift: a few stores, chosen from the seed (:func:`drifted_stores`), run a promotion on
every SKU every day of the week, and sell :data:`DRIFT_SALES` times what they otherwise
would have. Their logged promo flag (where their models read it) and their actuals stand
apart from every other store's, which is what the monitoring to come must find.

Requests go out one after another on one keep-alive connection (``http.client``: the
demo needs no HTTP library beyond the standard one); latency is measured by this client,
from sending a request to reading its whole answer.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from shoal.demo.forecast import WITH_PROMO, design
from shoal.demo.grocer import FLEET, KEYS, pilot_stores
from shoal.demo.world import World, WorldSpec
from shoal.errors import ShoalError
from shoal.sdk.client import Client

if TYPE_CHECKING:  # importing shoal.serve imports FastAPI; the summary needs none of it
    from shoal.serve.logbook import ParquetLog

DAYS = 7
"""One week: the first of the holdout."""
ROWS_PER_REQUEST = 500
"""Rows (keys) per predict request: a planning system asks for its forecasts in batches."""
FEEDBACK_ITEMS = 5000
"""Actuals per feedback request (the server takes up to 10,000)."""
DRIFT_SALES = 2.0
"""How many times their usual sales the drifted stores sell during the replayed week."""
PREDICT = f"/api/v1/fleets/{FLEET}/predict"
FEEDBACK = f"/api/v1/fleets/{FLEET}/feedback"


@dataclass(frozen=True)
class Replay:
    """What the replay sent and measured, for the summary and for tests."""

    url: str
    days: list[str]
    """The days replayed, ISO dates."""
    replay_id: str
    request_days: dict[str, str]
    """Each request id and the day it stands for."""
    keys: int
    rows: int
    """Rows predicted: every key once a day."""
    actuals: int
    latencies: list[float]
    """Seconds per predict request, as this client measured them."""
    drifted: list[str]
    seconds: float
    logs: dict[str, str]
    """Where the fleet's logs are: ``predictions`` and ``feedback`` folders."""
    example: list[dict[str, Any]]
    """Two rows the server answers (one key per feature set), for a curl to try."""

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        """Client-side request latency at percentile ``q``, in milliseconds."""
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else 0.0


def drifted_stores(world: World, count: int | None = None) -> list[str]:
    """The stores whose traffic drifts: ``count`` (default 1 per 10 stores, 1 to 3), by seed.

    Pilot stores come first, because most of their production models read the promotion
    flag, so the shift shows in the logged features too; a store that a competitor hits
    during the holdout never drifts here, so the two stories stay apart.
    """
    stores = world.stores
    count = count if count is not None else max(1, min(3, len(stores) // 10))
    pilot = stores["store"].isin(pilot_stores(world)).to_numpy()
    hit = stores["competitor_from"].notna().to_numpy()
    order = np.random.default_rng([world.spec.seed, 5]).permutation(len(stores))
    ranked = sorted(order.tolist(), key=lambda i: (bool(hit[i]), not pilot[i]))
    return sorted(stores["store"].iloc[ranked[:count]])


def replay_days(spec: WorldSpec) -> pd.DatetimeIndex:
    """The seven days replayed: from the holdout's first Thursday when it has room, else its
    first day.

    Shoal's windows are aligned on the UNIX epoch, a Thursday, so a ``1w`` window runs
    Thursday to Wednesday: a week from a Thursday fills one weekly window, where drift can
    be tested on seven forecasts per model (one a day is too few in a daily window).
    """
    holdout = spec.dates[spec.train_days :]
    shift = (3 - holdout[0].weekday()) % 7
    if len(holdout) < shift + DAYS:
        shift = 0
    return holdout[shift : shift + DAYS]


def week_of_sales(world: World, drifted: Sequence[str]) -> pd.DataFrame:
    """The replayed week's rows (``date, store, sku, promo, sales``) by day, drift applied."""
    days = replay_days(world.spec)
    sales = world.sales
    week = sales[sales["date"].isin(days).to_numpy()].sort_values("date", kind="stable")
    week = week.reset_index(drop=True)
    hit = week["store"].isin(list(drifted)).to_numpy()
    week["promo"] = week["promo"].to_numpy() | hit
    counts = week["sales"].to_numpy()
    drifted_sales = np.rint(counts * DRIFT_SALES).astype(counts.dtype)
    week["sales"] = np.where(hit, drifted_sales, week["sales"].to_numpy())
    return week


def production_inputs(client: Client) -> dict[tuple[str, str], list[str]]:
    """The features each key's production version takes, from its signature (one search)."""
    found = client.fleet(FLEET).iter_search("alias = 'production'", page_size=1000)
    inputs = {}
    for version in found:
        names = [i["name"] for i in (version.signature or {}).get("inputs", [])]
        unknown = sorted(set(names) - set(WITH_PROMO))
        if unknown:
            raise ShoalError(
                f"version {version.id} of {FLEET} takes {unknown}, which the demo's traffic "
                f"does not carry (it sends {list(WITH_PROMO)})"
            )
        inputs[(version.key["store"], version.key["sku"])] = names or list(WITH_PROMO)
    return inputs


def request_rows(
    week: pd.DataFrame, inputs: Mapping[tuple[str, str], Sequence[str]], origin: str
) -> list[dict[str, Any]]:
    """One row per (key, day): its key and the features its production version takes."""
    matrix = design(week["date"], origin, week["promo"])
    columns = {name: matrix[:, j].tolist() for j, name in enumerate(WITH_PROMO)}
    rows = []
    for i, key in enumerate(zip(week["store"].tolist(), week["sku"].tolist(), strict=True)):
        row: dict[str, Any] = dict(zip(KEYS, key, strict=True))
        if key not in inputs:
            raise ShoalError(f"{FLEET} has no production version for {row}")
        for name in inputs[key]:
            row[name] = columns[name][i]
        rows.append(row)
    return rows


def replay_week(
    client: Client,
    world: World,
    url: str,
    *,
    logs: Sequence[ParquetLog] = (),
    rows_per_request: int = ROWS_PER_REQUEST,
    drifted: Sequence[str] | None = None,
) -> Replay:
    """Replay the week against the server at ``url``, then flush ``logs`` (the app's).

    Each call is a new replay (a new id in its request ids), so running the demo again
    adds another week of traffic to the logs rather than replacing it.
    """
    started = time.perf_counter()
    stores = list(drifted) if drifted is not None else drifted_stores(world)
    week = week_of_sales(world, stores)
    rows = request_rows(week, production_inputs(client), world.spec.start)
    replay_id = uuid.uuid4().hex[:8]
    days = week["date"].dt.strftime("%Y-%m-%d").to_numpy()
    actual = week["sales"].tolist()
    request_days: dict[str, str] = {}
    latencies: list[float] = []
    predicted = actuals = 0
    with _Connection(url) as http:
        for day, indices in _by_day(days):
            items = []
            for n, start in enumerate(range(0, len(indices), rows_per_request)):
                part = indices[start : start + rows_per_request]
                request_id = f"demo-{replay_id}-{day}-{n:03d}"
                began = time.perf_counter()
                body = {"rows": [rows[i] for i in part], "as_of": day}  # the day it is for
                answer = http.post(PREDICT, body, request_id)
                latencies.append(time.perf_counter() - began)
                request_days[request_id] = day
                predicted += len(answer["predictions"])
                items += [
                    {"request_id": request_id, "row": j, "key": _key(rows[i]),
                     "time": f"{day}T00:00:00Z", "actual": actual[i]}
                    for j, i in enumerate(part)
                ]  # fmt: skip
            for start in range(0, len(items), FEEDBACK_ITEMS):
                reply = http.post(FEEDBACK, {"items": items[start : start + FEEDBACK_ITEMS]})
                actuals += reply["accepted"]
    for log in logs:
        log.flush()
    return Replay(
        url=url, days=sorted(set(days.tolist())), replay_id=replay_id,
        request_days=request_days, keys=len(set(map(_key_tuple, rows))), rows=predicted,
        actuals=actuals, latencies=latencies, drifted=stores,
        seconds=time.perf_counter() - started,
        logs={log.root.rsplit("/", 1)[-1]: _folder(log) for log in logs},
        example=_example(rows),
    )  # fmt: skip


def _by_day(days: np.ndarray) -> Iterator[tuple[str, list[int]]]:
    """Row indices day by day (the week is ordered by day)."""
    start = 0
    for day, count in zip(*np.unique(days, return_counts=True), strict=True):
        yield str(day), list(range(start, start + int(count)))
        start += int(count)


def _key(row: Mapping[str, Any]) -> dict[str, str]:
    return {dim: row[dim] for dim in KEYS}


def _key_tuple(row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(row[dim] for dim in KEYS)


def _example(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each feature set (calendar only, calendar and promo), at most two."""
    seen: dict[frozenset[str], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(frozenset(row), row)
        if len(seen) == 2:
            break
    return list(seen.values())


def _folder(log: ParquetLog) -> str:
    """Where one log keeps the fleet's files, as a path (local) or a URL."""
    folder = f"{log.root}/tenant={FLEET.split('/')[0]}/fleet={FLEET.split('/')[1]}"
    protocol = log.fs.protocol
    local = "file" in (protocol if isinstance(protocol, tuple) else (protocol,))
    return folder if local else log.fs.unstrip_protocol(folder)


class _Connection:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads JSON back."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                               timeout=timeout)  # fmt: skip

    def post(self, path: str, body: Any, request_id: str | None = None) -> Any:
        headers = {"content-type": "application/json"}
        if request_id is not None:
            headers["x-request-id"] = request_id
        self.conn.request(
            "POST", path, body=json.dumps(body, separators=(",", ":")).encode(), headers=headers
        )
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise ShoalError(
                f"the demo's server answered {response.status} to POST {path}: "
                f"{data[:500].decode(errors='replace')}"
            )
        return json.loads(data)

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

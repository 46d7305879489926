"""Rate limits per principal: a token bucket for predictions and one for writes.

A bucket holds up to ``burst`` requests and refills at ``per_second``; a request that
finds it empty gets a 429 whose ``Retry-After`` says when one will be free. Buckets live
in the server process (each replica counts its own), keyed by the principal's name and
tenant, and idle buckets are dropped so a stream of one-off callers cannot grow memory.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from shoal.errors import RateLimited


@dataclass(frozen=True)
class Rate:
    """``per_second`` sustained with bursts of ``burst``; ``per_second <= 0``: unlimited."""

    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str, field: str) -> Rate:
        """``"50/s"``, ``"600/m"`` or ``"50/s,200"`` (a burst); ``"0"`` or ``"off"``: none."""
        from shoal.errors import InvalidInput

        text = text.strip().lower()
        if text in ("0", "off", "none", ""):
            return cls(0.0, 0)
        rate, _, burst = text.partition(",")
        count, _, unit = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600}.get(unit.strip() or "s")
        try:
            per_second = float(count) / seconds if seconds else -1.0
            size = int(burst) if burst else max(1, math.ceil(per_second * 2))
        except ValueError:
            per_second, size = -1.0, 0
        if per_second <= 0 or size < 1:
            raise InvalidInput(
                f"{field} {text!r} is not a rate: write N/s, N/m or N/h, optionally ',BURST' "
                "(e.g. '50/s,200'), or 'off'", field=field,
            )  # fmt: skip
        return cls(per_second, size)


class Limiter:
    """Token buckets by (kind, principal)."""

    def __init__(self, rates: dict[str, Rate]) -> None:
        self.rates = {k: r for k, r in rates.items() if r.per_second > 0}
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, kind: str, who: str) -> None:
        """Spend one request of ``kind`` for ``who``, or raise :class:`RateLimited`."""
        rate = self.rates.get(kind)
        if rate is None:
            return
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.get((kind, who), (float(rate.burst), now))
            level = min(float(rate.burst), level + (now - at) * rate.per_second)
            if level < 1.0:
                wait = math.ceil((1.0 - level) / rate.per_second)
                raise RateLimited(
                    f"too many {kind} requests from {who}: at most {rate.per_second:g}/s "
                    f"(bursts of {rate.burst}); retry in {wait} s", retry_after=wait,
                )  # fmt: skip
            self._buckets[(kind, who)] = (level - 1.0, now)
            if len(self._buckets) > 100_000:
                self._drop_full(now)

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled: they hold nothing a new one would not."""
        for key, (level, at) in list(self._buckets.items()):
            rate = self.rates[key[0]]
            if level + (now - at) * rate.per_second >= rate.burst:
                del self._buckets[key]

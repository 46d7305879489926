"""Fleet monitoring: quality and drift of every model per window, in one DuckDB pass.

See ``docs/monitoring.md``. The pass (:func:`monitor_fleet`) reads the prediction and
feedback logs the server writes, compares each version's logged inputs with its training
baseline, controls false discoveries across the fleet, stores the results per window and
checks the fleet's alert rules.
"""

from shoal.monitor._alerting import post_json
from shoal.monitor._quality import Quality
from shoal.monitor._quality import is_builtin as is_builtin_rule
from shoal.monitor._quality import read as read_quality
from shoal.monitor._rules import Rule, parse
from shoal.monitor._runner import MonitorOptions, MonitorOutcome, monitor_fleet
from shoal.monitor._webhook_guard import check_webhook
from shoal.monitor._window import as_timestamp, parse_window

__all__ = [
    "MonitorOptions",
    "MonitorOutcome",
    "Quality",
    "Rule",
    "as_timestamp",
    "check_webhook",
    "is_builtin_rule",
    "monitor_fleet",
    "parse",
    "parse_window",
    "post_json",
    "read_quality",
]

"""Shoal: MLOps for fleets of models.

>>> import shoal
>>> client = shoal.connect()                                  # doctest: +SKIP
>>> demand = client.fleet("grocer/demand", keys=["store", "sku"])  # doctest: +SKIP
>>> demand.search("mape > 0.3", sort="-mape", limit=50)       # doctest: +SKIP
"""

from shoal.errors import (
    Conflict,
    FilterSyntaxError,
    IntegrityError,
    InvalidInput,
    MissingDependency,
    NotFound,
    ShoalError,
    StoreUnavailable,
    UnsafeArtifact,
)
from shoal.registry.records import VersionSpec
from shoal.sdk.client import Client, connect
from shoal.sdk.export import ExportResult
from shoal.sdk.fleet import Fleet
from shoal.sdk.history import Lineage, MoveRecord, Run, TrainFailure
from shoal.sdk.results import (
    AliasMove,
    Dataset,
    EvalResult,
    ModelVersion,
    Page,
    Registered,
)
from shoal.train import TrainResult

__version__ = "0.1.0"

_LAZY = {"FleetReport": "shoal.report.fleet_report", "ModelCard": "shoal.report.cards"}
"""Records of the report capability, imported on first use: they bring DuckDB and Jinja2,
which ``import shoal`` alone should not pay for."""


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shoal' has no attribute {name!r}")


__all__ = [
    "AliasMove",
    "Client",
    "Conflict",
    "Dataset",
    "EvalResult",
    "ExportResult",
    "FilterSyntaxError",
    "Fleet",
    "FleetReport",
    "IntegrityError",
    "InvalidInput",
    "Lineage",
    "MissingDependency",
    "ModelCard",
    "ModelVersion",
    "MoveRecord",
    "NotFound",
    "Page",
    "Registered",
    "Run",
    "ShoalError",
    "StoreUnavailable",
    "TrainFailure",
    "TrainResult",
    "UnsafeArtifact",
    "VersionSpec",
    "connect",
]

"""``shoal serve --ray``: the same server as a Ray Serve application, models multiplexed.

Two deployments:

- ``ShoalIngress``: the FastAPI app of :func:`shoal.serve.create_app`, unchanged: routes,
  resolution of every key of a request in one query, signature checks, errors, metrics,
  prediction and feedback logs. Only where versions run differs (:class:`RayModels`).
- ``ShoalModels``: loads versions and predicts. Each call names its version as Ray Serve's
  multiplexed model id, so Serve routes it to a replica that already holds that version
  when there is one; each replica keeps at most ``models_per_replica`` versions, least
  recently used out first. Memory then grows with replicas x models each, not with
  every replica loading every model.

A multi-key request fans out one call per version of the request, in parallel, and the
ingress puts the answers back in request order. A replica returns a
:class:`~shoal.serve.predictor.Predicted` (predictions, and a classifier's probabilities),
as the in-process models do.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pandas as pd

from shoal.registry import FleetRef
from shoal.serve.predictor import Models, Predicted, predict_rows

APP_NAME = "shoal"
MODELS = "ShoalModels"

_F = TypeVar("_F", bound=Callable[..., Any])


class _Decorator(Protocol):
    """What ``serve.multiplexed(...)`` returns (unannotated in Ray): a signature-keeping wrapper."""

    def __call__(self, method: _F, /) -> _F: ...


class RayModels(Models):
    """Runs each version's rows on the ``ShoalModels`` replica multiplexing that version."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def predict(
        self, fleet: FleetRef, parts: list[tuple[dict[str, Any], pd.DataFrame]]
    ) -> list[Predicted]:
        calls = [
            self.handle.options(multiplexed_model_id=str(row["version_id"])).predict.remote(
                {**row, "fleet": fleet}, frame
            )
            for row, frame in parts
        ]
        return [call.result() for call in calls]


def _build_ingress(store_url: str, artifacts_url: str, options: dict[str, Any]) -> Any:
    """Runs on the ingress replica: connect, then the usual app over Ray-held models."""
    from ray import serve

    from shoal.sdk.client import connect
    from shoal.serve.app import create_app

    handle = serve.get_deployment_handle(MODELS, app_name=APP_NAME)
    return create_app(connect(store_url, artifacts_url), models=RayModels(handle), **options)


def models_deployment(store_url: str, artifacts_url: str, models_per_replica: int) -> Any:
    """The ``ShoalModels`` deployment class, its multiplexing sized ``models_per_replica``."""
    from ray import serve

    multiplexed: _Decorator = serve.multiplexed(max_num_models_per_replica=models_per_replica)

    @serve.deployment(name=MODELS)
    class ShoalModels:
        def __init__(self) -> None:
            from shoal.sdk.client import connect

            self.client = connect(store_url, artifacts_url)
            self.rows: OrderedDict[str, dict[str, Any]] = OrderedDict()
            self.lock = threading.Lock()

        @multiplexed
        async def get_model(self, model_id: str) -> Any:
            from shoal.serve.app import location

            with self.lock:
                row = self.rows[model_id]
            return self.client.registry.versions.load(row["fleet"], row, location=location(row))

        async def predict(self, row: dict[str, Any], frame: pd.DataFrame) -> Predicted:
            model_id = serve.get_multiplexed_model_id()
            with self.lock:  # the resolved row get_model loads from, kept for a while
                self.rows[model_id] = row
                self.rows.move_to_end(model_id)
                while len(self.rows) > 4 * models_per_replica:
                    self.rows.popitem(last=False)
            model = await self.get_model(model_id)
            return predict_rows(row, model, frame)

    return ShoalModels


def ray_application(
    store_url: str,
    artifacts_url: str,
    *,
    replicas: int = 1,
    models_per_replica: int = 1000,
    **options: Any,
) -> Any:
    """The bound Ray Serve application: ingress (``options`` go to ``create_app``) + models."""
    from ray import serve

    def builder() -> Any:  # a plain function: Serve calls it on the replica to get the app
        return _build_ingress(store_url, artifacts_url, options)

    ingress = serve.deployment(name="ShoalIngress")(serve.ingress(builder)())
    models = models_deployment(store_url, artifacts_url, models_per_replica)
    return ingress.bind(models.options(num_replicas=replicas).bind())


def run(
    store_url: str, artifacts_url: str, *, host: str, port: int, blocking: bool = True,
    **options: Any,
) -> None:  # fmt: skip
    """Start (or join) Ray, start Serve's HTTP proxy on ``host:port``, deploy the app."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    serve.start(http_options={"host": host, "port": port})
    serve.run(ray_application(store_url, artifacts_url, **options), name=APP_NAME,
              route_prefix="/", blocking=blocking)  # fmt: skip

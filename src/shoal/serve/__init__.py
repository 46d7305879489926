"""Serving: one process answers predictions for every fleet of a store.

- :class:`ModelCache`: loaded models by version, bounded by count and estimated bytes.
- :class:`Predictor`: rows spanning many keys -> one resolution query, grouped predicts,
  answers in request order; notices alias moves within ``refresh_seconds``.
- :func:`create_app`: the FastAPI app ``shoal serve`` runs on uvicorn.
"""

from shoal.serve.app import create_app
from shoal.serve.cache import ModelCache
from shoal.serve.predictor import Answer, Predictor

__all__ = ["Answer", "ModelCache", "Predictor", "create_app"]

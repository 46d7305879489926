"""The REST API (``/api/v1``) and, later, the pages: fleets, models, runs, datasets, aliases.

:func:`create_web_app` builds the FastAPI app ``shoal ui`` runs; every route is a thin
layer over the SDK, on the same queries the SDK and CLI use.
"""

from shoal.web.app import create_web_app

__all__ = ["create_web_app"]

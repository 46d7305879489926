"""What every HTTP app of Shoal shares: JSON errors that name the field, a body limit.

Both the prediction server (:mod:`shoal.serve`) and the REST API and pages
(:mod:`shoal.web`) answer errors the same way, so a client handles one shape:
``{"error": {"type", "message", "field"}}`` with a 4xx status.
"""

from shoal.http.errors import error_response, install_error_handlers, status_of
from shoal.http.limits import BodyLimit

__all__ = ["BodyLimit", "error_response", "install_error_handlers", "status_of"]

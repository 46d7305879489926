"""Every error Shoal raises on purpose, in one tree.

Callers catch :class:`ShoalError` for anything Shoal means to tell them; the
subclasses say what kind of problem it was, so a CLI can print it without a
traceback and a REST layer can map it to a status code::

    ShoalError
    ├── InvalidInput            bad argument, field or value (names the field and the fix)
    │   ├── FilterSyntaxError   a ``where=`` expression that does not parse
    │   └── UnsafeArtifact      an artifact that would need pickle or untrusted types
    ├── NotFound                no such tenant, fleet, model, version, alias, run, dataset
    ├── Conflict                the write clashes with what is stored (duplicate, lost race)
    ├── IntegrityError          stored bytes do not match their content hash
    ├── StoreUnavailable        the metadata or artifact store cannot be reached or is too old
    └── MissingDependency       an optional extra is not installed (names the pip command)

Every message says what was wrong, with which field, and what to do instead.
"""

from __future__ import annotations


class ShoalError(Exception):
    """Base of every error Shoal raises deliberately."""

    exit_code: int = 1
    """Exit status the CLI uses when it prints this error."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        """The argument or request field at fault, when there is one (REST errors name it)."""


class InvalidInput(ShoalError, ValueError):
    """An argument or field is wrong; the message names it and says what is allowed."""

    exit_code = 2


class FilterSyntaxError(InvalidInput):
    """A ``where=`` or ``sort=`` expression could not be parsed."""


class UnsafeArtifact(InvalidInput):
    """Loading or saving this artifact would execute untrusted code (pickle, unknown types)."""


class NotFound(ShoalError, LookupError):
    """The named object does not exist in the caller's tenant."""

    exit_code = 3


class Conflict(ShoalError):
    """The write clashes with stored state: a duplicate, or a concurrent change won."""

    exit_code = 4


class IntegrityError(ShoalError):
    """Stored bytes do not hash to the address they were stored under: never loaded."""

    exit_code = 5


class StoreUnavailable(ShoalError):
    """The metadata or artifact store cannot be reached, or its schema is out of date."""

    exit_code = 6


class MissingDependency(ShoalError, ImportError):
    """An optional extra is needed; the message gives the ``pip install`` line."""

    exit_code = 7


class Unauthenticated(ShoalError):
    """The request carries no credentials, or ones that are unknown, expired or revoked."""

    exit_code = 8


class Forbidden(ShoalError):
    """The caller is known, but its role does not allow this (a viewer moving an alias)."""

    exit_code = 9


class RateLimited(ShoalError):
    """Too many requests of this kind from one principal: retry after ``retry_after`` s."""

    exit_code = 10

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


__all__ = [
    "Conflict",
    "FilterSyntaxError",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "MissingDependency",
    "NotFound",
    "RateLimited",
    "ShoalError",
    "StoreUnavailable",
    "Unauthenticated",
    "UnsafeArtifact",
]

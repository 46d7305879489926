"""Who is asking, and may they: authentication and authorization for both servers.

Every request gets a :class:`~shoal.registry.Principal` before any route runs:

- ``Authorization: Bearer shoal_...``: an API token (``shoal token create``);
- ``Authorization: Bearer <JWT>``: a person or service signed in at the configured OIDC
  issuer (:mod:`shoal.http.oidc`);
- the ``shoal_session`` cookie the sign-in page set (:mod:`shoal.http.sessions`);
- with auth off (``--no-auth``, loopback only): the local user, as the operator.

The :class:`Authenticate` middleware makes that principal the one acting
(:func:`shoal.registry.acting_as`) for everything the request runs, so the registry below
scopes every query to its tenant and the audit log names it: routes never see it. One
app-wide dependency, :meth:`Guard.authorize`, then checks the route's role (``x-shoal-role``
in its OpenAPI entry, else ``viewer`` to read and ``editor`` to write), CSRF for requests
without a bearer token, and the principal's rate limits. A route no one marked is thus
closed to the anonymous and to viewers' writes by default.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.params import Depends

from shoal import config
from shoal.errors import Forbidden, ShoalError, Unauthenticated
from shoal.http.rates import Limiter, Rate
from shoal.http.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, Sessions
from shoal.registry import Principal, Registry, acting_as

ROLE_KEY = "x-shoal-role"
"""Where a route names the role it needs, in ``openapi_extra`` (and so in the schema)."""

PUBLIC = {ROLE_KEY: "public"}
ADMIN = {ROLE_KEY: "admin"}
PREDICT = {ROLE_KEY: "predict"}
VIEWER = {ROLE_KEY: "viewer"}
"""``openapi_extra`` values for routes that need other than the default role."""

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data",
                         "text/plain"})  # fmt: skip
"""What a cross-site HTML form can send without a CORS preflight."""


@dataclass(frozen=True)
class Auth:
    """How a server authenticates: on or off, sessions, SSO, rate limits."""

    enabled: bool = True
    sessions: Sessions = field(default_factory=lambda: Sessions.with_secret(None))
    oidc: Any = None
    """An :class:`shoal.http.oidc.OidcSettings`, or None: no single sign-on."""
    rates: Mapping[str, Rate] = field(default_factory=dict)
    token_cache_seconds: float = 2.0
    """How long a checked token is trusted without asking the store again (a revoked
    token is refused at most this long after)."""

    @classmethod
    def off(cls) -> Auth:
        """No authentication: every request acts as the local operator (loopback only)."""
        return cls(enabled=False)

    @classmethod
    def from_config(cls, *, enabled: bool = True) -> Auth:
        """From the ``SHOAL_*`` settings (session secret, OIDC, rate limits)."""
        from shoal.http.oidc import OidcSettings

        return cls(
            enabled=enabled,
            sessions=Sessions.with_secret(config.SESSION_SECRET.get(),
                                          config.session_seconds()),
            oidc=OidcSettings.from_config() if enabled else None,
            rates={"predict": Rate.parse(config.RATE_PREDICT.get() or "off",
                                         "SHOAL_RATE_PREDICT"),
                   "write": Rate.parse(config.RATE_WRITES.get() or "off",
                                       "SHOAL_RATE_WRITES")},
        )  # fmt: skip


class Guard:
    """The running side of :class:`Auth` for one app: token checks (briefly cached), the
    OIDC verifier, sessions, rate limiters."""

    def __init__(self, auth: Auth, registry: Registry) -> None:
        self.auth = auth
        self.registry = registry
        self.sessions = auth.sessions
        self.limiter = Limiter(dict(auth.rates))
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._verifier: Any = None
        if auth.oidc is not None:
            from shoal.http.oidc import OidcVerifier

            self._verifier = OidcVerifier(auth.oidc)

    # -- who ------------------------------------------------------------------------------------

    def principal(self, scope: dict[str, Any]) -> Principal | None:
        """The request's principal; None when it sent nothing (an error if it sent
        credentials that do not hold)."""
        address = (scope.get("client") or (None,))[0]
        request_id = (scope.get("state") or {}).get("request_id")
        if not self.auth.enabled:
            return Principal(config.actor(), "operator", via="local", address=address,
                             request_id=request_id)  # fmt: skip
        headers = _headers(scope)
        bearer = headers.get("authorization", "")
        found: Principal | None
        if bearer:
            kind, _, credential = bearer.partition(" ")
            if kind.lower() != "bearer" or not credential.strip():
                raise Unauthenticated("send 'Authorization: Bearer TOKEN' (a Shoal token or "
                                      "a token of the configured SSO issuer)")  # fmt: skip
            found = self.bearer(credential.strip())
        else:
            cookie = _cookie(headers)
            found = self.session(cookie) if cookie else None
        if found is None:
            return None
        return dataclasses.replace(found, address=address, request_id=request_id)

    def bearer(self, credential: str) -> Principal:
        """The principal of a Shoal token or of a JWT from the configured issuer."""
        if credential.startswith("shoal_"):
            return self.token(credential)
        if self._verifier is None:
            raise Unauthenticated("unknown token: send a Shoal token ('shoal token create'); "
                                  "single sign-on is not configured on this server")  # fmt: skip
        who = self._verifier.verify(credential)
        return Principal(f"sso:{who.name}", who.role, who.tenant, via="sso")

    def token(self, secret: str) -> Principal:
        from shoal.registry.access import digest

        key = digest(secret)
        cached = self._tokens.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        found = self.registry.access.authenticate(secret)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[key] = (found, now + self.auth.token_cache_seconds)
        return found

    def session(self, cookie: str) -> Principal | None:
        """The principal of a session cookie; a forged or expired one is no session."""
        payload = self.sessions.read(cookie)
        if payload is None:
            return None
        if payload.get("via") == "token":
            found = self.registry.access.authenticate_digest(str(payload.get("d", "")))
            return dataclasses.replace(found, via="session")
        if payload.get("via") == "sso":
            return Principal(f"sso:{payload.get('name')}", str(payload.get("role")),
                             payload.get("tenant"), via="sso")  # fmt: skip
        return None

    def sign_in(self, credential: str) -> tuple[Principal, str]:
        """Check a pasted token (Shoal's or the issuer's) and issue its session cookie."""
        credential = credential.strip()
        who = self.bearer(credential)
        if credential.startswith("shoal_"):
            from shoal.registry.access import digest

            return who, self.sessions.issue({"via": "token", "d": digest(credential)})
        expires = self._verifier.verify(credential).expires_at
        payload = {"via": "sso", "name": who.name.removeprefix("sso:"), "role": who.role,
                   "tenant": who.tenant}  # fmt: skip
        return who, self.sessions.issue(payload, expires)

    # -- may they -------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> None:
        """The app-wide dependency: role, CSRF and rate limit of the route about to run."""
        route = request.scope.get("route")
        needed = role_of(route, request.method)
        if needed == "public":
            return
        who: Principal | None = getattr(request.state, "principal", None)
        if who is None:
            failure = getattr(request.state, "auth_error", None)
            raise failure or Unauthenticated(
                "sign in: send 'Authorization: Bearer TOKEN' (create one with 'shoal token "
                "create'), or sign in on the /signin page"
            )
        if not who.may(needed):
            raise Forbidden(f"this needs the {needed} role; {who.name} is {who.role}")
        tenant = request.path_params.get("tenant")
        if tenant is not None:
            who.scope.check(str(tenant))  # before the body is read: another's is a 404
        if request.method not in _SAFE:
            await self.check_csrf(request)
        if self.auth.enabled:
            self.limiter.take("predict" if needed == "predict" else
                              "write" if request.method not in _SAFE else "read",
                              f"{who.tenant or '*'}/{who.name}")  # fmt: skip

    async def check_csrf(self, request: Request) -> None:
        """A state change without a bearer token must come from this site's own page: the
        Origin (or Referer), when sent, names this server, and the form's CSRF token (field
        or ``X-CSRF-Token`` header) holds. A request with no Origin, no cookie and no form
        body is a script's, not a browser's, and passes (with auth on it is still
        authenticated by its bearer token, or refused)."""
        headers = request.headers
        if headers.get("authorization"):
            return  # a browser never attaches it on its own: not forgeable cross-site
        own = f"{request.url.scheme}://{headers.get('host', '')}"
        origin = headers.get("origin") or _origin_of(headers.get("referer"))
        if origin is not None and origin != own:
            raise Forbidden(f"cross-site request refused: it came from {origin[:100]}, not "
                            f"{own}", field="origin")  # fmt: skip
        cookie = request.cookies.get(COOKIE)
        sent = headers.get(CSRF_HEADER)
        if sent is None and "form" in headers.get("content-type", ""):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if self.sessions.csrf_ok(cookie, sent):
            return
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if origin is None and cookie is None and kind not in _FORM_TYPES:
            return  # not a browser (which sends Origin on every cross-site POST): a script
        raise Forbidden("this form has no valid CSRF token: reload the page and try again",
                        field=CSRF_FIELD)  # fmt: skip


def role_of(route: Any, method: str) -> str:
    """The role a route needs: its ``x-shoal-role``, else viewer to read, editor to write."""
    extra = getattr(route, "openapi_extra", None) or {}
    named = extra.get(ROLE_KEY)
    if named:
        return str(named)
    if route is not None and getattr(route, "path", "").startswith("/static/"):
        return "public"
    return "viewer" if method in _SAFE else "editor"


class Authenticate:
    """ASGI middleware: find the request's principal and run the app as it."""

    def __init__(self, app: Any, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            who = self.guard.principal(scope)
        except ShoalError as exc:
            who, state["auth_error"] = None, exc
        state["principal"] = who
        state["csrf_token"] = self.guard.sessions.csrf_token(_cookie(_headers(scope)))
        if who is None:
            await self.app(scope, receive, send)
            return
        with acting_as(who):
            await self.app(scope, receive, send)


def install_auth(app: FastAPI, auth: Auth, registry: Registry) -> Guard:
    """Authenticate every request of ``app`` and authorize every route it will include.

    Call it before any route is added: the check is an app-wide dependency.
    """
    guard = Guard(auth, registry)
    app.state.guard = guard
    app.router.dependencies.append(Depends(guard.authorize))
    app.add_middleware(Authenticate, guard=guard)
    return guard


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or ()}


def _cookie(headers: dict[str, str]) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def _origin_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"

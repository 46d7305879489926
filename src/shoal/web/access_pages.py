"""Signing in and out, the audit page, and tokens over REST.

- ``GET /signin``, ``POST /signin``: paste a Shoal token or a token of the configured SSO
  issuer; the answer sets the session cookie (:mod:`shoal.http.sessions`) and goes on to
  the page that asked for a sign-in.
- ``POST /signout``: ends the session.
- ``GET /audit`` (page) and ``GET /api/v1/audit``: who changed what, of the caller's
  tenant only (the operator sees every tenant's).
- ``GET|POST /api/v1/tokens``, ``POST /api/v1/tokens/{id}/revoke``: a tenant's admin
  manages its tokens; the secret is in the answer to the create, once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from shoal.errors import ShoalError
from shoal.http.auth import ADMIN, PUBLIC, VIEWER, Guard
from shoal.http.errors import ERROR_RESPONSES, WRITE_RESPONSES
from shoal.http.params import Limit, RecordId
from shoal.http.sessions import Sessions
from shoal.registry import MAX_ID, NAME_PATTERN
from shoal.sdk.client import Client

AUDIT_ROWS = 100
SPAN = r"^[1-9][0-9]{0,5}[mhdw]$"
"""A length of time as the SDK takes it: 30m, 12h, 7d, 2w."""


class TokenRequest(BaseModel):
    """A token to create: its tenant (none for operator), role, name and lifetime."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"properties": {"role": {"const": "operator"}, "tenant": {"type": "null"}}},
        {"required": ["tenant"], "properties": {"role": {"not": {"const": "operator"}},
                                                "tenant": {"type": "string"}}},
    ]})  # fmt: skip
    tenant: str | None = Field(None, pattern=NAME_PATTERN)
    role: Literal["viewer", "editor", "admin", "predict", "operator"]
    name: str | None = Field(None, pattern=NAME_PATTERN)
    expires: str | None = Field(None, pattern=SPAN, description="A span such as 90d; none: never")


def _next_page(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def access_router(client: Client, templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    def guard_of(request: Request) -> Guard:
        guard: Guard = request.app.state.guard
        return guard

    @router.get("/signin", response_class=HTMLResponse, include_in_schema=False,
                openapi_extra=PUBLIC)  # fmt: skip
    def signin_page(request: Request, next: str = "/") -> HTMLResponse:
        return templates.TemplateResponse(
            request, "signin.html", {"next": _next_page(next), "error": None,
                                     "sso": guard_of(request).auth.oidc is not None,
                                     "sso_redirect": guard_of(request).auth.oidc is not None
                                     and guard_of(request).auth.oidc.client_id is not None},
        )  # fmt: skip

    @router.post("/signin", include_in_schema=False, openapi_extra=PUBLIC)
    async def signin(
        request: Request, token: Annotated[str, Form(max_length=20_000)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:  # fmt: skip
        guard = guard_of(request)
        await guard.check_csrf(request)
        if not guard.auth.enabled:
            return RedirectResponse(_next_page(next), status_code=303)
        try:
            _who, cookie = guard.sign_in(token)
        except ShoalError as exc:
            return templates.TemplateResponse(
                request, "signin.html",
                {"next": _next_page(next), "error": str(exc),
                 "sso": guard.auth.oidc is not None, "sso_redirect": guard.auth.oidc is not None
                 and guard.auth.oidc.client_id is not None},
                status_code=401,
            )  # fmt: skip
        response = RedirectResponse(_next_page(next), status_code=303)
        secure = request.url.scheme == "https"
        response.headers.append("set-cookie", guard.sessions.cookie_header(cookie, secure=secure))
        return response

    @router.post("/signout", include_in_schema=False, openapi_extra=VIEWER)
    def signout(request: Request) -> Response:
        response = RedirectResponse("/signin", status_code=303)
        sessions: Sessions = guard_of(request).sessions
        response.headers.append("set-cookie", sessions.cookie_header(
            "", secure=request.url.scheme == "https", max_age=0))  # fmt: skip
        return response

    @router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(
        request: Request, actor: str | None = None, action: str | None = None,
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> HTMLResponse:  # fmt: skip
        rows = client.audit(actor=actor or None, action=action or (), before=before,
                            limit=AUDIT_ROWS)  # fmt: skip
        return templates.TemplateResponse(
            request, "audit.html",
            {"rows": rows, "actor": actor or "", "action": action or "",
             "older": rows[-1].id if len(rows) == AUDIT_ROWS else None},
        )  # fmt: skip

    @router.get("/api/v1/audit")
    def audit(
        tenant: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
        actor: Annotated[str | None, Query(max_length=100)] = None,
        action: Annotated[list[str] | None, Query(max_length=20)] = None,
        since: Annotated[str | None, Query(pattern=SPAN, description="e.g. 7d, 12h")] = None,
        before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:  # fmt: skip
        """Audited writes newest first: principal, role, client address, request id."""
        rows = client.audit(tenant=tenant, actor=actor, action=action or (), since=since,
                            before=before, limit=limit)  # fmt: skip
        return {"items": [r.to_dict() for r in rows],
                "next_before": rows[-1].id if len(rows) == limit else None}  # fmt: skip

    @router.get("/api/v1/tokens", openapi_extra=ADMIN)
    def tokens(
        tenant: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None, revoked: bool = False
    ) -> dict[str, Any]:
        """The tenant's tokens (never their secrets), newest first."""
        return {"items": [t.to_dict() for t in client.tokens(tenant, revoked=revoked)]}

    @router.post("/api/v1/tokens", status_code=201, responses=WRITE_RESPONSES,
                 openapi_extra=ADMIN)  # fmt: skip
    def create_token(body: TokenRequest) -> dict[str, Any]:
        """Create a token; ``token`` in the answer is its secret, shown this once."""
        info, secret = client.create_token(body.tenant, body.role, name=body.name,
                                           expires=body.expires)  # fmt: skip
        return {**info.to_dict(), "token": secret}

    @router.post("/api/v1/tokens/{token_id}/revoke", responses=WRITE_RESPONSES,
                 openapi_extra=ADMIN)  # fmt: skip
    def revoke_token(token_id: RecordId) -> dict[str, Any]:
        """Revoke a token: refused within seconds, and sessions signed in with it end."""
        return client.revoke_token(token_id).to_dict()

    return router

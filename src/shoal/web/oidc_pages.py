"""Signing in through the single sign-on issuer (:mod:`shoal.http.oidc_flow`).

- ``GET /signin/oidc?next=``: sends the browser to the issuer (303), with the round-trip
  cookie ``shoal_oidc`` set; without ``SHOAL_OIDC_CLIENT_ID``, a 404 page saying so.
- ``GET /signin/callback?code=&state=``: where the issuer sends the browser back. A good
  sign-in sets the session cookie as ``POST /signin`` does and answers a small page that
  goes on to ``next`` by itself (a 200, not a redirect: the browser would not send the
  SameSite=Strict session cookie along a redirect chain another site started); a bad one
  is the sign-in page with the reason, 401.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from shoal import config
from shoal.errors import ShoalError, Unauthenticated
from shoal.http.auth import PUBLIC, Guard
from shoal.http.oidc_flow import STATE_COOKIE, OidcFlow
from shoal.web.access_pages import _next_page

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
"""What an OAuth error code looks like: anything else the issuer (or a forged link) sends
is not shown."""


def _local(target: str | None) -> str:
    """A path on this site (``_next_page``), without the whitespace and control characters
    a browser strips from a URL (``/\\t/evil.example`` would become ``//evil.example``)."""
    path = _next_page(target)
    return "/" if len(path) > 2000 or any(c <= " " or c == "\x7f" for c in path) else path


def _flow(request: Request) -> OidcFlow | None:
    """The app's flow, made on first use; None when SSO or its client id is not set up."""
    guard: Guard = request.app.state.guard
    oidc = guard.auth.oidc
    if oidc is None or not oidc.client_id:
        return None
    flow: OidcFlow | None = getattr(request.app.state, "oidc_flow", None)
    if flow is None or flow.settings is not oidc:
        flow = OidcFlow(oidc, guard.sessions)
        request.app.state.oidc_flow = flow
    return flow


def oidc_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter()

    def redirect_uri(request: Request) -> str:
        return str(request.base_url) + "signin/callback"

    def not_set_up(request: Request) -> Response:
        needs = f"{config.OIDC_ISSUER.env}, {config.OIDC_JWKS.env} and {config.OIDC_CLIENT_ID.env}"
        return templates.TemplateResponse(
            request, "error.html",
            {"status": 404, "title": "Single sign-on through the issuer is not set up",
             "message": "this server signs people in with pasted tokens only: to offer 'Sign "
                        f"in with single sign-on', an administrator sets {needs} (see "
                        "docs/security.md)", "request_id": None},
            status_code=404,
        )  # fmt: skip

    def refused(request: Request, next_path: str, message: str, flow: OidcFlow | None) -> Response:
        response = templates.TemplateResponse(
            request, "signin.html",
            {"next": next_path, "error": message, "sso": True, "sso_redirect": True},
            status_code=401,
        )  # fmt: skip
        if flow is not None:
            response.headers.append("set-cookie", flow.cookie_header(
                "", secure=request.url.scheme == "https", max_age=0))  # fmt: skip
        response.headers["cache-control"] = "no-store"
        return response

    @router.get("/signin/oidc", include_in_schema=False, openapi_extra=PUBLIC)
    def signin_oidc(request: Request,
                    next: Annotated[str, Query(max_length=2000)] = "/") -> Response:  # fmt: skip
        flow = _flow(request)
        if flow is None:
            return not_set_up(request)
        target = _local(next)
        try:
            url, cookie = flow.start(target, redirect_uri(request))
        except ShoalError as exc:
            return refused(request, target, str(exc), None)
        response = RedirectResponse(url, status_code=303)
        secure = request.url.scheme == "https"
        response.headers.append("set-cookie", flow.cookie_header(cookie, secure=secure))
        response.headers["cache-control"] = "no-store"
        return response

    @router.get("/signin/callback", response_class=HTMLResponse, include_in_schema=False,
                openapi_extra=PUBLIC)  # fmt: skip
    def signin_callback(
        request: Request,
        code: Annotated[str, Query(max_length=4096)] = "",
        state: Annotated[str, Query(max_length=512)] = "",
        error: Annotated[str, Query(max_length=256)] = "",
    ) -> Response:  # fmt: skip
        flow = _flow(request)
        if flow is None:
            return not_set_up(request)
        pending = request.cookies.get(STATE_COOKIE)
        target = _local(flow.next_path(pending))
        if error:
            kind = error if _ERROR_CODE.fullmatch(error) else "an error"
            why = f"the identity provider did not sign you in ({kind}): sign in again, or ask"
            return refused(request, target, f"{why} an administrator for access", flow)
        try:
            who = flow.finish(code, state, pending, redirect_uri(request))
        except Unauthenticated as exc:
            return refused(request, target, str(exc), flow)
        guard: Guard = request.app.state.guard
        payload = {"via": "sso", "name": who.name, "role": who.role, "tenant": who.tenant}
        session = guard.sessions.issue(payload, who.expires_at)
        secure = request.url.scheme == "https"
        response = templates.TemplateResponse(request, "signed_in.html",
                                              {"next": target, "name": who.name})  # fmt: skip
        cookies = guard.sessions.cookie_header(session, secure=secure), flow.cookie_header(
            "", secure=secure, max_age=0)  # fmt: skip
        for cookie in cookies:
            response.headers.append("set-cookie", cookie)
        response.headers["cache-control"] = "no-store"
        return response

    return router

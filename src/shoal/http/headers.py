"""Hardening headers and a Host allow-list, for every HTTP app of Shoal.

:class:`SecurityHeaders` adds to every response (unless the app set the header itself):

- ``Content-Security-Policy``: :data:`CONTENT_SECURITY_POLICY`. Scripts, fonts, images,
  frames and fetches come from the app's own origin only; no inline script runs (a page's
  chart data travels in ``<script type="application/json">`` blocks, which are not run,
  read by ``/static/charts.js``); no page can be framed; forms post to the app only.
  Inline *style* is allowed: fleet reports and model cards are self-contained HTML with
  their CSS inline (they are saved and mailed as one file), and plotly injects the styles
  of its charts at run time. A style can change how a page looks, never what it runs.
- ``X-Frame-Options: DENY`` (what ``frame-ancestors`` says, for older browsers),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``Cross-Origin-Opener-Policy: same-origin``.

:class:`AllowedHosts` answers only requests whose ``Host`` names this server: a page on
another site that points its own name at 127.0.0.1 (DNS rebinding) would otherwise reach
a loopback server as if it were same-origin, and read and write through it. The list
always holds ``127.0.0.1``, ``localhost`` and ``::1``; more come from the caller (the
``allowed_hosts`` of ``create_web_app`` and ``create_app``) and from ``SHOAL_ALLOWED_HOSTS``
(comma-separated). A port in an entry is ignored: the port is not what rebinding changes.
An entry ``*.example.com`` allows every subdomain of example.com, not example.com itself.

:func:`secure` installs both on a FastAPI app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI

from shoal import config
from shoal.errors import InvalidInput
from shoal.http.errors import error_response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""No inline script; inline style allowed (self-contained reports, plotly's styles)."""

HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
"""What :class:`SecurityHeaders` adds to every response."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Hosts every server answers to, whatever else is allowed."""

_HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_IPV6 = re.compile(r"[0-9a-f:.]*:[0-9a-f:.]*(%[a-z0-9]+)?")


class SecurityHeaders:
    """ASGI middleware: the hardening headers of :data:`HEADERS` on every HTTP response
    that lacks them (a header the app set itself is kept as it is)."""

    def __init__(self, app: Any, headers: Iterable[tuple[str, str]] = HEADERS) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def hardened(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers") or ()}
                missing = [(name, value) for name, value in self.headers if name not in present]
                message["headers"] = [*(message.get("headers") or ()), *missing]
            await send(message)

        await self.app(scope, receive, hardened)


class AllowedHosts:
    """ASGI middleware: a 400 in the JSON error shape (type ``InvalidHost``, field ``host``)
    for a request whose ``Host`` is not allowed, or that has none (HTTP/1.0 may leave it
    out). ``hosts`` are names, addresses and ``*.domain`` wildcards; the loopback names of
    :data:`LOOPBACK_HOSTS` are always allowed."""

    def __init__(self, app: Any, hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.exact: set[str] = set(LOOPBACK_HOSTS)
        self.suffixes: list[str] = []
        for entry in hosts:
            name = _entry(entry)
            if name is None:
                continue
            if name.startswith("*."):
                self.suffixes.append(name[1:])  # ".example.com": subdomains only
            else:
                self.exact.add(name)

    def allows(self, host: str) -> bool:
        """Whether a ``Host`` header value (port and IPv6 brackets included) is allowed."""
        name = host_name(host)
        if name is None:
            return False
        if name in self.exact:
            return True
        return any(name.endswith(suffix) and len(name) > len(suffix) for suffix in self.suffixes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = [v.decode("latin-1") for k, v in scope.get("headers") or () if k == b"host"]
        if len(sent) == 1 and self.allows(sent[0]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # refused before the handshake: the server says 403
            await send({"type": "websocket.close", "code": 1008})
            return
        request_id = (scope.get("state") or {}).get("request_id")
        response = error_response(400, "InvalidHost", _refusal(sent), "host",
                                  request_id=request_id)  # fmt: skip
        await response(scope, receive, send)


def secure(app: FastAPI, allowed_hosts: Sequence[str] = ()) -> None:
    """Install :class:`AllowedHosts` (the loopback names, ``allowed_hosts`` and
    ``SHOAL_ALLOWED_HOSTS``) and :class:`SecurityHeaders` on ``app``.

    The headers wrap the whole app, outside Starlette's own error middleware, so that a
    500 (which that middleware answers, past every ``add_middleware`` one) carries them
    too. A malformed entry (``*``, ``a*.b``, ``http://x``) is an :class:`InvalidInput`.
    """
    hosts = [*allowed_hosts, *config.allowed_hosts()]
    for entry in hosts:
        _entry(entry)  # refuse a malformed entry now, not on the first request
    app.add_middleware(AllowedHosts, hosts=hosts)
    build = app.build_middleware_stack

    def hardened_stack() -> Any:
        return SecurityHeaders(build())

    app.build_middleware_stack = hardened_stack  # type: ignore[method-assign]


def host_name(host: str) -> str | None:
    """The name in a ``Host`` value, lower-cased, without its port, IPv6 brackets or a
    final dot; None when it is not a host name or address at all."""
    text = host.strip().lower()
    if text.startswith("["):
        inside, bracket, port = text[1:].partition("]")
        if not bracket or (port and not re.fullmatch(r":\d{1,5}", port)):
            return None
        return inside if _IPV6.fullmatch(inside) else None
    if text.count(":") > 1:  # a bare IPv6 address (not valid in Host, but unambiguous)
        return text if _IPV6.fullmatch(text) else None
    name, colon, port = text.partition(":")
    if colon and not re.fullmatch(r"\d{1,5}", port):
        return None
    name = name[:-1] if name.endswith(".") else name
    return name if _HOSTNAME.fullmatch(name) else None


def _entry(entry: str) -> str | None:
    """An allow-list entry, normalised as :func:`host_name` does (``*.`` kept); None for a
    blank one; an :class:`InvalidInput` for one that names no host."""
    text = entry.strip()
    if not text:
        return None
    wildcard = text.startswith("*.")
    name = host_name(text[2:] if wildcard else text)
    if name is None or (wildcard and not _HOSTNAME.fullmatch(name)):
        raise InvalidInput(
            f"allowed host {entry!r} is not a host name, an address or '*.domain': give "
            "names such as shoal.example.com, 10.0.0.5 or *.example.com (each host must "
            "be named: '*' alone would undo the DNS-rebinding guard)",
            field="allowed_hosts",
        )
    return f"*.{name}" if wildcard else name


def _refusal(sent: list[str]) -> str:
    """What a refused request is told: the host refused, and how to allow it."""
    how = f"--allow-host NAME or {config.ALLOWED_HOSTS.env}=NAME (comma-separated)"
    if not sent:
        return (
            "the request has no Host header: send one that names this server "
            f"(127.0.0.1, localhost or an allowed name; allow more with {how})"
        )
    if len(sent) > 1:
        return "the request has several Host headers: send exactly one"
    shown = sent[0][:200]
    name = host_name(shown)
    if name is not None:
        how = f"--allow-host {name} or {config.ALLOWED_HOSTS.env}={name}"
    return (
        f"this server does not answer to host {shown!r} (a guard against DNS rebinding): if "
        f"{shown!r} names this server, allow it with {how}"
    )

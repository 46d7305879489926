"""Signed session cookies for the pages, and the CSRF tokens their forms carry.

A session is a small JSON payload (how the person signed in, who they are, when it ends)
signed with HMAC-SHA256 under the server's session secret: nothing to store server-side,
and a tampered or expired cookie is simply not a session. A token sign-in keeps only the
token's sha256, and every request checks that the token still lives (revoking it ends the
session). The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other
site's page sends it) and ``Secure`` when the server is reached over HTTPS.

CSRF: every form a page renders carries a token derived from the session (or, with no
session, from the server's secret alone), and every state-changing request that does not
carry a bearer token must return it (form field ``csrf_token`` or ``X-CSRF-Token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

COOKIE = "shoal_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Sessions:
    """Issue and read signed session cookies under ``secret``, each for ``seconds``."""

    secret: bytes
    seconds: int = 8 * 3600

    @classmethod
    def with_secret(cls, text: str | None, seconds: int = 8 * 3600) -> Sessions:
        """From the configured secret; none configured: a random one (sessions end when the
        server restarts)."""
        raw = text.encode() if text else secrets.token_bytes(32)
        return cls(hashlib.sha256(b"shoal-session:" + raw).digest(), seconds)

    def _sign(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.secret, data, "sha256").digest()).decode()

    def issue(self, payload: dict[str, Any], expires_at: float | None = None) -> str:
        """A cookie value for ``payload``, valid until ``expires_at`` (at most
        :attr:`seconds` from now)."""
        limit = time.time() + self.seconds
        body = {**payload, "exp": min(limit, expires_at or limit)}
        data = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
        return f"{data.decode()}.{self._sign(data)}"

    def read(self, value: str) -> dict[str, Any] | None:
        """The payload of a genuine, unexpired cookie; None for anything else."""
        data, _, signature = value.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(data.encode())):
            return None
        try:
            payload = json.loads(base64.urlsafe_b64decode(data.encode()))
        except (ValueError, TypeError):
            return None
        if not isinstance(payload, dict) or not payload.get("exp", 0) > time.time():
            return None
        return payload

    def csrf_token(self, cookie: str | None) -> str:
        """The CSRF token of a session (or of no session): forms must send it back."""
        return self._sign(b"csrf:" + (cookie or "").encode())

    def csrf_ok(self, cookie: str | None, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token(cookie), sent or "")

    def cookie_header(self, value: str, *, secure: bool, max_age: int | None = None) -> str:
        """The ``Set-Cookie`` value; an empty ``value`` with ``max_age=0`` signs out."""
        age = self.seconds if max_age is None else max_age
        flags = f"; Max-Age={age}; Path=/; HttpOnly; SameSite=Strict"
        return f"{COOKIE}={value}{flags}{'; Secure' if secure else ''}"

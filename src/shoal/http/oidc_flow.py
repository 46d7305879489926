"""Single sign-on through the issuer: the OpenID Connect authorization code flow, with PKCE.

The sign-in page sends the browser to the issuer (``/signin/oidc``), the person signs in
there, and the issuer sends the browser back to ``/signin/callback`` with a one-time code
that Shoal exchanges, server to server, for an ID token; the ID token is then checked
exactly as a pasted one is (:class:`~shoal.http.oidc.OidcVerifier`), with the client id as
its audience unless ``SHOAL_OIDC_AUDIENCE`` names another. Why each piece:

- ``state`` (random, kept in this browser's cookie and echoed by the issuer): the callback
  only finishes a sign-in this browser started, so no other site can sign a victim in as
  the attacker (login CSRF) by sending it to the callback with the attacker's code.
- ``nonce`` (random, kept the same way, and carried inside the signed ID token): the token
  was minted for this sign-in, not replayed from an earlier one.
- PKCE (``code_verifier``, only its S256 hash goes to the issuer): a code that leaks (a
  log, a referrer, a hostile app on the redirect URI) is useless without the verifier,
  which never leaves this server and this browser's signed cookie. A public client (no
  ``SHOAL_OIDC_CLIENT_SECRET``) has nothing else to prove itself with.
- The cookie ``shoal_oidc`` carries the three for the round trip only: signed (under a key
  derived from the session secret, so it is never a session), ten minutes long, HttpOnly,
  ``Path=/signin``, and ``SameSite=Lax``, because the issuer sends the browser back with a
  cross-site top-level GET, on which a Strict cookie is not sent. The session cookie
  stays Strict; the callback sets it and clears this one.

Discovery (``{issuer}/.well-known/openid-configuration``) is fetched once an hour at most,
over the standard library (10 s timeout, no redirects followed; ``https://``, or
``http://`` to this machine only), and must name the configured issuer. Every failure is
:class:`~shoal.errors.Unauthenticated` saying what to do; no message or log line holds a
code, a token, a verifier or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

import jwt

from shoal import config
from shoal.errors import InvalidInput, Unauthenticated
from shoal.http.oidc import Identity, OidcSettings, OidcVerifier
from shoal.http.sessions import Sessions

log = logging.getLogger(__name__)

STATE_COOKIE = "shoal_oidc"
STATE_SECONDS = 600
"""How long a person has to sign in at the issuer and come back."""
TIMEOUT = 10.0
DISCOVERY_SECONDS = 3600.0
MAX_BODY = 1 << 20
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_AGAIN = "start again from the sign-in page"


@dataclass(frozen=True)
class Provider:
    """What discovery says about the issuer: where people sign in, where codes are swapped."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: it could lead the code, or the secret, to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class OidcFlow:
    """The authorization code flow of one issuer and client; safe to share between threads."""

    def __init__(self, settings: OidcSettings, sessions: Sessions) -> None:
        if not settings.client_id:
            env = config.OIDC_CLIENT_ID.env
            raise InvalidInput(f"signing in through the issuer needs {env}", field=env)
        self.settings = settings
        self.client_id: str = settings.client_id
        key = hashlib.sha256(b"shoal-oidc-flow:" + sessions.secret).digest()
        self._cookies = Sessions(key, STATE_SECONDS)
        self._verifier = OidcVerifier(replace(settings, audience=settings.audience or
                                              settings.client_id))  # fmt: skip
        self._lock = threading.Lock()
        self._provider: tuple[Provider, float] | None = None

    @property
    def scopes(self) -> str:
        """The scopes asked for: the configured ones, ``openid`` always first."""
        return " ".join(dict.fromkeys(["openid", *self.settings.scopes.split()]))

    def provider(self) -> Provider:
        """The issuer's endpoints, from discovery (cached for an hour; failures are not)."""
        with self._lock:
            if self._provider is not None and self._provider[1] > time.monotonic():
                return self._provider[0]
        found = self._discover()
        with self._lock:
            self._provider = (found, time.monotonic() + DISCOVERY_SECONDS)
        return found

    def start(self, next_path: str, redirect_uri: str) -> tuple[str, str]:
        """The issuer's sign-in URL to send the browser to, and the ``shoal_oidc`` cookie
        value that holds this sign-in's state, nonce, PKCE verifier and ``next_path``."""
        endpoint = self.provider().authorization_endpoint
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 asks for 43 to 128
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": redirect_uri, "scope": self.scopes, "state": state,
                           "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})  # fmt: skip
        pending = {"via": "oidc-flow", "state": state, "nonce": nonce, "verifier": verifier,
                   "next": next_path}  # fmt: skip
        cookie = self._cookies.issue(pending, time.time() + STATE_SECONDS)
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", cookie

    def next_path(self, state_cookie: str | None) -> str:
        """The page the pending sign-in of this cookie goes on to ("/" when none)."""
        pending = self._pending(state_cookie)
        found = pending.get("next") if pending else None
        return found if isinstance(found, str) else "/"

    def finish(self, code: str, state: str, state_cookie: str | None,
               redirect_uri: str) -> Identity:  # fmt: skip
        """Who signed in: the state matches this browser's, the code is swapped for an ID
        token, and the token holds (signature, issuer, audience, expiry, this nonce)."""
        pending = self._pending(state_cookie)
        if pending is None:
            raise Unauthenticated("this sign-in was not started in this browser, or took "
                                  f"over {STATE_SECONDS // 60} minutes: {_AGAIN}")  # fmt: skip
        if not state or not _same(state, pending.get("state")):
            raise Unauthenticated("the sign-in's state does not match the one this browser "
                                  f"started (a stale or forged link): {_AGAIN}")  # fmt: skip
        if not code or len(code) > 4096:
            raise Unauthenticated(f"the issuer sent no usable sign-in code back: {_AGAIN}")
        answer = self._exchange(code, str(pending.get("verifier", "")), redirect_uri)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            why = f"check that {config.OIDC_SCOPES.env} includes openid"
            raise Unauthenticated(f"the issuer's token endpoint sent no ID token: {why}")
        try:
            who = self._verifier.verify(id_token)
        except Unauthenticated as error:
            raise Unauthenticated(f"the issuer's ID token was refused: {error}") from None
        claims = jwt.decode(id_token, options={"verify_signature": False})  # verified above
        if not _same(claims.get("nonce"), pending.get("nonce")):
            raise Unauthenticated("the ID token's nonce is not the one this sign-in sent (a "
                                  f"replayed token): {_AGAIN}")  # fmt: skip
        return who

    def cookie_header(self, value: str, *, secure: bool, max_age: int | None = None) -> str:
        """The ``Set-Cookie`` value of the round-trip cookie; ``""`` with ``max_age=0``
        clears it."""
        age = STATE_SECONDS if max_age is None else max_age
        flags = f"; Max-Age={age}; Path=/signin; HttpOnly; SameSite=Lax"
        return f"{STATE_COOKIE}={value}{flags}{'; Secure' if secure else ''}"

    # -- the issuer ---------------------------------------------------------------------------

    def _pending(self, state_cookie: str | None) -> dict[str, Any] | None:
        payload = self._cookies.read(state_cookie) if state_cookie else None
        return payload if payload and payload.get("via") == "oidc-flow" else None

    def _discover(self) -> Provider:
        issuer = self.settings.issuer
        url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
        env = config.OIDC_ISSUER.env
        if not _allowed(url):
            raise Unauthenticated(f"{env} must be an https:// URL (http:// only to localhost) "
                                  "to sign in through the issuer")  # fmt: skip
        status, doc = _call(urllib.request.Request(url, headers={"accept": "application/json"}))
        if status != 200 or doc is None:
            log.warning("single sign-on: discovery at %s answered HTTP %s", url, status)
            raise Unauthenticated(f"the issuer's discovery document could not be read (HTTP "
                                  f"{status}): check {env}, or try again later")  # fmt: skip
        if doc.get("issuer") != issuer:
            raise Unauthenticated(f"the issuer's discovery document names another issuer "
                                  f"than {issuer}: {env} must be exactly its 'issuer'")  # fmt: skip
        endpoints = {name: doc.get(name) for name in ("authorization_endpoint", "token_endpoint")}
        for name, value in endpoints.items():
            if not isinstance(value, str) or not _allowed(value):
                raise Unauthenticated(f"the issuer's discovery document has no usable {name} "
                                      "(an https:// URL)")  # fmt: skip
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise Unauthenticated("the issuer does not support PKCE with S256, which signing "
                                  "in through it needs")  # fmt: skip
        return Provider(issuer, str(endpoints["authorization_endpoint"]),
                        str(endpoints["token_endpoint"]))  # fmt: skip

    def _exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}  # fmt: skip
        headers = {"accept": "application/json",
                   "content-type": "application/x-www-form-urlencoded"}  # fmt: skip
        secret = self.settings.client_secret
        if secret:  # client_secret_basic: both parts form-encoded first (RFC 6749, 2.3.1)
            pair = f"{quote_plus(self.client_id)}:{quote_plus(secret)}".encode()
            headers["authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        else:
            form["client_id"] = self.client_id
        endpoint = self.provider().token_endpoint
        request = urllib.request.Request(endpoint, data=urlencode(form).encode(),
                                         headers=headers, method="POST")  # fmt: skip
        status, answer = _call(request)
        if status == 200 and answer is not None:
            return answer
        error = (answer or {}).get("error")
        kind = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None
        log.warning("single sign-on: the token endpoint %s answered HTTP %s (%s)", endpoint,
                    status, kind or "no error code")  # fmt: skip
        if kind == "invalid_client" or status == 401:
            ids = f"{config.OIDC_CLIENT_ID.env} and {config.OIDC_CLIENT_SECRET.env}"
            raise Unauthenticated(f"the issuer does not know this client: ask an "
                                  f"administrator to check {ids}")  # fmt: skip
        if kind == "invalid_grant":
            raise Unauthenticated("the issuer refused the sign-in code (invalid_grant): it "
                                  f"was used already or has expired: {_AGAIN}")  # fmt: skip
        raise Unauthenticated(f"the issuer's token endpoint refused the sign-in (HTTP "
                              f"{status}{f', {kind}' if kind else ''}): {_AGAIN}")  # fmt: skip


def _call(request: urllib.request.Request) -> tuple[int, dict[str, Any] | None]:
    """The HTTP status and JSON object of an answer (None when it is not one)."""
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as reply:
            status, body = int(reply.status), reply.read(MAX_BODY)
    except urllib.error.HTTPError as error:  # an answer all the same (4xx, 5xx, a redirect)
        status, body = error.code, error.read(MAX_BODY)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        log.warning("single sign-on: cannot reach %s: %s", request.full_url.split("?")[0],
                    reason)  # fmt: skip
        raise Unauthenticated("the identity provider could not be reached: try again later, "
                              f"or ask an administrator to check {config.OIDC_ISSUER.env}"
                              ) from None  # fmt: skip
    try:
        data = json.loads(body)
    except ValueError:
        return status, None
    return status, data if isinstance(data, dict) else None


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in _LOOPBACK
    return bool(parts.netloc) and (parts.scheme == "https" or local)


def _same(sent: Any, kept: Any) -> bool:
    """Constant-time equality of two strings; anything else is never equal."""
    if not isinstance(sent, str) or not isinstance(kept, str) or not kept:
        return False
    return hmac.compare_digest(sent.encode(), kept.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


__all__ = ["STATE_COOKIE", "OidcFlow", "Provider"]

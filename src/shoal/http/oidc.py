"""Single sign-on: verify OIDC bearer tokens (JWTs) from one configured issuer.

Tokens are checked locally against the issuer's keys (its JWKS), with no introspection call:
a signature check per request, not a round trip, and no outage while the identity provider
blinks. Only asymmetric algorithms count (RS*, PS*, ES*, EdDSA; never HS*, never ``none``), so
the issuer's public keys can never mint a token (an HS256 token keyed with the public key text
is refused). Providers name tenants and roles differently, so which claims Shoal reads are
settings (dotted paths reach into nested objects: ``realm_access.roles``). Every refusal is
:class:`~shoal.errors.Unauthenticated` naming the failed check, never any part of the token.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt import exceptions as je

from shoal import config
from shoal.errors import InvalidInput, Unauthenticated

if TYPE_CHECKING:
    from jwt.types import Options

log = logging.getLogger(__name__)

ASYMMETRIC = frozenset({f"{f}{n}" for f in ("RS", "PS", "ES") for n in (256, 384, 512)} | {"EdDSA"})
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
ROLES = ("viewer", "editor", "admin", "operator")
"""Shoal's roles, lowest first: a token naming several gets the highest."""
PREDICT = "predict"
"""May only call the prediction server: granted when it is the only known role named."""
TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_FAMILIES = {"RSA": ("RS", "PS"), "EC": ("ES",), "OKP": ("EdDSA",)}
_ROLE_NAMES = ", ".join((*ROLES, PREDICT))


@dataclass(frozen=True)
class OidcSettings:
    """Which issuer to trust, where its keys are, and which claims name tenant, role, name."""

    issuer: str
    jwks: str
    audience: str | None = None
    tenant_claim: str = "shoal_tenant"
    role_claim: str = "shoal_role"
    name_claim: str = "sub"
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway: float = 30.0
    """Seconds of clock skew allowed on exp, nbf and iat."""
    client_id: str | None = None
    """Shoal's client at the issuer: set, people may sign in there (:mod:`.oidc_flow`)."""
    client_secret: str | None = field(default=None, repr=False)
    scopes: str = "openid profile email"

    def __post_init__(self) -> None:
        if not self.algorithms or not ASYMMETRIC.issuperset(self.algorithms):
            allowed = ", ".join(sorted(ASYMMETRIC))
            raise InvalidInput(f"OIDC algorithms must be some of {allowed}", field="algorithms")
        _is_url(self.jwks)

    @classmethod
    def from_config(cls) -> OidcSettings | None:
        """The settings in the environment, or None when no issuer is set (SSO off)."""
        issuer, jwks = config.OIDC_ISSUER.get(), config.OIDC_JWKS.get()
        if not issuer:
            return None
        if not jwks:
            why = "must name the issuer's keys: a JWKS URL (https://...) or JWKS JSON file"
            raise InvalidInput(f"{config.OIDC_JWKS.env} {why}", field=config.OIDC_JWKS.env)
        names = (config.OIDC_TENANT_CLAIM, config.OIDC_ROLE_CLAIM, config.OIDC_NAME_CLAIM)
        tenant, role, name = (setting.get() or str(setting.default) for setting in names)
        return cls(issuer, jwks, config.OIDC_AUDIENCE.get(), tenant, role, name,
                   client_id=config.OIDC_CLIENT_ID.get(),
                   client_secret=config.OIDC_CLIENT_SECRET.get(),
                   scopes=config.OIDC_SCOPES.get() or str(config.OIDC_SCOPES.default))  # fmt: skip


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for; ``tenant`` is None for an operator (spans tenants)."""

    subject: str
    name: str
    tenant: str | None
    role: str
    expires_at: float


class _KeysUnreadable(Exception):
    """The JWKS could not be fetched or parsed; the message says why (never the token)."""


class _Keys:
    """The issuer's JWKS. A URL goes through PyJWKClient: cached 5 minutes, fetched again (at
    most every 30 s) for an unknown kid. A file is read once, and again for an unknown kid,
    so a key added to it (a rotation) works without a restart."""

    def __init__(self, jwks: str) -> None:
        self._jwks = jwks
        self._lock = threading.Lock()
        self._by_kid: dict[str, PyJWK] = {}  # from the file
        self._client = PyJWKClient(jwks, lifespan=300, timeout=10) if _is_url(jwks) else None

    def get(self, kid: str) -> PyJWK | None:
        try:
            if self._client is None:
                return self._from_file(kid)
            try:
                return self._client.get_signing_key(kid)
            except je.PyJWKClientError as error:
                if isinstance(error, je.PyJWKClientConnectionError):
                    raise
            self._client.get_signing_keys()  # raises if the set itself is bad, not just the kid
            return None
        except Exception as error:  # unreachable, unreadable or malformed: refuse, log why
            raise _KeysUnreadable(f"{self._jwks}: {error}") from None

    def _from_file(self, kid: str) -> PyJWK | None:
        with self._lock:
            if kid not in self._by_kid:
                data = json.loads(Path(self._jwks).read_text(encoding="utf-8"))
                keys = PyJWKSet.from_dict(data if isinstance(data, dict) else {})
                self._by_kid = {k.key_id: k for k in keys if k.key_id and k.public_key_use != "enc"}
            return self._by_kid.get(kid)


class OidcVerifier:
    """Verifies bearer tokens of one issuer; safe to share between threads."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._keys = _Keys(settings.jwks)
        self._warned = False

    def verify(self, token: str) -> Identity:
        """The identity a valid token carries; :class:`Unauthenticated` saying why if not."""
        s = self.settings
        claims = self._claims(token)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated("the token's 'sub' claim must be a non-empty string")
        role = _role(_claim(claims, s.role_claim), s.role_claim)
        tenant = None
        if role != "operator":
            value = _claim(claims, s.tenant_claim)
            if value is None:
                why = "only an operator may act without a tenant"
                raise Unauthenticated(f"missing tenant claim '{s.tenant_claim}': {why}")
            if not isinstance(value, str) or not TENANT.fullmatch(value):
                why = f"is not a tenant name (must match {TENANT.pattern})"
                raise Unauthenticated(f"the token's tenant claim '{s.tenant_claim}' {why}")
            tenant = value
        name = _claim(claims, s.name_claim)
        name = name if isinstance(name, str) and name else subject
        return Identity(subject, name, tenant, role, float(claims["exp"]))

    def _claims(self, token: str) -> dict[str, Any]:
        s = self.settings
        if not isinstance(token, str) or not 0 < len(token) <= 16384:
            raise Unauthenticated("the bearer token is empty, or too long to be a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except je.PyJWTError:
            raise Unauthenticated("the bearer token is not a well-formed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in s.algorithms:
            algorithms = ", ".join(s.algorithms)
            raise Unauthenticated(f"the token's algorithm is not accepted: only {algorithms}")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no signing key: it has no 'kid' header")
        key = self._key(kid)
        allowed = [a for a in s.algorithms if a.startswith(_FAMILIES.get(key.key_type or "", ()))]
        if alg not in allowed:
            raise Unauthenticated("the token's signing algorithm does not fit its key's type")
        require = ["exp", "iss", "sub", *(["aud"] if s.audience else [])]
        options: Options = {"require": require, "verify_aud": s.audience is not None}
        try:
            return jwt.decode(token, key.key, allowed, options, issuer=s.issuer,
                              audience=s.audience, leeway=s.leeway)  # fmt: skip
        except je.PyJWTError as error:
            raise Unauthenticated(self._reason(error)) from None

    def _key(self, kid: str) -> PyJWK:
        try:
            key = self._keys.get(kid)
        except _KeysUnreadable as error:
            if not self._warned:
                self._warned = True
                log.warning("single sign-on: cannot read the issuer's signing keys: %s", error)
            why = f"try again later, or ask an administrator to check {config.OIDC_JWKS.env}"
            raise Unauthenticated(f"the issuer's keys could not be read: {why}") from None
        self._warned = False
        if key is None:
            why = "the token's 'kid' is not among the issuer's keys (retired, or another issuer)"
            raise Unauthenticated(f"unknown key id: {why}")
        return key

    def _reason(self, error: je.PyJWTError) -> str:
        s = self.settings  # the messages name settings, never anything from the token
        if isinstance(error, je.MissingRequiredClaimError):
            return f"the token has no '{error.claim}' claim, which Shoal requires"
        reasons: list[tuple[type[je.PyJWTError], str]] = [
            (je.ExpiredSignatureError, "the token has expired: sign in again for a fresh one"),
            (je.ImmatureSignatureError, "the token is not valid yet (nbf or iat in the future)"),
            (je.InvalidIssuerError, f"wrong issuer: the token's 'iss' is not {s.issuer}"),
            (je.InvalidAudienceError, f"wrong audience: the 'aud' does not contain {s.audience}"),
            (je.InvalidSignatureError, "bad signature: the token does not match its kid's key"),
            (je.DecodeError, "the token could not be decoded: a malformed JWT or claim"),
        ]
        found = (text for kind, text in reasons if isinstance(error, kind))
        return next(found, f"the token was refused ({type(error).__name__})")


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, else by dotted path into nested objects; None when absent."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _role(value: Any, claim: str) -> str:
    if value is None:
        raise Unauthenticated(f"missing role claim '{claim}': it must name one of {_ROLE_NAMES}")
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    known = {n for n in names if isinstance(n, str) and n in (*ROLES, PREDICT)}
    ranked = [r for r in ROLES if r in known] or list(known)  # none ranked: [] or [predict]
    if ranked:
        return ranked[-1]
    raise Unauthenticated(f"the token's role claim '{claim}' names no Shoal role ({_ROLE_NAMES})")


def _is_url(jwks: str) -> bool:
    """True for a JWKS URL, False for a file path; plain http only to this machine."""
    parts = urlsplit(jwks)
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        message = "must be an https:// URL (http:// only to localhost) or a JWKS JSON file"
        raise InvalidInput(f"{config.OIDC_JWKS.env} {message}", field=config.OIDC_JWKS.env)
    return parts.scheme in ("http", "https")


__all__ = ["Identity", "OidcSettings", "OidcVerifier"]

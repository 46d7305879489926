"""Single sign-on tokens: real keys, a real JWKS file and a real JWKS server on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shoal.errors import InvalidInput, Unauthenticated
from shoal.http.oidc import Identity, OidcSettings, OidcVerifier

ISSUER = "https://sso.example.com/realms/shoal"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str) -> dict[str, Any]:
    public = key.public_key()
    algorithm = RSAAlgorithm if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm
    return {**algorithm.to_jwk(public, as_dict=True), "kid": kid, "use": "sig"}


def write_jwks(path: Path, *keys: dict[str, Any]) -> None:
    path.write_text(json.dumps({"keys": list(keys)}))


def token(key: Any = RSA_KEY, kid: str | None = "rsa-1", alg: str = "RS256", **claims: Any) -> str:
    """A signed token with sensible claims; a claim given as None is left out."""
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "sub": "u-42",
        "iat": now,
        "exp": now + 300,
        "shoal_tenant": "acme",
        "shoal_role": "editor",
        **claims,
    }
    headers = {"kid": kid} if kid is not None else None
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(alg: str, secret: bytes | None) -> str:
    """A token jwt.encode refuses to make: alg none, or HS256 keyed with a public key."""
    now = int(time.time())
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "rsa-1"}).encode())
    claims = {
        "iss": ISSUER,
        "sub": "mallory",
        "exp": now + 300,
        "shoal_tenant": "acme",
        "shoal_role": "operator",
    }
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    write_jwks(path, jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1"))
    return path


@pytest.fixture
def verifier(jwks_file: Path) -> OidcVerifier:
    return OidcVerifier(OidcSettings(issuer=ISSUER, jwks=str(jwks_file)))


class JwksServer:
    def __init__(self) -> None:
        self.body = json.dumps({"keys": [jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")]}).encode()
        self.fetches = 0


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, JwksServer]]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refused(verifier: OidcVerifier, bad: str, match: str) -> str:
    """Assert the token is refused with a message matching ``match``; return the message."""
    with pytest.raises(Unauthenticated, match=match) as caught:
        verifier.verify(bad)
    message = str(caught.value)
    assert_no_leak(bad, message)
    return message


def assert_no_leak(bad: str, text: str) -> None:
    for part in [bad, *bad.split(".")]:
        assert not part or part not in text
    windows = {bad[i : i + 12] for i in range(max(len(bad) - 11, 0))}
    assert not any(window in text for window in windows), text


def test_good_tokens_from_a_file(verifier: OidcVerifier) -> None:
    identity = verifier.verify(token())
    assert identity == Identity("u-42", "u-42", "acme", "editor", identity.expires_at)
    assert identity.expires_at > time.time()
    assert verifier.verify(token(EC_KEY, "ec-1", "ES256")).tenant == "acme"
    # an RSA key without "alg" in its JWK verifies any accepted RSA algorithm
    assert verifier.verify(token(alg="PS256")).role == "editor"


def test_good_token_from_a_url_fetches_the_keys_once(
    jwks_server: tuple[str, JwksServer],
) -> None:
    url, state = jwks_server
    verifier = OidcVerifier(OidcSettings(issuer=ISSUER, jwks=url))
    assert verifier.verify(token()).subject == "u-42"
    assert verifier.verify(token(EC_KEY, "ec-1", "ES256")).role == "editor"
    assert state.fetches == 1
    refused(verifier, token(kid="nobody"), "unknown key id")


def test_name_claim_and_its_fallback_to_sub(verifier: OidcVerifier) -> None:
    named = OidcVerifier(replace(verifier.settings, name_claim="email"))
    assert named.verify(token(email="ada@example.com")).name == "ada@example.com"
    assert named.verify(token()).name == "u-42"
    assert verifier.verify(token(email="ada@example.com")).name == "u-42"


def test_dotted_claim_paths(verifier: OidcVerifier) -> None:
    nested = OidcVerifier(
        replace(verifier.settings, role_claim="realm_access.roles", tenant_claim="org.tenant")
    )
    bad = token(realm_access={"roles": ["offline_access", "admin"]}, org={"tenant": "beta"})
    identity = nested.verify(bad)
    assert (identity.role, identity.tenant) == ("admin", "beta")
    # a claim whose own name has dots (Auth0-style namespaced claims) is found as it is
    namespaced = OidcVerifier(replace(verifier.settings, role_claim="https://shoal.dev/role"))
    assert namespaced.verify(token(**{"https://shoal.dev/role": "viewer"})).role == "viewer"
    refused(nested, token(realm_access={"roles": []}, org={"tenant": "beta"}), "no Shoal role")


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["viewer", "admin", "superuser"], "admin"),
        (["editor", "viewer"], "editor"),
        (["predict"], "predict"),
        (["predict", "offline_access"], "predict"),
        (["predict", "viewer"], "viewer"),
        ("admin", "admin"),
    ],
)
def test_role_claim_string_or_list_takes_the_highest(
    verifier: OidcVerifier, roles: Any, expected: str
) -> None:
    assert verifier.verify(token(shoal_role=roles)).role == expected


def test_expired_and_not_yet_valid(verifier: OidcVerifier) -> None:
    now = int(time.time())
    refused(verifier, token(exp=now - 120, iat=now - 600), "expired")
    assert verifier.verify(token(exp=now - 5)).role == "editor"  # within the 30 s leeway
    refused(verifier, token(nbf=now + 120), "not valid yet")
    refused(verifier, token(iat=now + 120), "not valid yet")
    refused(verifier, token(exp=None), "no 'exp' claim")


def test_wrong_issuer(verifier: OidcVerifier) -> None:
    message = refused(verifier, token(iss="https://evil.example.com"), "wrong issuer")
    assert ISSUER in message
    refused(verifier, token(iss=None), "no 'iss' claim")


def test_audience_when_configured(verifier: OidcVerifier) -> None:
    assert verifier.verify(token(aud="anything")).role == "editor"  # not configured: not checked
    strict = OidcVerifier(replace(verifier.settings, audience="shoal"))
    assert strict.verify(token(aud=["account", "shoal"])).role == "editor"
    assert strict.verify(token(aud="shoal")).role == "editor"
    refused(strict, token(), "no 'aud' claim")
    refused(strict, token(aud="grafana"), "wrong audience")


def test_same_kid_other_key_is_a_bad_signature(verifier: OidcVerifier) -> None:
    refused(verifier, token(OTHER_RSA_KEY, "rsa-1"), "bad signature")
    good = token()
    head, _, signature = good.split(".")
    tampered = f"{head}.{b64(json.dumps({'sub': 'root'}).encode())}.{signature}"
    refused(verifier, tampered, "bad signature")


def test_unknown_or_missing_kid_and_mismatched_key_type(verifier: OidcVerifier) -> None:
    refused(verifier, token(kid="rsa-2"), "unknown key id")
    refused(verifier, token(kid=None), "no 'kid'")
    refused(verifier, token(EC_KEY, "rsa-1", "ES256"), "does not fit its key's type")


def test_a_rotated_key_works_without_a_restart(jwks_file: Path, verifier: OidcVerifier) -> None:
    assert verifier.verify(token()).role == "editor"
    rotated = token(ROTATED_KEY, "rsa-2")
    refused(verifier, rotated, "unknown key id")
    write_jwks(jwks_file, jwk(RSA_KEY, "rsa-1"), jwk(ROTATED_KEY, "rsa-2"))
    assert verifier.verify(rotated).role == "editor"
    assert verifier.verify(token()).role == "editor"


def test_alg_none_and_hs256_with_the_public_key_are_refused(verifier: OidcVerifier) -> None:
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    refused(verifier, forged("none", None), "algorithm is not accepted")
    refused(verifier, forged("HS256", public_pem), "algorithm is not accepted")
    with pytest.raises(InvalidInput, match="algorithms"):
        OidcSettings(issuer=ISSUER, jwks="keys.json", algorithms=("RS256", "HS256"))
    with pytest.raises(InvalidInput, match="algorithms"):
        OidcSettings(issuer=ISSUER, jwks="keys.json", algorithms=("none",))


def test_tenant_claim(verifier: OidcVerifier) -> None:
    refused(verifier, token(shoal_tenant=None), "missing tenant claim 'shoal_tenant'")
    for bad in ["Acme", "acme corp", "-acme", "acme\n", "a" * 101, ["acme"], ""]:
        refused(verifier, token(shoal_tenant=bad), "not a tenant name")
    assert verifier.verify(token(shoal_tenant="a" * 100)).tenant == "a" * 100


def test_unknown_or_missing_role(verifier: OidcVerifier) -> None:
    refused(verifier, token(shoal_role="superuser"), "names no Shoal role")
    refused(verifier, token(shoal_role=["Admin", 3]), "names no Shoal role")
    refused(verifier, token(shoal_role=None), "missing role claim 'shoal_role'")


def test_an_operator_spans_tenants(verifier: OidcVerifier) -> None:
    identity = verifier.verify(token(shoal_role=["viewer", "operator"], shoal_tenant=None))
    assert (identity.role, identity.tenant) == ("operator", None)


def test_garbage_is_refused(verifier: OidcVerifier) -> None:
    refused(verifier, "not-a-jwt", "not a well-formed JWT")
    refused(verifier, "", "empty")
    refused(verifier, "a" * 20000, "too long")
    refused(verifier, token(sub=None), "no 'sub' claim")


def test_unreadable_keys_are_refused_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = OidcVerifier(OidcSettings(issuer=ISSUER, jwks=str(tmp_path / "absent.json")))
    bad = token()
    with caplog.at_level(logging.WARNING, logger="shoal.http.oidc"):
        for _ in range(3):
            refused(missing, bad, "keys could not be read")
    assert len(caplog.records) == 1
    assert "absent.json" in caplog.text
    assert_no_leak(bad, caplog.text)
    (tmp_path / "broken.json").write_text("{not json")
    broken = OidcVerifier(OidcSettings(issuer=ISSUER, jwks=str(tmp_path / "broken.json")))
    refused(broken, bad, "keys could not be read")


def test_an_unreachable_jwks_url_is_refused(jwks_server: tuple[str, JwksServer]) -> None:
    url, state = jwks_server
    state.body = b"<html>not json</html>"
    refused(OidcVerifier(OidcSettings(issuer=ISSUER, jwks=url)), token(), "could not be read")
    closed = OidcVerifier(OidcSettings(issuer=ISSUER, jwks="http://127.0.0.1:9/jwks.json"))
    refused(closed, token(), "could not be read")


def test_from_config(monkeypatch: pytest.MonkeyPatch, jwks_file: Path) -> None:
    for name in ["ISSUER", "JWKS", "AUDIENCE", "TENANT_CLAIM", "ROLE_CLAIM", "NAME_CLAIM"]:
        monkeypatch.delenv(f"SHOAL_OIDC_{name}", raising=False)
    assert OidcSettings.from_config() is None
    monkeypatch.setenv("SHOAL_OIDC_ISSUER", ISSUER)
    with pytest.raises(InvalidInput, match="SHOAL_OIDC_JWKS") as caught:
        OidcSettings.from_config()
    assert caught.value.field == "SHOAL_OIDC_JWKS"
    monkeypatch.setenv("SHOAL_OIDC_JWKS", str(jwks_file))
    settings = OidcSettings.from_config()
    assert settings == OidcSettings(issuer=ISSUER, jwks=str(jwks_file))
    assert (settings.tenant_claim, settings.role_claim, settings.name_claim) == (
        "shoal_tenant",
        "shoal_role",
        "sub",
    )
    monkeypatch.setenv("SHOAL_OIDC_AUDIENCE", "shoal")
    monkeypatch.setenv("SHOAL_OIDC_TENANT_CLAIM", "org.tenant")
    monkeypatch.setenv("SHOAL_OIDC_ROLE_CLAIM", "realm_access.roles")
    monkeypatch.setenv("SHOAL_OIDC_NAME_CLAIM", "email")
    settings = OidcSettings.from_config()
    assert settings is not None
    assert (settings.audience, settings.tenant_claim, settings.role_claim, settings.name_claim) == (
        "shoal",
        "org.tenant",
        "realm_access.roles",
        "email",
    )
    identity = OidcVerifier(settings).verify(
        token(
            aud="shoal",
            email="ada@example.com",
            org={"tenant": "beta"},
            realm_access={"roles": ["editor"]},
        )
    )
    assert (identity.name, identity.tenant, identity.role) == ("ada@example.com", "beta", "editor")
    monkeypatch.setenv("SHOAL_OIDC_JWKS", "http://keys.example.com/jwks.json")
    with pytest.raises(InvalidInput, match="https://"):
        OidcSettings.from_config()

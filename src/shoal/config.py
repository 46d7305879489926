"""Every setting Shoal reads, in one place: name, environment variable, default, why.

Local defaults come first: with no environment at all, Shoal keeps its metadata in
SQLite and its artifacts in a folder under ``./.shoal`` (or ``$SHOAL_HOME``).
Settings are read when asked for, not at import, so tests can change the environment.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from shoal.errors import InvalidInput


@dataclass(frozen=True)
class Setting:
    """One documented setting: its environment variable, default and meaning."""

    env: str
    default: str | None
    doc: str

    def get(self) -> str | None:
        value = os.environ.get(self.env)
        return value if value not in (None, "") else self.default


HOME = Setting("SHOAL_HOME", ".shoal", "Folder for the embedded store and artifacts.")
STORE_URL = Setting(
    "SHOAL_STORE_URL",
    None,
    "Metadata store URL: sqlite:///path.db or postgresql://user@host/db. "
    "Default: SQLite at $SHOAL_HOME/shoal.db.",
)
ARTIFACTS_URL = Setting(
    "SHOAL_ARTIFACTS_URL",
    None,
    "Artifact store URL: a folder, file://, s3://bucket/prefix or any fsspec URL. "
    "Default: $SHOAL_HOME/artifacts.",
)
LOGS_URL = Setting(
    "SHOAL_LOGS_URL",
    None,
    "Where shoal serve writes prediction and feedback logs (Parquet): a folder or fsspec "
    "URL. Default: $SHOAL_HOME/logs.",
)
USER = Setting("SHOAL_USER", None, "Name recorded as the actor in the audit log.")
AUTO_MIGRATE = Setting(
    "SHOAL_AUTO_MIGRATE",
    "1",
    "1: bring the store's schema up to date on first use; 0: refuse and ask for "
    "'shoal db upgrade'.",
)
PACK_THRESHOLD = Setting(
    "SHOAL_PACK_THRESHOLD",
    str(1 << 20),
    "Artifacts smaller than this many bytes are packed together; larger ones are single objects.",
)
SQLITE_BUSY_TIMEOUT_MS = Setting(
    "SHOAL_SQLITE_BUSY_TIMEOUT_MS",
    "60000",
    "How long a SQLite writer waits for another writer before failing.",
)
START_METHOD = Setting(
    "SHOAL_START_METHOD",
    None,
    "How executor='local' starts its worker processes: forkserver, spawn or fork. "
    "Default: forkserver where the platform has it, else spawn.",
)
RUN_LEASE_SECONDS = Setting(
    "SHOAL_RUN_LEASE_SECONDS",
    "60",
    "How long a training or monitoring run stays held by its process without a renewal "
    "(renewed every third of it): a second resume is refused while the lease holds, and a "
    "run whose process died shows as interrupted once it expires.",
)
WEBHOOK_ALLOW = Setting(
    "SHOAL_WEBHOOK_ALLOW",
    None,
    "Comma-separated hosts, addresses or networks (10.0.0.0/8) alert webhooks may reach "
    "although they are loopback, private or link-local. Default: none; metadata addresses "
    "such as 169.254.169.254 are refused unless named here exactly.",
)
GC_GRACE_SECONDS = Setting(
    "SHOAL_GC_GRACE_SECONDS",
    str(24 * 3600),
    "shoal gc never removes an artifact file younger than this many seconds: a registration "
    "writes its packs before its metadata, so a young unreferenced pack may be one it is "
    "about to use. Keep it longer than any registration takes.",
)
ALLOWED_HOSTS = Setting(
    "SHOAL_ALLOWED_HOSTS",
    None,
    "Comma-separated host names (or addresses) shoal ui and shoal serve answer to besides "
    "127.0.0.1, localhost and ::1; *.example.com allows every subdomain of example.com. "
    "A request naming any other Host gets a 400: a guard against DNS rebinding.",
)
CHROMIUM = Setting(
    "SHOAL_CHROMIUM",
    None,
    "The Chromium (or Chrome) binary that prints reports and model cards to PDF. "
    "Default: the first of chromium, chromium-browser, google-chrome on PATH.",
)
OIDC_ISSUER = Setting(
    "SHOAL_OIDC_ISSUER",
    None,
    "Single sign-on: the OIDC issuer URL bearer tokens (JWTs) must name in 'iss'. "
    "Default: none, single sign-on is off.",
)
OIDC_JWKS = Setting(
    "SHOAL_OIDC_JWKS",
    None,
    "The issuer's signing keys: a JWKS URL (https://...) or the path of a JWKS JSON file. "
    "Required when SHOAL_OIDC_ISSUER is set.",
)
OIDC_AUDIENCE = Setting(
    "SHOAL_OIDC_AUDIENCE",
    None,
    "When set, a token's 'aud' claim must contain it. Default: the audience is not checked.",
)
OIDC_TENANT_CLAIM = Setting(
    "SHOAL_OIDC_TENANT_CLAIM",
    "shoal_tenant",
    "The token claim (a dotted path into nested objects) naming the caller's tenant.",
)
OIDC_ROLE_CLAIM = Setting(
    "SHOAL_OIDC_ROLE_CLAIM",
    "shoal_role",
    "The token claim (dotted path, e.g. realm_access.roles) holding the caller's Shoal role: "
    "a string or a list; the highest of viewer, editor, admin, operator counts.",
)
OIDC_NAME_CLAIM = Setting(
    "SHOAL_OIDC_NAME_CLAIM",
    "sub",
    "The token claim the audit log names a single sign-on caller by (e.g. email); "
    "falls back to sub.",
)
OIDC_CLIENT_ID = Setting(
    "SHOAL_OIDC_CLIENT_ID",
    None,
    "Single sign-on through the issuer: the client id Shoal is registered under there; the "
    "sign-in page then offers 'Sign in with single sign-on' (the authorization code flow "
    "with PKCE, back to /signin/callback). Default: none, only pasted tokens sign in.",
)
OIDC_CLIENT_SECRET = Setting(
    "SHOAL_OIDC_CLIENT_SECRET",
    None,
    "The client's secret, sent to the issuer's token endpoint (client_secret_basic). "
    "Default: none, a public client that proves itself with PKCE alone.",
)
OIDC_SCOPES = Setting(
    "SHOAL_OIDC_SCOPES",
    "openid profile email",
    "The scopes the sign-in through the issuer asks for, space-separated (openid is "
    "always among them).",
)
SESSION_SECRET = Setting(
    "SHOAL_SESSION_SECRET",
    None,
    "The secret that signs UI session cookies and CSRF tokens. Set the same value on every "
    "replica behind one address. Default: a random one per process (signing in again after "
    "a restart).",
)
SESSION_SECONDS = Setting(
    "SHOAL_SESSION_SECONDS", str(8 * 3600), "How long a UI sign-in lasts (at most)."
)
RATE_PREDICT = Setting(
    "SHOAL_RATE_PREDICT",
    "off",
    "Predict and feedback requests each principal may make: N/s, N/m or N/h with an "
    "optional burst ('200/s,400'), or 'off'. Over it: 429 with Retry-After.",
)
RATE_WRITES = Setting(
    "SHOAL_RATE_WRITES",
    "20/s,60",
    "Writes (POST, PATCH, DELETE) each principal may make on shoal ui and shoal serve, "
    "as SHOAL_RATE_PREDICT; with auth on only.",
)

SETTINGS: tuple[Setting, ...] = (
    HOME,
    STORE_URL,
    ARTIFACTS_URL,
    LOGS_URL,
    USER,
    AUTO_MIGRATE,
    PACK_THRESHOLD,
    GC_GRACE_SECONDS,
    SQLITE_BUSY_TIMEOUT_MS,
    START_METHOD,
    RUN_LEASE_SECONDS,
    WEBHOOK_ALLOW,
    ALLOWED_HOSTS,
    CHROMIUM,
    OIDC_ISSUER,
    OIDC_JWKS,
    OIDC_AUDIENCE,
    OIDC_TENANT_CLAIM,
    OIDC_ROLE_CLAIM,
    OIDC_NAME_CLAIM,
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    OIDC_SCOPES,
    SESSION_SECRET,
    SESSION_SECONDS,
    RATE_PREDICT,
    RATE_WRITES,
)


def webhook_allow() -> list[str]:
    """Hosts and networks an alert webhook may reach although they are internal."""
    return [part.strip() for part in (WEBHOOK_ALLOW.get() or "").split(",") if part.strip()]


def allowed_hosts() -> list[str]:
    """Hosts the HTTP servers answer to besides the loopback names (see ALLOWED_HOSTS)."""
    return [part.strip() for part in (ALLOWED_HOSTS.get() or "").split(",") if part.strip()]


def chromium() -> str | None:
    """The browser binary that prints PDFs, if any is named or on PATH."""
    import shutil

    named = CHROMIUM.get()
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def home() -> Path:
    """The folder of the embedded default store."""
    return Path(HOME.get() or ".shoal")


def store_url() -> str:
    """The metadata store URL in force."""
    return STORE_URL.get() or f"sqlite:///{home() / 'shoal.db'}"


def artifacts_url() -> str:
    """The artifact store URL in force."""
    return ARTIFACTS_URL.get() or str(home() / "artifacts")


def logs_url() -> str:
    """Where prediction and feedback logs go."""
    return LOGS_URL.get() or str(home() / "logs")


def actor() -> str:
    """Who the audit log records as making a change."""
    explicit = USER.get()
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def session_seconds() -> int:
    text = SESSION_SECONDS.get() or str(8 * 3600)
    if not text.isdigit() or int(text) < 60:
        raise InvalidInput(f"SHOAL_SESSION_SECONDS {text!r} must be a whole number of "
                           "seconds, 60 or more", field="SHOAL_SESSION_SECONDS")  # fmt: skip
    return int(text)


def auto_migrate() -> bool:
    return (AUTO_MIGRATE.get() or "1") not in ("0", "false", "no")


def pack_threshold() -> int:
    return int(PACK_THRESHOLD.get() or 1 << 20)


def sqlite_busy_timeout_ms() -> int:
    return int(SQLITE_BUSY_TIMEOUT_MS.get() or 60000)


def run_lease_seconds() -> float:
    """Seconds a run's lease lasts between renewals (over 0)."""
    text = RUN_LEASE_SECONDS.get() or "60"
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidInput(
            f"{RUN_LEASE_SECONDS.env} must be a number of seconds > 0, got {text!r}",
            field=RUN_LEASE_SECONDS.env,
        )
    return seconds


def gc_grace_seconds() -> float:
    """Seconds an unreferenced artifact file must age before gc removes it (>= 0)."""
    text = GC_GRACE_SECONDS.get() or str(24 * 3600)
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise InvalidInput(
            f"{GC_GRACE_SECONDS.env} must be a number of seconds >= 0, got {text!r}",
            field=GC_GRACE_SECONDS.env,
        )
    return seconds


def start_method() -> str:
    """How worker processes start: the setting, else forkserver where available, else spawn."""
    import multiprocessing

    chosen = START_METHOD.get()
    if chosen:
        return chosen
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"

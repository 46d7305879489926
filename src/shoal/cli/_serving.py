"""The options ``shoal ui`` and ``shoal serve`` share: who may ask, and how they reach it.

Auth is on unless ``--no-auth``, which only a loopback address may use (and which says so
on every start): a server anyone on the network can reach must know who is asking.
Behind a reverse proxy that ends TLS, ``--forwarded-allow-ips`` names the proxy, whose
``X-Forwarded-For`` and ``X-Forwarded-Proto`` are then believed (uvicorn's proxy headers);
without one, ``--ssl-certfile`` and ``--ssl-keyfile`` serve HTTPS directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from shoal import config
from shoal.cli import _output
from shoal.errors import InvalidInput
from shoal.http.auth import Auth

LOOPBACK = {"127.0.0.1", "::1", "localhost"}

NoAuthOption = Annotated[
    bool,
    typer.Option("--no-auth", help="Every request acts as you, the operator: loopback only."),
]
AllowHostOption = Annotated[
    list[str] | None,
    typer.Option("--allow-host", metavar="NAME",
                 help="A Host name to answer besides loopback ones (repeat; *.example.com). "
                 f"Also {config.ALLOWED_HOSTS.env}."),
]  # fmt: skip
ForwardedOption = Annotated[
    str | None,
    typer.Option("--forwarded-allow-ips", metavar="IPS",
                 help="Proxies whose X-Forwarded-For/-Proto to believe (comma separated)."),
]  # fmt: skip
CertOption = Annotated[
    str | None, typer.Option("--ssl-certfile", metavar="PATH", help="Serve HTTPS: certificate.")
]
KeyOption = Annotated[
    str | None, typer.Option("--ssl-keyfile", metavar="PATH", help="Serve HTTPS: private key.")
]


@dataclass(frozen=True)
class Serving:
    """What a server command resolved its options to."""

    auth: Auth
    allowed_hosts: tuple[str, ...]
    uvicorn: dict[str, Any]
    scheme: str


def serving(
    host: str, command: str, *, no_auth: bool, allow_hosts: list[str] | None,
    forwarded: str | None, certfile: str | None, keyfile: str | None,
) -> Serving:  # fmt: skip
    """Check the options together and say what is in force."""
    if no_auth and host not in LOOPBACK:
        raise InvalidInput(
            f"--no-auth serves everyone as the operator, so {command} allows it on a loopback "
            f"address only, not --host {host!r}: drop --no-auth and give people tokens "
            "('shoal token create')", field="no-auth",
        )  # fmt: skip
    if (certfile is None) != (keyfile is None):
        raise InvalidInput("give --ssl-certfile and --ssl-keyfile together", field="ssl-keyfile")
    options: dict[str, Any] = {}
    if certfile is not None:
        options.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    if forwarded:
        options.update(proxy_headers=True, forwarded_allow_ips=forwarded)
    else:
        options.update(proxy_headers=False)
    hosts = tuple(allow_hosts or ())
    if host not in LOOPBACK and host not in ("0.0.0.0", "::"):
        hosts += (host,)
    if no_auth:
        _output.note(f"warning: {command} runs with --no-auth: every request acts as "
                     f"{config.actor()}, the operator of every tenant (loopback only)",
                     style="bold yellow")  # fmt: skip
        auth = Auth.off()
    else:
        auth = Auth.from_config()
        _output.note("auth on: send 'Authorization: Bearer TOKEN' ('shoal token create') or "
                     "sign in at /signin")  # fmt: skip
    return Serving(auth, hosts, options, "https" if certfile else "http")

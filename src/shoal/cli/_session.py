"""The state one ``shoal`` invocation shares between the root options and its command.

The root callback stores ``--store`` and ``--artifacts``; the client is made when a
command first asks for it (so ``shoal --help`` never touches a database) and closed when
the invocation ends, so SQLite connections never outlive the command.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import typer

from shoal.sdk.client import Client, connect
from shoal.sdk.fleet import Fleet


@dataclass
class Session:
    """The store and artifact URLs given on the command line (``None``: from settings)."""

    store_url: str | None = None
    artifacts_url: str | None = None
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect(self.store_url, self.artifacts_url)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def command(self, *args: str) -> str:
        """A ``shoal`` command line that reaches the same stores as this one, to copy and run.

        Only the options given explicitly are repeated: the rest come from the same
        environment the user is already in.
        """
        words = ["shoal"]
        if self.store_url:
            words += ["--store", self.store_url]
        if self.artifacts_url:
            words += ["--artifacts", self.artifacts_url]
        return shlex.join([*words, *args])


def session(ctx: typer.Context) -> Session:
    """The invocation's session, created by the root callback."""
    found = ctx.find_object(Session)
    if found is None:  # a command invoked on its own, outside the ``shoal`` group
        found = ctx.ensure_object(Session)
        ctx.call_on_close(found.close)
    return found


def client(ctx: typer.Context) -> Client:
    return session(ctx).client


def fleet(ctx: typer.Context, path: str) -> Fleet:
    """An existing fleet by ``tenant/fleet``; NotFound says how to list them."""
    return client(ctx).fleet(path)

"""Model cards: the fields people write on a model, its card status, and the bulk read of
everything else a card shows (see :mod:`shoal.store.cards`).

The written fields are checked here, once, for the SDK, the CLI, REST and the page: an
owner of at most 200 characters, an intended use and limitations of at most 4,000 each,
NFC-normalised, with no control characters but newline and tab.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from shoal.errors import InvalidInput
from shoal.registry._guards import check_id, check_limit
from shoal.registry._part import Part, actor_of
from shoal.store import audit, card_reads, reads
from shoal.store import cards as store_cards
from shoal.store.query import Where
from shoal.store.tenancy import FleetRef

__all__ = ["CARD_STATUSES", "MAX_CHARS", "WRITTEN", "Cards", "check_written"]

CARD_STATUSES = store_cards.STATUSES
WRITTEN = store_cards.WRITTEN
MAX_CHARS = {"owner": 200, "intended_use": 4000, "limitations": 4000}
"""The longest text of each written field, in characters."""
_ALLOWED_CONTROLS = {"\n", "\t"}


def check_written(name: str, value: Any) -> str:
    """A written field as stored: text, NFC, within its length, no control characters
    but newline and tab (``\\r\\n`` read as ``\\n``); InvalidInput names the field and fix."""
    if name not in MAX_CHARS:
        raise InvalidInput(f"a card's written fields are {list(WRITTEN)}, not {name!r}", field=name)
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, got {type(value).__name__}", field=name)
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).strip()
    most = MAX_CHARS[name]
    if len(text) > most:
        raise InvalidInput(
            f"{name} is {len(text):,} characters, over the {most:,} a card holds: shorten it "
            "(link to a longer document instead)",
            field=name,
        )
    if name == "owner" and ("\n" in text or "\t" in text):
        raise InvalidInput(
            f"owner is one line (a person or a team): remove the line breaks from {text[:40]!r}",
            field=name,
        )
    bad = next((c for c in text if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS),
               None)  # fmt: skip
    if bad is not None:
        raise InvalidInput(
            f"{name} holds the control character U+{ord(bad):04X}: remove it (only newlines "
            "and tabs are kept)",
            field=name,
        )
    return text


class Cards(Part):
    """Model cards of a fleet: read many at once, written one at a time."""

    def read(self, fleet: FleetRef, model_ids: Sequence[int]) -> dict[str, Any]:
        """Everything the cards of ``model_ids`` show, in one transaction: ``{"fleet":
        what the fleet's cards share, "models": one dict per model found}``."""
        for mid in model_ids:
            check_id(mid, "model_id")
        with self._store.read() as conn:
            return card_reads.read(conn, fleet, model_ids)

    def read_key(self, fleet: FleetRef, key: Any) -> dict[str, Any]:
        """One model's card data by key (NotFound when the fleet has no such model)."""
        with self._store.read() as conn:
            mid = reads.model_id(conn, fleet, reads.normalize_key(fleet, key))
            return card_reads.read(conn, fleet, [mid])

    def model_ids(
        self, fleet: FleetRef, where: Where = None, *, after: int = 0, limit: int = 500
    ) -> list[int]:
        """A keyset page of the ids of the models ``where`` selects, above ``after``."""
        with self._store.read() as conn:
            return card_reads.model_page(conn, fleet, where, after=after, limit=check_limit(limit))

    def update(
        self,
        fleet: FleetRef,
        key: Any,
        *,
        owner: str | None = None,
        intended_use: str | None = None,
        limitations: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Set the written fields given (None leaves one as it is); returns the card row.

        An approval covers the text that was approved: changing a field of an approved
        card puts it back to draft, and clears who approved it.
        """
        given = {"owner": owner, "intended_use": intended_use, "limitations": limitations}
        changes = {n: check_written(n, v) for n, v in given.items() if v is not None}
        who = actor_of(actor)
        with self._store.write() as conn:
            normal = reads.normalize_key(fleet, key)
            mid = reads.model_id(conn, fleet, normal)
            card, changed = store_cards.write_fields(conn, fleet, mid, changes, actor=who)
            if changed:
                audit.record(
                    conn, fleet.tenant_id, who, "card.update", fleet.path,
                    {"model_id": mid, "key": list(normal), "fields": changed,
                     "status": card["status"]},
                )  # fmt: skip
        return card

    def set_status(
        self, fleet: FleetRef, key: Any, status: str, *, actor: str | None = None
    ) -> dict[str, Any]:
        """Move a card to ``draft``, ``approved`` (who and when recorded) or ``archived``."""
        who = actor_of(actor)
        with self._store.write() as conn:
            normal = reads.normalize_key(fleet, key)
            mid = reads.model_id(conn, fleet, normal)
            shown = ", ".join(f"{d}={v}" for d, v in zip(fleet.keys, normal, strict=True))
            card, before = store_cards.transition(
                conn, fleet, mid, status, actor=who, key=f"{fleet.path} {shown}".strip()
            )
            audit.record(
                conn, fleet.tenant_id, who, f"card.{_VERB[status]}", fleet.path,
                {"model_id": mid, "key": list(normal), "from": before, "to": status},
            )  # fmt: skip
        return card


_VERB = {"approved": "approve", "archived": "archive", "draft": "draft"}

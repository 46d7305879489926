"""Model cards: the fields people write on a model, and its card's status.

A model with no ``model_cards`` row has an empty draft card. Writes take the fleet lock
(a row lock on PostgreSQL; SQLite's write lock already serialises them), so two people
approving or editing one card queue rather than race. Everything else a card shows is
read in bulk by :mod:`shoal.store.card_reads`. Every query is constrained to the fleet
and tenant a scoped lookup produced.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.errors import Conflict, InvalidInput
from shoal.store.engine import lock_fleet
from shoal.store.schema import model_cards
from shoal.store.tenancy import FleetRef

STATUSES = ("draft", "approved", "archived")
WRITTEN = ("owner", "intended_use", "limitations")
"""The fields of a card people write; the rest is read from what Shoal tracks."""

CARD_COLUMNS = (
    "owner", "intended_use", "limitations", "status", "approved_by", "approved_at",
    "updated_by", "updated_at",
)  # fmt: skip


def empty_card() -> dict[str, Any]:
    """The card of a model nobody has written on: an empty draft."""
    return {"owner": "", "intended_use": "", "limitations": "", "status": "draft",
            "approved_by": None, "approved_at": None, "updated_by": None,
            "updated_at": None}  # fmt: skip


def card_row(conn: Connection, fleet: FleetRef, model_id: int) -> dict[str, Any] | None:
    """One model's written fields and status, or None when nobody has written any."""
    row = conn.execute(
        sa.select(*[model_cards.c[c] for c in CARD_COLUMNS]).where(
            model_cards.c.model_id == model_id, model_cards.c.fleet_id == fleet.id,
            model_cards.c.tenant_id == fleet.tenant_id,
        )
    ).first()  # fmt: skip
    return None if row is None else dict(row._mapping)


# -- writes ---------------------------------------------------------------------------------


def write_fields(
    conn: Connection, fleet: FleetRef, model_id: int, changes: dict[str, str], *, actor: str
) -> tuple[dict[str, Any], list[str]]:
    """Set written fields of one card; returns the card and the names that changed.

    An approval covers the text that was approved: changing any field of an approved
    card puts it back to draft and clears who approved it (a card that was archived stays
    archived, its old approval cleared too). Setting a field to its current value changes
    nothing and is not a change.
    """
    unknown = sorted(set(changes) - set(WRITTEN))
    if unknown:
        raise InvalidInput(f"a card's written fields are {list(WRITTEN)}, not {unknown}",
                           field=unknown[0])  # fmt: skip
    lock_fleet(conn, fleet.id)
    current = card_row(conn, fleet, model_id)
    now = time.time()
    if current is None:
        card = {**empty_card(), **changes, "updated_by": actor, "updated_at": now}
        changed = [name for name in WRITTEN if card[name] != ""]
        if changed:
            _insert(conn, fleet, model_id, card)
        return (card if changed else empty_card()), changed
    changed = [name for name in WRITTEN if name in changes and changes[name] != current[name]]
    if not changed:
        return current, []
    values: dict[str, Any] = {name: changes[name] for name in changed}
    values.update(updated_by=actor, updated_at=now, approved_by=None, approved_at=None)
    if current["status"] == "approved":
        values["status"] = "draft"
    _update(conn, fleet, model_id, values)
    return {**current, **values}, changed


def transition(
    conn: Connection, fleet: FleetRef, model_id: int, status: str, *, actor: str, key: str
) -> tuple[dict[str, Any], str]:
    """Move a card to ``status``; returns the card and the status it had.

    ``approved`` needs a draft with an owner and an intended use, and records who approved
    it and when; ``archived`` retires a draft or approved card; ``draft`` reopens one,
    withdrawing an approval. A card already in ``status`` is a Conflict, so a second
    person approving what someone just approved hears who did.
    """
    if status not in STATUSES:
        raise InvalidInput(f"a card's status is one of {list(STATUSES)}, not {status!r}",
                           field="status")  # fmt: skip
    lock_fleet(conn, fleet.id)
    current = card_row(conn, fleet, model_id)
    card = current or empty_card()
    before = card["status"]
    if before == status:
        who = f" by {card['approved_by']}" if status == "approved" else ""
        raise Conflict(f"the card of {key} is already {status}{who}", field="status")
    if status == "approved":
        _check_approvable(card, key)
    now = time.time()
    values: dict[str, Any] = {"status": status, "updated_by": actor, "updated_at": now}
    if status == "approved":
        values.update(approved_by=actor, approved_at=now)
    elif status == "draft":
        values.update(approved_by=None, approved_at=None)
    if current is None:
        card = {**card, **values}
        _insert(conn, fleet, model_id, card)
        return card, before
    _update(conn, fleet, model_id, values)
    return {**card, **values}, before


def _check_approvable(card: dict[str, Any], key: str) -> None:
    if card["status"] == "archived":
        raise Conflict(
            f"the card of {key} is archived: set it back to draft (`shoal card draft`), "
            "review it, then approve it",
            field="status",
        )
    for name in ("owner", "intended_use"):
        if not card[name].strip():
            label = name.replace("_", " ")
            raise InvalidInput(
                f"the card of {key} has no {label}: set it first (--{name.replace('_', '-')}"
                f" on the command line, {name} in the SDK and REST), then approve",
                field=name,
            )


def _insert(conn: Connection, fleet: FleetRef, model_id: int, card: dict[str, Any]) -> None:
    conn.execute(
        model_cards.insert().values(
            model_id=model_id, tenant_id=fleet.tenant_id, fleet_id=fleet.id,
            **{c: card[c] for c in CARD_COLUMNS},
        )
    )  # fmt: skip


def _update(conn: Connection, fleet: FleetRef, model_id: int, values: dict[str, Any]) -> None:
    conn.execute(
        model_cards.update()
        .where(model_cards.c.model_id == model_id, model_cards.c.fleet_id == fleet.id,
               model_cards.c.tenant_id == fleet.tenant_id)
        .values(**values)
    )  # fmt: skip

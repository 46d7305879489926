"""Model cards of one fleet: ``fleet.cards``.

A card is filled from what Shoal tracks (see :mod:`shoal.report.cards`); people write an
owner, an intended use and limitations, and approve it. ``write`` puts the cards of a
whole filter in a folder or a zip, reading 500 models at a time in bulk.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoal.errors import InvalidInput
from shoal.registry import Registry, Where
from shoal.report.cards import ModelCard, cards_from

if TYPE_CHECKING:
    from shoal.sdk.fleet import Fleet

Progress = Callable[[int, int], None]
"""``progress(done, total)`` as cards are written."""
FORMATS = ("md", "html")
CHUNK = 500
"""Models read in bulk at a time."""


@dataclass(frozen=True)
class CardsWritten:
    """What :meth:`FleetCards.write` wrote: where, how many cards, and their sizes."""

    path: str
    format: str
    cards: int
    bytes: int
    largest: int
    archive: bool

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "cards": self.cards,
                "bytes": self.bytes, "largest": self.largest, "zip": self.archive}  # fmt: skip


class FleetCards:
    """The model cards of a fleet: read, edit, approve, write many at once."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    @property
    def _registry(self) -> Registry:
        return self._fleet._client.registry

    def get(self, key: Any) -> ModelCard:
        """One model's card (NotFound when the fleet has no model ``key``)."""
        return cards_from(self._registry.cards.read_key(self._fleet.ref, key))[0]

    def update(
        self,
        key: Any,
        *,
        owner: str | None = None,
        intended_use: str | None = None,
        limitations: str | None = None,
    ) -> ModelCard:
        """Write the fields given (None leaves a field as it is) and return the card.

        An approval covers the text that was approved: changing a field of an approved
        card puts it back to draft. Owner: at most 200 characters on one line; intended
        use and limitations: at most 4,000 characters each.
        """
        self._registry.cards.update(
            self._fleet.ref, key, owner=owner, intended_use=intended_use, limitations=limitations
        )
        return self.get(key)

    def approve(self, key: Any) -> ModelCard:
        """Approve a draft card (it needs an owner and an intended use); records who, when."""
        return self._status(key, "approved")

    def archive(self, key: Any) -> ModelCard:
        """Retire a card (a model no longer in use, say)."""
        return self._status(key, "archived")

    def draft(self, key: Any) -> ModelCard:
        """Reopen an approved or archived card as a draft, withdrawing its approval."""
        return self._status(key, "draft")

    def _status(self, key: Any, status: str) -> ModelCard:
        self._registry.cards.set_status(self._fleet.ref, key, status)
        return self.get(key)

    def iter(self, where: Where = None) -> Iterator[ModelCard]:
        """The cards of every model ``where`` selects (as search reads it), in model id
        order, read :data:`CHUNK` models at a time in bulk."""
        after = 0
        while True:
            ids = self._registry.cards.model_ids(self._fleet.ref, where, after=after, limit=CHUNK)
            if not ids:
                return
            yield from cards_from(self._registry.cards.read(self._fleet.ref, ids))
            if len(ids) < CHUNK:
                return
            after = ids[-1]

    def write(
        self,
        out: str | os.PathLike[str],
        *,
        where: Where = None,
        format: str = "md",
        progress: Progress | None = None,
    ) -> CardsWritten:
        """Write the card of every model ``where`` selects: one file per model, named by
        its key (``store=s01,sku=A7.md``), in the folder ``out``, or in a zip when ``out``
        ends with ``.zip``. Each file (or the zip) is written under a temporary name and
        renamed, so a reader never sees half a card."""
        if format not in FORMATS:
            raise InvalidInput(f"format must be one of {list(FORMATS)}, got {format!r}",
                               field="format")  # fmt: skip
        target = Path(out)
        tree = self._fleet.parse(where) if isinstance(where, str) else where
        total = self._fleet.count(tree)
        archive = target.suffix.lower() == ".zip"
        sink = _ZipSink(target) if archive else _FolderSink(target)
        names: set[str] = set()
        written = size = largest = 0
        with sink:
            for card in self.iter(tree):
                text = (card.to_markdown() if format == "md" else card.to_html()).encode()
                sink.put(card_file_name(card.key, format, names), text)
                written, size, largest = written + 1, size + len(text), max(largest, len(text))
                if progress is not None:
                    progress(written, max(total, written))
        return CardsWritten(str(target), format, written, size, largest, archive)


_SAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


def card_file_name(key: dict[str, str], ext: str, taken: set[str]) -> str:
    """A file name from a model's key, safe on every file system: ``store=s01,sku=A7.md``.

    Characters outside ``A-Z a-z 0-9 . _ = , + -`` become ``_``; a name that had to
    change, is long, or would collide (case-insensitively) with one already in ``taken``
    gets a short digest of the key, so two models never share a file.
    """
    text = ",".join(f"{d}={v}" for d, v in key.items()) or "model"
    name = _SAFE.sub("_", text).lstrip(".")[:120] or "model"
    if name != text or name.lower() in taken:
        digest = hashlib.sha256(repr(sorted(key.items())).encode()).hexdigest()[:10]
        name = f"{name}-{digest}"
    taken.add(name.lower())
    return f"{name}.{ext}"


class _FolderSink:
    """Cards into a folder: each file written as ``.NAME.tmp`` then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> _FolderSink:
        if self.folder.exists() and not self.folder.is_dir():
            raise InvalidInput(
                f"{self.folder} is a file: name a folder, or a path ending in .zip",
                field="out",
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def put(self, name: str, data: bytes) -> None:
        temp = self.folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        temp.write_bytes(data)
        os.replace(temp, self.folder / name)

    def __exit__(self, *exc: object) -> None:
        return None


class _ZipSink:
    """Cards into one zip, written under a temporary name and renamed when complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        self.zip: zipfile.ZipFile | None = None

    def __enter__(self) -> _ZipSink:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.zip = zipfile.ZipFile(self.temp, "w", compression=zipfile.ZIP_DEFLATED)
        return self

    def put(self, name: str, data: bytes) -> None:
        assert self.zip is not None
        self.zip.writestr(name, data)

    def __exit__(self, kind: object, *exc: object) -> None:
        assert self.zip is not None
        self.zip.close()
        if kind is None:
            os.replace(self.temp, self.path)
        else:
            self.temp.unlink(missing_ok=True)

"""What an artifact store holds, and whether its bytes still match: the file side of
``shoal gc`` and ``shoal verify``.

The metadata decides what is garbage (the registry knows which blobs versions use); this
module only lists what is stored, with sizes and ages, removes what it is told to, and
re-reads blobs to check them against their sha256: each pack in a few ranged reads
(nearby blobs share one), large objects streamed in slices, never whole in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shoal.artifacts._backend import ObjectInfo
from shoal.artifacts._store import (
    _HEX64,
    ArtifactStore,
    BlobRef,
    _check_ref,
    _object_key,
    _spans,
)
from shoal.errors import NotFound

_SLICE = 64 << 20
"""Bytes of a large object read and hashed at a time."""


@dataclass(frozen=True, slots=True)
class StoredPack:
    """A pack as stored: its id, its files (``.pack`` and ``.idx``, whichever exist), their
    bytes together, and the newest of their modification times (None: unknown)."""

    id: str
    keys: tuple[str, ...]
    size: int
    modified: float | None


@dataclass
class Inventory:
    """Everything an artifact store holds, by kind."""

    packs: dict[str, StoredPack] = field(default_factory=dict)
    objects: dict[str, ObjectInfo] = field(default_factory=dict)
    """Single objects by sha256."""
    temporary: list[ObjectInfo] = field(default_factory=list)
    """Partial writes left by a killed process (local folders)."""
    other: list[ObjectInfo] = field(default_factory=list)
    """Files that follow none of the store's names: never touched."""

    @property
    def files(self) -> int:
        packed = sum(len(p.keys) for p in self.packs.values())
        return packed + len(self.objects) + len(self.temporary) + len(self.other)


def inventory(store: ArtifactStore) -> Inventory:
    """List the packs, single objects and leftovers of ``store``: one listing per folder."""
    found = Inventory()
    by_pack: dict[str, list[ObjectInfo]] = {}
    for info in store.backend.list_info("packs"):
        name = info.key[len("packs/") :]
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix in ("pack", "idx") and _HEX64.fullmatch(stem):
            by_pack.setdefault(stem, []).append(info)
        else:
            found.other.append(info)
    for pack_id, infos in sorted(by_pack.items()):
        times = [i.modified for i in infos]
        newest = None if any(t is None for t in times) else max(t for t in times if t is not None)
        found.packs[pack_id] = StoredPack(
            pack_id, tuple(i.key for i in infos), sum(i.size for i in infos), newest
        )
    for info in store.backend.list_info("objects"):
        parts = info.key.split("/")
        sha = "".join(parts[1:])
        if len(parts) == 3 and len(parts[1]) == 2 and _HEX64.fullmatch(sha):
            found.objects[sha] = info
        else:
            found.other.append(info)
    found.temporary = store.backend.list_temporary()
    return found


def delete_objects(store: ArtifactStore, shas: Iterable[str]) -> None:
    """Delete single objects by sha256 (missing ones are ignored)."""
    store.backend.delete_many([_object_key(sha) for sha in shas])


@dataclass(frozen=True, slots=True)
class Problem:
    """One blob that failed its check: ``missing`` (its object is gone) or ``corrupt``
    (its bytes no longer hash to its sha256, or are cut short)."""

    ref: BlobRef
    kind: str
    key: str


def check_group(store: ArtifactStore, refs: Sequence[BlobRef]) -> list[Problem]:
    """Re-read and hash the blobs of one object (a pack, or one single object)."""
    problems: list[Problem] = []
    backend = store.backend
    if not refs:
        return problems
    key = _check_ref(refs[0])
    if refs[0].pack is None:
        for ref in refs:
            kind = _check_single(store, ref, _check_ref(ref))
            if kind:
                problems.append(Problem(ref, kind, _check_ref(ref)))
        return problems
    for span in _spans([r for r in refs if r.size]):
        start, end = span[0].offset, max(r.offset + r.size for r in span)
        try:
            data = backend.get(key, start, end)
        except NotFound:
            return [Problem(ref, "missing", key) for ref in refs]
        for ref in span:
            piece = data[ref.offset - start : ref.offset - start + ref.size]
            if len(piece) != ref.size or hashlib.sha256(piece).hexdigest() != ref.sha256:
                problems.append(Problem(ref, "corrupt", key))
    for ref in refs:
        if not ref.size and hashlib.sha256(b"").hexdigest() != ref.sha256:
            problems.append(Problem(ref, "corrupt", key))
    return problems


def _check_single(store: ArtifactStore, ref: BlobRef, key: str) -> str | None:
    """Hash one large object a slice at a time; the problem's kind, or None when it checks."""
    digest = hashlib.sha256()
    read = 0
    try:
        while read < ref.size:
            piece = store.backend.get(key, read, min(read + _SLICE, ref.size))
            if not piece:
                break
            digest.update(piece)
            read += len(piece)
        if ref.size == 0:
            store.backend.size(key)  # an empty blob's object must still exist
        elif store.backend.size(key) != ref.size:
            return "corrupt"
    except NotFound:
        return "missing"
    return None if read == ref.size and digest.hexdigest() == ref.sha256 else "corrupt"

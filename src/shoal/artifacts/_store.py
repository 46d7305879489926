"""Content addressing, packing and verification: the one layer above every backend.

Layout under the backend's root::

    objects/ab/cdef…            a blob of at least ``pack_threshold`` bytes, named by its sha256
    packs/<packid>.pack         small blobs appended after a 24-byte header (magic + nonce)
    packs/<packid>.idx          sorted (digest, offset, length) entries + a sha256 trailer

A million tiny models must not mean a million files, so each ``put_many`` call appends
its small blobs into one new pack (rolling over at ``pack_max_bytes``), written whole and
then its index, so an index never names a pack that is not there. The pack id is the
sha256 of the pack file, so packs are content addressed and can be checked whole; the
random nonce in the header makes every pack unique, so rolling back one registration with
:meth:`ArtifactStore.delete_packs` can never delete a pack another registration wrote.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import Any

import numpy as np

from shoal import config
from shoal.artifacts._backend import Backend, FsspecBackend
from shoal.errors import IntegrityError, InvalidInput, NotFound

PACK_MAGIC = b"SHOALPK1"
INDEX_MAGIC = b"SHOALIX1"
_NONCE_BYTES = 16
PACK_HEADER_BYTES = len(PACK_MAGIC) + _NONCE_BYTES
_INDEX_HEAD = struct.Struct(">8sQ")
_ENTRY = struct.Struct(">32sQQ")
DEFAULT_PACK_MAX_BYTES = 256 << 20
_COALESCE_GAP = 64 << 10
_MAX_SPAN = 64 << 20
_INDEX_READERS = 8
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobRef:
    """Where one blob lives: its sha256, size, and pack id and offset (``None``/0 when single).

    The registry stores these four fields per version, so a load is one ranged read.
    """

    sha256: str
    size: int
    pack: str | None = None
    offset: int = 0

    @property
    def key(self) -> str:
        """The backend key of the object holding this blob."""
        if self.pack is None:
            return _object_key(self.sha256)
        return _pack_key(check_sha256(self.pack, "pack"))


def check_sha256(value: str, field: str = "sha256") -> str:
    """Return ``value`` if it is 64 lowercase hex digits, else raise InvalidInput."""
    if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
        raise InvalidInput(
            f"{field} must be 64 lowercase hex digits (a sha256), got {value!r}", field=field
        )
    return value


def _object_key(sha256: str) -> str:
    check_sha256(sha256)
    return f"objects/{sha256[:2]}/{sha256[2:]}"


def _pack_key(pack_id: str) -> str:
    return f"packs/{pack_id}.pack"


def _index_key(pack_id: str) -> str:
    return f"packs/{pack_id}.idx"


class _PackIndex:
    """One pack's index held as its raw sorted entries: 48 bytes a blob, binary searched."""

    __slots__ = ("count", "entries")

    def __init__(self, entries: bytes) -> None:
        self.entries = entries
        self.count = len(entries) // _ENTRY.size

    @classmethod
    def decode(cls, data: bytes, where: str) -> _PackIndex:
        """Parse an index file, refusing one whose trailer or shape does not check out."""
        head = _INDEX_HEAD.size
        if len(data) >= head + 32:
            magic, count = _INDEX_HEAD.unpack_from(data)
            body = data[:-32]
            if (
                magic == INDEX_MAGIC
                and len(data) == head + count * _ENTRY.size + 32
                and hashlib.sha256(body).digest() == data[-32:]
            ):
                return cls(body[head:])
        raise IntegrityError(
            f"pack index {where} is damaged: its checksum or shape is wrong; its blobs "
            "cannot be located by hash until it is restored from a copy"
        )

    def find(self, digest: bytes) -> tuple[int, int] | None:
        """(offset, length) of ``digest`` in the pack, or None."""
        entries, size = self.entries, _ENTRY.size
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            probe = entries[mid * size : mid * size + 32]
            if probe < digest:
                lo = mid + 1
            elif probe > digest:
                hi = mid
            else:
                _, offset, length = _ENTRY.unpack_from(entries, mid * size)
                return offset, length
        return None


class ArtifactStore:
    """Content-addressed blobs over any :class:`Backend`: write in bulk, read verified.

    Blobs smaller than ``pack_threshold`` bytes (default: ``SHOAL_PACK_THRESHOLD``) are
    packed; larger ones become single objects. Every read checks the sha256 and raises
    :class:`~shoal.errors.IntegrityError` rather than return bytes that do not match.

    Example::

        store = ArtifactStore(MemoryBackend())
        [ref] = store.put_many([b"model bytes"])
        store.get(ref)          # b"model bytes", verified
        store.locate(ref.sha256) == ref
    """

    def __init__(
        self,
        backend: Backend,
        pack_threshold: int | None = None,
        *,
        pack_max_bytes: int = DEFAULT_PACK_MAX_BYTES,
    ) -> None:
        threshold = config.pack_threshold() if pack_threshold is None else pack_threshold
        if not isinstance(threshold, int) or threshold < 0:
            raise InvalidInput(
                f"pack_threshold must be a whole number of bytes >= 0, got {threshold!r}",
                field="pack_threshold",
            )
        if not isinstance(pack_max_bytes, int) or pack_max_bytes < 1:
            raise InvalidInput(
                f"pack_max_bytes must be a positive number of bytes, got {pack_max_bytes!r}",
                field="pack_max_bytes",
            )
        self.backend = backend
        self.pack_threshold = threshold
        self.pack_max_bytes = pack_max_bytes
        self._indexes: dict[str, _PackIndex] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ArtifactStore({self.backend!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for worker processes (batch scoring on Ray): the backend and settings
        travel; the lock and the cached pack indexes are rebuilt there."""
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_indexes"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- writing -----------------------------------------------------------------------

    def put_many(
        self, blobs: Sequence[bytes], known: Mapping[str, BlobRef] | None = None
    ) -> list[BlobRef]:
        """Store blobs and return their refs in input order.

        Identical blobs are stored once; a blob whose sha256 is in ``known`` (refs the
        caller already holds, e.g. the registry's own table) is not written again, and a
        single object already present is not uploaded again. On failure the packs this
        call wrote are removed again, so no index ever points at missing bytes.
        """
        if not isinstance(blobs, Sequence):
            blobs = list(blobs)
        digests = _hash_all(blobs)
        hexes = [digest.hex() for digest in digests]
        first = dict(zip(reversed(hexes), range(len(hexes) - 1, -1, -1), strict=True))
        refs: dict[str, BlobRef] = {}
        if known:
            refs.update((sha, _checked_known(known[sha], sha)) for sha in first if sha in known)
        todo = sorted(i for sha, i in first.items() if sha not in refs)
        small = [i for i in todo if len(blobs[i]) < self.pack_threshold]
        large = [i for i in todo if len(blobs[i]) >= self.pack_threshold]
        packs = [
            self._pack(group, blobs, digests, hexes, refs) for group in self._groups(small, blobs)
        ]
        singles = self._new_singles(large, blobs, hexes, refs)
        self._write(packs, singles)
        return [refs[sha] for sha in hexes]

    def _groups(self, order: list[int], blobs: Sequence[bytes]) -> Iterator[list[int]]:
        """Split the small blobs into runs that each fit in one pack of pack_max_bytes."""
        start, total = 0, PACK_HEADER_BYTES
        for j, i in enumerate(order):
            if j > start and total + len(blobs[i]) > self.pack_max_bytes:
                yield order[start:j]
                start, total = j, PACK_HEADER_BYTES
            total += len(blobs[i])
        if order:
            yield order[start:]

    @staticmethod
    def _pack(
        group: list[int],
        blobs: Sequence[bytes],
        digests: list[bytes],
        hexes: list[str],
        refs: dict[str, BlobRef],
    ) -> tuple[str, bytes, bytes]:
        """One pack of the blobs in ``group``; fills in their refs; returns (id, pack, index)."""
        sizes = [len(blobs[i]) for i in group]
        offsets = list(accumulate(sizes, initial=PACK_HEADER_BYTES))[:-1]
        header = PACK_MAGIC + os.urandom(_NONCE_BYTES)
        data = b"".join([header, *(blobs[i] for i in group)])
        pack_id = hashlib.sha256(data).hexdigest()
        shas = [hexes[i] for i in group]
        refs.update(zip(shas, map(BlobRef, shas, sizes, repeat(pack_id), offsets), strict=True))
        return pack_id, data, _encode_index([digests[i] for i in group], offsets, sizes)

    def _new_singles(
        self,
        order: list[int],
        blobs: Sequence[bytes],
        hexes: list[str],
        refs: dict[str, BlobRef],
    ) -> list[tuple[str, bytes]]:
        """Refs for the large blobs, and the (key, bytes) of those not stored yet."""
        items = []
        for i in order:
            refs[hexes[i]] = BlobRef(hexes[i], len(blobs[i]), None, 0)
            items.append((_object_key(hexes[i]), blobs[i]))
        present = self.backend.exists_many(key for key, _ in items) if items else set()
        return [(key, data) for key, data in items if key not in present]

    def _write(
        self, packs: list[tuple[str, bytes, bytes]], singles: list[tuple[str, bytes]]
    ) -> None:
        """Packs and single objects first, indexes last: an index implies its pack."""
        if not packs and not singles:
            return
        try:
            self.backend.put_many([(_pack_key(pid), data) for pid, data, _ in packs] + singles)
            self.backend.put_many([(_index_key(pid), index) for pid, _, index in packs])
        except BaseException:
            with suppress(Exception):
                self.delete_packs([pid for pid, _, _ in packs])
            raise
        with self._lock:
            for pid, _, index in packs:
                self._indexes[pid] = _PackIndex(index[_INDEX_HEAD.size : -32])

    # -- reading -----------------------------------------------------------------------

    def get(self, ref: BlobRef) -> bytes:
        """The blob's bytes, read with one ranged read and verified against its sha256."""
        key = _check_ref(ref)
        if ref.size == 0:  # nothing to read; the hash check below still applies
            return _verified(ref, b"", key, self.backend)
        if ref.pack is None:
            return _verified(ref, self.backend.get(key), key, self.backend)
        data = self.backend.get(key, ref.offset, ref.offset + ref.size)
        return _verified(ref, data, key, self.backend)

    def get_many(self, refs: Iterable[BlobRef]) -> list[bytes]:
        """Verified bytes of many blobs, in order; nearby blobs of one pack share one read."""
        refs = list(refs)
        by_key: dict[str, list[BlobRef]] = {}
        for ref in dict.fromkeys(refs):
            key = _check_ref(ref)
            by_key.setdefault(key if ref.size else "", []).append(ref)
        found: dict[BlobRef, bytes] = {}
        for key, group in by_key.items():
            if group[0].pack is None or group[0].size == 0:
                found.update((ref, self.get(ref)) for ref in group)
                continue
            for span in _spans(group):
                start, end = span[0].offset, max(r.offset + r.size for r in span)
                data = self.backend.get(key, start, end)
                for ref in span:
                    piece = data[ref.offset - start : ref.offset - start + ref.size]
                    found[ref] = _verified(ref, piece, key, self.backend)
        return [found[ref] for ref in refs]

    def locate(self, sha256: str) -> BlobRef:
        """Find a blob by hash alone, for callers that lost its location.

        Looks in the pack indexes already loaded, then for a single object, then loads
        the indexes of packs not seen yet (cached for next time).
        """
        digest = bytes.fromhex(check_sha256(sha256))
        with self._lock:
            loaded = list(self._indexes.items())
        ref = _search(loaded, digest, sha256)
        if ref is not None:
            return ref
        key = _object_key(sha256)
        if self.backend.exists_many([key]):
            return BlobRef(sha256, self.backend.size(key), None, 0)
        fresh, damaged = self._load_new_indexes()
        ref = _search(fresh, digest, sha256)
        if ref is not None:
            return ref
        if damaged:  # it may be in a pack whose index cannot be trusted: say so, loudly
            raise damaged[0]
        raise NotFound(f"no artifact with sha256 {sha256} in {self.backend!r}")

    def _load_new_indexes(self) -> tuple[list[tuple[str, _PackIndex]], list[IntegrityError]]:
        """Read the indexes of packs not cached yet, a few at a time; cache the good ones."""
        with self._lock:
            seen = set(self._indexes)
        ids = [
            pack_id
            for key in self.backend.list("packs")
            if key.endswith(".idx")
            and _HEX64.fullmatch(pack_id := key[len("packs/") : -len(".idx")])
            and pack_id not in seen
        ]
        if not ids:
            return [], []
        with ThreadPoolExecutor(max_workers=min(len(ids), _INDEX_READERS)) as pool:
            loaded = list(pool.map(self._read_index, ids))
        fresh = [
            (pid, index)
            for pid, index in zip(ids, loaded, strict=True)
            if isinstance(index, _PackIndex)
        ]
        damaged = [index for index in loaded if isinstance(index, IntegrityError)]
        with self._lock:
            self._indexes.update(fresh)
        return fresh, damaged

    def _read_index(self, pack_id: str) -> _PackIndex | IntegrityError | None:
        key = _index_key(pack_id)
        try:
            return _PackIndex.decode(self.backend.get(key), key)
        except NotFound:  # deleted since it was listed
            return None
        except IntegrityError as exc:
            return exc

    # -- removing ----------------------------------------------------------------------

    def delete_packs(self, pack_ids: Iterable[str]) -> None:
        """Delete whole packs (index first), e.g. to roll back a failed registration."""
        ids = [check_sha256(pid, "pack") for pid in pack_ids]
        if not ids:
            return
        self.backend.delete_many([_index_key(pid) for pid in ids])
        self.backend.delete_many([_pack_key(pid) for pid in ids])
        with self._lock:
            for pid in ids:
                self._indexes.pop(pid, None)


def _encode_index(digests: list[bytes], offsets: list[int], sizes: list[int]) -> bytes:
    """Index bytes: a head, rows (digest, offset, length) sorted by digest, a sha256 trailer.

    Built with numpy because a call may pack 100,000 blobs; each row is the four big-endian
    64-bit words of the digest, then offset and length, exactly ``_ENTRY``'s layout.
    """
    count = len(digests)
    words = np.frombuffer(b"".join(digests), dtype=">u8").reshape(count, 4)
    table = np.empty((count, 6), dtype=">u8")
    table[:, :4] = words
    table[:, 4] = offsets
    table[:, 5] = sizes
    order = np.argsort(words[:, 0], kind="stable")
    if count > 1 and not np.all(np.diff(words[order, 0]) != 0):  # a tie in the first 8 bytes
        order = np.lexsort(words.T[::-1])
    table = table[order]
    body = _INDEX_HEAD.pack(INDEX_MAGIC, count) + table.tobytes()
    return body + hashlib.sha256(body).digest()


def _hash_all(blobs: Sequence[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    try:
        return [sha(blob).digest() for blob in blobs]
    except TypeError:
        buffers = bytes | bytearray | memoryview
        bad = next((i for i, b in enumerate(blobs) if not isinstance(b, buffers)), None)
        if bad is None:
            raise
        raise InvalidInput(
            f"blobs[{bad}] must be bytes, got {type(blobs[bad]).__name__}", field="blobs"
        ) from None


def _checked_known(ref: BlobRef, sha256: str) -> BlobRef:
    if not isinstance(ref, BlobRef) or ref.sha256 != sha256:
        raise InvalidInput(
            f"known[{sha256!r}] must be the BlobRef of that hash, got {ref!r}", field="known"
        )
    return ref


def _check_ref(ref: BlobRef) -> str:
    """Validate every field used to build a path or a range; return the object's key."""
    if not isinstance(ref, BlobRef):
        raise InvalidInput(f"ref must be a BlobRef, got {type(ref).__name__}", field="ref")
    for name in ("size", "offset"):
        value = getattr(ref, name)
        if not isinstance(value, int) or value < 0:
            raise InvalidInput(f"ref.{name} must be an int >= 0, got {value!r}", field=name)
    check_sha256(ref.sha256)
    return ref.key


def _verified(ref: BlobRef, data: bytes, key: str, backend: Backend) -> bytes:
    if len(data) == ref.size and hashlib.sha256(data).hexdigest() == ref.sha256:
        return data
    where = key if ref.pack is None else f"{key} bytes {ref.offset}-{ref.offset + ref.size}"
    raise IntegrityError(
        f"artifact {ref.sha256} at {where} in {backend!r} does not match its sha256 "
        f"({len(data)} bytes read, {ref.size} expected); refusing to return it: restore "
        "the object from a copy or register the model again"
    )


def _spans(group: list[BlobRef]) -> Iterable[list[BlobRef]]:
    """Split one pack's refs into runs close enough to fetch with a single ranged read."""
    group = sorted(group, key=lambda r: r.offset)
    span = [group[0]]
    end = group[0].offset + group[0].size
    for ref in group[1:]:
        if ref.offset - end > _COALESCE_GAP or ref.offset + ref.size - span[0].offset > _MAX_SPAN:
            yield span
            span, end = [], 0
        span.append(ref)
        end = max(end, ref.offset + ref.size)
    yield span


def _search(indexes: list[tuple[str, _PackIndex]], digest: bytes, sha: str) -> BlobRef | None:
    for pack_id, index in indexes:
        hit = index.find(digest)
        if hit is not None:
            return BlobRef(sha, hit[1], pack_id, hit[0])
    return None


def open_artifact_store(url: str, storage_options: dict[str, Any] | None = None) -> ArtifactStore:
    """An :class:`ArtifactStore` over ``url``: a folder (created if missing), ``file://``,
    ``s3://bucket/prefix`` or any fsspec URL, with ``storage_options`` passed to fsspec."""
    backend = FsspecBackend(url, storage_options)
    if backend.local_root is not None:
        os.makedirs(backend.local_root, exist_ok=True)
    return ArtifactStore(backend)

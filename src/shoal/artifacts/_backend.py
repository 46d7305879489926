"""The artifact backend seam: named byte objects in bulk, and its fsspec implementation.

Backends store opaque bytes under '/'-separated keys and nothing more: hashing, naming,
dedup and packing live once in :class:`~shoal.artifacts.ArtifactStore`, above every
backend, so a new backend cannot get content addressing wrong (Metaflow's
``content_addressed_store`` split). Every method is bulk-first because a fleet writes
thousands of objects at once and an object store pays per round trip.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shoal.errors import InvalidInput, MissingDependency, NotFound

_COMPONENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]*"
_KEY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_S3_PROTOCOLS = ("s3", "s3a")
_EXISTS_CONCURRENCY = 64
_TEMPORARY_RE = re.compile(rf"(?:{_COMPONENT}/)*\.{_COMPONENT}\.[0-9a-f]{{32}}\.tmp")
"""The hidden name a local write uses before its rename (see ``_write_atomic``)."""


def check_key(key: str, field: str = "key") -> str:
    """Return ``key`` if it is a safe relative key, else raise :class:`InvalidInput`.

    Components must match ``[A-Za-z0-9_-][A-Za-z0-9._-]*``: no empty component, no
    leading '/', and no component starting with '.', which rules out '.', '..' (path
    traversal) and the hidden temporary names local writes use before their rename.
    """
    if not isinstance(key, str) or _KEY_RE.fullmatch(key) is None:
        raise InvalidInput(
            f"artifact {field} {key!r} is not allowed: use '/'-separated names of letters, "
            "digits, '.', '_' or '-', none empty or starting with '.', and no leading '/'",
            field=field,
        )
    return key


def check_prefix(prefix: str) -> str:
    """Validate a folder prefix for :meth:`Backend.list`; '' means every key."""
    stripped = prefix.rstrip("/") if isinstance(prefix, str) else prefix
    return "" if stripped == "" else check_key(stripped, "prefix")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object as a listing sees it: its key, size, and when it was last written
    (UNIX seconds; ``None`` where the backend cannot say, which garbage collection reads
    as "too young to remove")."""

    key: str
    size: int
    modified: float | None


class Backend(ABC):
    """Where the artifact store keeps bytes: a small bulk interface over named objects.

    Contract, for every implementation:

    - Keys are relative '/'-separated paths checked by :func:`check_key`; a bad key
      raises :class:`~shoal.errors.InvalidInput` before any I/O.
    - ``put_many`` makes each object appear whole or not at all: readers never see a
      partial object (temporary name + fsync + rename on a local disk; a single PUT on an
      object store). Writing an existing key replaces it.
    - ``get`` returns bytes ``[start, end)`` of one object, or raises
      :class:`~shoal.errors.NotFound`.
    - ``exists_many`` returns the subset of keys that exist; ``delete_many`` ignores
      missing keys; ``list(prefix)`` returns every key under a folder prefix, sorted.
    - Backends never hash or interpret the bytes.

    Example::

        backend = MemoryBackend()
        backend.put_many([("packs/a.pack", b"hello world")])
        backend.get("packs/a.pack", start=6, end=11)   # b"world"
        backend.list("packs")                           # ["packs/a.pack"]
    """

    @abstractmethod
    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Store each (key, bytes) pair atomically, replacing any existing object."""

    @abstractmethod
    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        """Read bytes ``[start, end)`` of one object (all of it by default)."""

    @abstractmethod
    def exists_many(self, keys: Iterable[str]) -> set[str]:
        """The subset of ``keys`` that exist."""

    @abstractmethod
    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete the objects; keys that do not exist are ignored."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key under the folder ``prefix`` ('' for all), sorted."""

    def size(self, key: str) -> int:
        """Size in bytes of one object. Override it: the default reads the whole object."""
        return len(self.get(key))

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """Every object under ``prefix`` with its size and modification time, sorted by key.

        Override it: the default asks for each size on its own and knows no times.
        """
        return [ObjectInfo(key, self.size(key), None) for key in self.list(prefix)]

    def list_temporary(self) -> builtins.list[ObjectInfo]:
        """Partial writes a killed process left behind (local folders only; an object
        store's single PUT leaves none). Their keys are the hidden names, never valid keys."""
        return []

    def delete_temporary(self, keys: Iterable[str]) -> None:
        """Delete what :meth:`list_temporary` listed; other names are refused."""
        for key in keys:
            raise InvalidInput(f"{key!r} is not a temporary file of {self!r}", field="key")


class FsspecBackend(Backend):
    """A backend over any fsspec URL: a local folder, ``file://``, ``s3://bucket/prefix``,
    ``memory://``…

    Local folders get their own write path (temporary file in the same folder, fsync,
    ``os.replace``) because fsspec's local writes are not atomic; remote filesystems use
    fsspec's bulk calls, where a single PUT is already atomic.
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = str(url)
        self._fs, root = _url_to_fs(self.url, storage_options or {})
        self._root = root.rstrip("/")
        self._local = _is_local(self._fs)

    def __repr__(self) -> str:
        return f"FsspecBackend({self.url!r})"

    @property
    def local_root(self) -> str | None:
        """The folder this backend writes to when it is on the local disk, else None."""
        return self._root if self._local else None

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self._root}/{key}" if self._root or self._local else key

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        pending = {self._path(key): data for key, data in items}
        if not pending:
            return
        if self._local:
            self._put_local(pending)
        else:
            self._fs.pipe(pending)

    def _put_local(self, pending: dict[str, bytes]) -> None:
        folders = {os.path.dirname(path) for path in pending}
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        for path, data in pending.items():
            _write_atomic(path, data)
        for folder in folders:
            _fsync_dir(folder)

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        path = self._path(key)
        try:
            if self._local:
                return _read_local(path, start, end)
            data: bytes = self._fs.cat_file(path, start=start, end=end)
            return data
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no artifact object at {key!r} in {self!r}") from None

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return os.stat(path).st_size if self._local else int(self._fs.size(path))
        except FileNotFoundError:
            raise NotFound(f"no artifact object at {key!r} in {self!r}") from None

    def exists_many(self, keys: Iterable[str]) -> set[str]:
        by_path = {self._path(key): key for key in keys}
        if self._local:
            return {key for path, key in by_path.items() if os.path.isfile(path)}
        self._fs.invalidate_cache()  # another process may have written since we listed
        if getattr(self._fs, "async_impl", False):
            return {by_path[p] for p in _exists_async(self._fs, list(by_path))}
        return {key for path, key in by_path.items() if self._fs.isfile(path)}

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = [check_key(key) for key in keys]
        if self._local:
            for key in keys:
                with suppress(FileNotFoundError):
                    os.unlink(self._path(key))
            return
        existing = self.exists_many(keys)
        if existing:
            self._fs.rm([self._path(key) for key in sorted(existing)])

    def list(self, prefix: str = "") -> list[str]:
        prefix = check_prefix(prefix)
        base = f"{self._root}/{prefix}" if prefix else self._root or ("/" if self._local else "")
        if self._local:
            found = _walk_local(base)
        else:
            self._fs.invalidate_cache()
            try:
                found = self._fs.find(base)
            except FileNotFoundError:
                found = []
        keys = (self._key(path) for path in found)
        return sorted(key for key in keys if _KEY_RE.fullmatch(key))

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        prefix = check_prefix(prefix)
        base = f"{self._root}/{prefix}" if prefix else self._root or ("/" if self._local else "")
        if self._local:
            infos = []
            for path in _walk_local(base):
                key = self._key(path)
                if _KEY_RE.fullmatch(key):
                    with suppress(FileNotFoundError):  # deleted since the walk saw it
                        st = os.stat(path)
                        infos.append(ObjectInfo(key, st.st_size, st.st_mtime))
        else:
            self._fs.invalidate_cache()
            try:
                listed = self._fs.find(base, detail=True)
            except FileNotFoundError:
                listed = {}
            infos = [
                ObjectInfo(self._key(path), int(info.get("size") or 0), _modified(info))
                for path, info in listed.items()
                if info.get("type", "file") == "file"
            ]
        return sorted((i for i in infos if _KEY_RE.fullmatch(i.key)), key=lambda i: i.key)

    def list_temporary(self) -> builtins.list[ObjectInfo]:
        if not self._local or not os.path.isdir(self._root):
            return []
        out = []
        for folder, dirs, names in os.walk(self._root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in names:
                path = os.path.join(folder, name)
                key = self._key(path.replace(os.sep, "/"))
                if _TEMPORARY_RE.fullmatch(key):
                    with suppress(FileNotFoundError):
                        st = os.stat(path)
                        out.append(ObjectInfo(key, st.st_size, st.st_mtime))
        return sorted(out, key=lambda i: i.key)

    def delete_temporary(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        bad = [key for key in keys if not self._local or not _TEMPORARY_RE.fullmatch(key)]
        if bad:
            raise InvalidInput(f"{bad[0]!r} is not a temporary file of {self!r}", field="key")
        for key in keys:
            with suppress(FileNotFoundError):
                os.unlink(f"{self._root}/{key}")

    def _key(self, path: str) -> str:
        path = self._fs._strip_protocol(path) if not self._local else path
        return path[len(self._root) + 1 :] if self._root or self._local else path.lstrip("/")


def _url_to_fs(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """Resolve a URL, turning a missing protocol package into an install hint."""
    import fsspec.core

    protocol = fsspec.core.split_protocol(url)[0]
    if protocol in _S3_PROTOCOLS:
        try:
            import s3fs  # noqa: F401
        except ImportError:
            raise MissingDependency(
                f"artifact URL {url!r} needs s3fs: pip install 'shoal[s3]'"
            ) from None
    try:
        fs, root = fsspec.core.url_to_fs(url, **storage_options)
        return fs, root
    except ImportError as exc:
        raise MissingDependency(
            f"artifact URL {url!r} needs an fsspec implementation for {protocol!r}: {exc}"
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"artifact URL {url!r} is not usable: {exc}", field="url") from None


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _write_atomic(path: str, data: bytes) -> None:
    """Write to a hidden temporary name in the same folder, fsync, then rename over ``path``.

    Same folder so the rename never crosses filesystems; the temporary name starts with
    '.' so no valid key can name it and ``list`` never returns it.
    """
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_dir(folder: str) -> None:
    """Persist the renames in ``folder`` (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _read_local(path: str, start: int | None, end: int | None) -> bytes:
    with open(path, "rb") as f:
        if start:
            f.seek(start)
        if end is None:
            return f.read()
        return f.read(max(0, end - (start or 0)))


def _walk_local(base: str) -> list[str]:
    found: list[str] = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(os.path.join(folder, name) for name in files)
    return [path.replace(os.sep, "/") for path in found]


def _modified(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec listing entry, whatever the filesystem calls it."""
    for name in ("mtime", "LastModified", "last_modified", "modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            with suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _exists_async(fs: Any, paths: list[str]) -> list[str]:
    """Ask an async filesystem about many paths concurrently, in one event-loop trip."""
    from fsspec.asyn import sync

    async def gather() -> list[str]:
        limit = asyncio.Semaphore(_EXISTS_CONCURRENCY)

        async def one(path: str) -> bool:
            async with limit:
                isfile: bool = await fs._isfile(path)
                return isfile

        flags = await asyncio.gather(*(one(p) for p in paths))
        return [p for p, flag in zip(paths, flags, strict=True) if flag]

    existing: list[str] = sync(fs.loop, gather)
    return existing

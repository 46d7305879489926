"""An in-memory :class:`Backend`: the seam's own test double, shipped in the library.

Tests of layers above the artifact store (registry, serving) use it to run without a
disk or a server, and it doubles as the executable reading of the backend contract.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Iterable

from shoal.artifacts._backend import Backend, ObjectInfo, check_key, check_prefix
from shoal.errors import NotFound


class MemoryBackend(Backend):
    """Objects in a dict, private to this instance; thread-safe, atomic per object.

    ``objects`` is public so tests can inspect or tamper with what was stored, and
    ``modified`` (key -> UNIX seconds of the last write) so they can age it.
    """

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.modified: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryBackend({len(self.objects)} objects)"

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        staged = [(check_key(key), bytes(data)) for key, data in items]
        now = time.time()
        with self._lock:
            self.objects.update(staged)
            self.modified.update((key, now) for key, _ in staged)

    def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        try:
            data = self.objects[check_key(key)]
        except KeyError:
            raise NotFound(f"no artifact object at {key!r} in {self!r}") from None
        return data[start:end]

    def size(self, key: str) -> int:
        return len(self.get(key))

    def exists_many(self, keys: Iterable[str]) -> set[str]:
        return {key for key in keys if check_key(key) in self.objects}

    def delete_many(self, keys: Iterable[str]) -> None:
        checked = [check_key(key) for key in keys]
        with self._lock:
            for key in checked:
                self.objects.pop(key, None)
                self.modified.pop(key, None)

    def list(self, prefix: str = "") -> list[str]:
        prefix = check_prefix(prefix)
        with self._lock:
            keys = list(self.objects)
        if not prefix:
            return sorted(keys)
        return sorted(key for key in keys if key.startswith(prefix + "/"))

    def list_info(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        keys = self.list(prefix)
        with self._lock:
            return [
                ObjectInfo(key, len(self.objects[key]), self.modified.get(key))
                for key in keys
                if key in self.objects
            ]

"""Content-addressed artifact storage over fsspec: local folders, S3, memory.

:class:`ArtifactStore` hashes, dedups, packs small blobs and verifies every read;
:class:`Backend` is the seam it writes through (:class:`FsspecBackend` for any fsspec
URL, :class:`MemoryBackend` as the in-library test double)::

    store = open_artifact_store("./.shoal/artifacts")
    refs = store.put_many([b"model one", b"model two"])
    store.get(refs[0])          # b"model one", checked against its sha256
"""

from __future__ import annotations

from shoal.artifacts._backend import Backend, FsspecBackend, ObjectInfo
from shoal.artifacts._maintenance import (
    Inventory,
    Problem,
    StoredPack,
    check_group,
    delete_objects,
    inventory,
)
from shoal.artifacts._memory import MemoryBackend
from shoal.artifacts._store import ArtifactStore, BlobRef, open_artifact_store

__all__ = [
    "ArtifactStore",
    "Backend",
    "BlobRef",
    "FsspecBackend",
    "Inventory",
    "MemoryBackend",
    "ObjectInfo",
    "Problem",
    "StoredPack",
    "check_group",
    "delete_objects",
    "inventory",
    "open_artifact_store",
]

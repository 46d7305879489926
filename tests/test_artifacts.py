"""One artifact-store spec, run on every backend: local folder, fsspec memory, S3, MemoryBackend."""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from shoal.artifacts import (
    ArtifactStore,
    Backend,
    BlobRef,
    FsspecBackend,
    MemoryBackend,
    open_artifact_store,
)
from shoal.errors import IntegrityError, InvalidInput, MissingDependency, NotFound
from shoal.testing import LocalS3Server

THRESHOLD = 1024


@pytest.fixture(scope="module")
def s3_server() -> Iterator[LocalS3Server]:
    with LocalS3Server() as server:
        yield server


@pytest.fixture(
    params=["local", "fsspec-memory", "memory", pytest.param("s3", marks=pytest.mark.s3)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return FsspecBackend(str(tmp_path / "store"))
    if request.param == "fsspec-memory":
        return FsspecBackend(f"memory://shoal-{uuid.uuid4().hex}")
    if request.param == "memory":
        return MemoryBackend()
    s3: LocalS3Server = request.getfixturevalue("s3_server")
    return FsspecBackend(s3.url(f"t-{uuid.uuid4().hex}/artifacts"), s3.storage_options)


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return ArtifactStore(backend, pack_threshold=THRESHOLD)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(backend: Backend, prefix: str, suffix: str = "") -> list[str]:
    return [key for key in backend.list(prefix) if key.endswith(suffix)]


def tamper(backend: Backend, key: str, at: int) -> None:
    data = bytearray(backend.get(key))
    data[at] ^= 0xFF
    backend.put_many([(key, bytes(data))])


# -- the spec, on every backend --------------------------------------------------------


def test_round_trip_small_and_large(store: ArtifactStore) -> None:
    blobs = [b"", b"small model", os.urandom(THRESHOLD - 1), os.urandom(THRESHOLD * 5)]
    refs = store.put_many(blobs)
    assert [ref.sha256 for ref in refs] == [sha(b) for b in blobs]
    assert [ref.size for ref in refs] == [len(b) for b in blobs]
    assert all(ref.pack is not None for ref in refs[:3])
    assert refs[3].pack is None and refs[3].offset == 0
    assert [store.get(ref) for ref in refs] == blobs
    assert store.get_many(refs + refs[::-1]) == blobs + blobs[::-1]


def test_identical_blobs_stored_once(store: ArtifactStore) -> None:
    big = os.urandom(THRESHOLD * 2)
    refs = store.put_many([b"a", big, b"a", big, b"b"])
    assert refs[0] == refs[2] and refs[1] == refs[3]
    backend = store.backend
    assert len(files(backend, "objects")) == 1
    assert len(files(backend, "packs", ".pack")) == 1
    assert len(files(backend, "packs", ".idx")) == 1
    assert len(backend.get(files(backend, "packs", ".pack")[0])) == 24 + 2  # header + a + b

    again = store.put_many([big])  # single objects are never uploaded twice
    assert again == [refs[1]] and len(files(backend, "objects")) == 1

    known = {refs[0].sha256: refs[0], refs[4].sha256: refs[4]}
    assert store.put_many([b"b", b"a"], known=known) == [refs[4], refs[0]]
    assert len(files(backend, "packs", ".pack")) == 1  # nothing new written


def test_small_blobs_share_one_pack(store: ArtifactStore) -> None:
    blobs = [f"model {i}".encode() * 10 for i in range(1000)]
    refs = store.put_many(blobs)
    assert len({ref.pack for ref in refs}) == 1
    assert len(store.backend.list("")) == 2  # one .pack + one .idx, not 1,000 files
    assert store.get_many(refs) == blobs


def test_packs_roll_over_at_pack_max_bytes(backend: Backend) -> None:
    store = ArtifactStore(backend, pack_threshold=THRESHOLD, pack_max_bytes=4096)
    blobs = [os.urandom(1000) for _ in range(10)]
    refs = store.put_many(blobs)
    packs = files(backend, "packs", ".pack")
    assert len(packs) == len({ref.pack for ref in refs}) == 3  # 4 + 4 + 2 blobs
    assert all(len(backend.get(key)) <= 4096 for key in packs)
    assert store.get_many(refs) == blobs


def test_tampered_pack_is_detected(store: ArtifactStore) -> None:
    refs = store.put_many([b"first blob", b"second blob"])
    tamper(store.backend, refs[1].key, refs[1].offset + 3)
    assert store.get(refs[0]) == b"first blob"
    with pytest.raises(IntegrityError, match=refs[1].sha256) as caught:
        store.get(refs[1])
    assert refs[1].key in str(caught.value)
    with pytest.raises(IntegrityError):
        store.get_many(refs)


def test_tampered_object_is_detected(store: ArtifactStore) -> None:
    [ref] = store.put_many([os.urandom(THRESHOLD * 3)])
    tamper(store.backend, ref.key, 100)
    with pytest.raises(IntegrityError, match=ref.key):
        store.get(ref)


def test_wrong_size_is_an_integrity_error(store: ArtifactStore) -> None:
    [ref] = store.put_many([b"twelve bytes"])
    with pytest.raises(IntegrityError):
        store.get(BlobRef(ref.sha256, ref.size - 1, ref.pack, ref.offset))


@pytest.mark.parametrize(
    "key", ["../x", "/abs", "a/../../b", "", "a//b", "a/", ".hidden", "a/./b", "a\\b", "é"]
)
def test_backend_refuses_unsafe_keys(backend: Backend, key: str) -> None:
    with pytest.raises(InvalidInput, match="key"):
        backend.put_many([(key, b"x")])
    with pytest.raises(InvalidInput):
        backend.get(key)
    with pytest.raises(InvalidInput):
        backend.exists_many([key])
    with pytest.raises(InvalidInput):
        backend.delete_many([key])


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABCD" * 16, "a" * 63, "g" * 64, ""])
def test_store_refuses_bad_hashes(store: ArtifactStore, bad: str) -> None:
    good = "a" * 64
    with pytest.raises(InvalidInput, match="sha256"):
        store.locate(bad)
    with pytest.raises(InvalidInput, match="sha256"):
        store.get(BlobRef(bad, 1, None))
    with pytest.raises(InvalidInput, match="pack"):
        store.get(BlobRef(good, 1, bad, 24))
    with pytest.raises(InvalidInput, match="pack"):
        store.delete_packs([bad])
    with pytest.raises(InvalidInput):
        store.backend.list("../" + bad)


def test_store_refuses_bad_refs_and_inputs(store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="offset"):
        store.get(BlobRef("a" * 64, 1, "b" * 64, -1))
    with pytest.raises(InvalidInput, match=r"blobs\[1\]"):
        store.put_many([b"ok", "not bytes"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="known"):
        store.put_many([b"x"], known={sha(b"x"): BlobRef(sha(b"y"), 1)})


def test_locate_by_hash_alone(store: ArtifactStore) -> None:
    small, big = b"tiny", os.urandom(THRESHOLD * 2)
    refs = store.put_many([small, big])
    fresh = ArtifactStore(store.backend, pack_threshold=THRESHOLD)  # empty index cache
    assert fresh.locate(sha(small)) == refs[0]
    assert fresh.locate(sha(big)) == refs[1]
    assert store.locate(sha(small)) == refs[0]
    later = store.put_many([b"later"])[0]
    assert fresh.locate(later.sha256) == later  # loads indexes it has not seen yet
    with pytest.raises(NotFound):
        fresh.locate(sha(b"never stored"))


def test_damaged_index_is_refused(store: ArtifactStore) -> None:
    [ref] = store.put_many([b"indexed"])
    assert ref.pack is not None
    tamper(store.backend, f"packs/{ref.pack}.idx", 20)
    other = store.put_many([b"elsewhere"])[0]
    fresh = ArtifactStore(store.backend, pack_threshold=THRESHOLD)
    with pytest.raises(IntegrityError, match="index"):
        fresh.locate(ref.sha256)
    assert fresh.locate(other.sha256) == other  # one bad index does not hide the others
    assert store.get(ref) == b"indexed"  # the pack itself is fine


def test_ranged_reads_and_listing(backend: Backend) -> None:
    data = bytes(range(256))
    backend.put_many([("r/a.bin", data), ("r/sub/b.bin", b"b"), ("rr/c", b"c")])
    assert backend.get("r/a.bin", 10, 20) == data[10:20]
    assert backend.get("r/a.bin", 250) == data[250:]
    assert backend.get("r/a.bin", end=3) == data[:3]
    assert backend.get("r/a.bin") == data
    assert backend.size("r/a.bin") == 256
    assert backend.list("r") == ["r/a.bin", "r/sub/b.bin"]
    assert backend.list("r/") == ["r/a.bin", "r/sub/b.bin"]
    assert backend.list("nothing") == []
    assert backend.exists_many(["r/a.bin", "r/missing", "rr/c"]) == {"r/a.bin", "rr/c"}
    backend.delete_many(["r/a.bin", "r/missing"])
    assert backend.list("") == ["r/sub/b.bin", "rr/c"]
    with pytest.raises(NotFound):
        backend.get("r/a.bin")
    with pytest.raises(NotFound):
        backend.size("r/a.bin")


def test_delete_packs_rolls_back_one_call(store: ArtifactStore) -> None:
    kept = store.put_many([b"kept"])[0]
    gone = store.put_many([b"gone", b"also gone"])
    assert gone[0].pack is not None
    store.delete_packs([gone[0].pack])
    assert files(store.backend, "packs") == [f"packs/{kept.pack}.idx", f"packs/{kept.pack}.pack"]
    with pytest.raises(NotFound):
        store.get(gone[0])
    with pytest.raises(NotFound):
        store.locate(gone[1].sha256)
    assert store.get(kept) == b"kept"
    store.delete_packs([])


def test_same_blobs_in_two_calls_get_distinct_packs(store: ArtifactStore) -> None:
    """Rolling back one registration must never delete a pack another one relies on."""
    first = store.put_many([b"same"])[0]
    second = store.put_many([b"same"])[0]
    assert first.pack != second.pack
    assert second.pack is not None
    store.delete_packs([second.pack])
    assert store.get(first) == b"same"


# -- local folder: atomic writes --------------------------------------------------------


def hidden_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".")]


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "new" / "store"))
    assert (tmp_path / "new" / "store").is_dir()  # created if missing
    store.put_many([b"x" * 10, os.urandom(2 << 20)])
    assert hidden_files(tmp_path) == []
    assert len(store.backend.list("")) == 3


def test_local_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FsspecBackend(str(tmp_path))

    def fail(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        backend.put_many([("objects/aa/bb", b"payload")])
    monkeypatch.undo()
    assert not (tmp_path / "objects" / "aa" / "bb").exists()
    assert hidden_files(tmp_path) == []
    assert backend.list("") == []


class FailAfterFirst(FsspecBackend):
    """Writes the first object of a put_many, then fails: a crash mid-call."""

    def put_many(self, items: Iterable[tuple[str, bytes]]) -> None:
        items = list(items)
        super().put_many(items[:1])
        raise OSError("connection lost")


def test_failed_put_many_leaves_nothing_half_written(tmp_path: Path) -> None:
    backend = FailAfterFirst(str(tmp_path))
    store = ArtifactStore(backend, pack_threshold=THRESHOLD)
    blobs = [b"one", b"two", os.urandom(THRESHOLD * 2)]
    with pytest.raises(OSError, match="connection lost"):
        store.put_many(blobs)
    assert files(backend, "packs") == []  # the pack it wrote was rolled back
    assert hidden_files(tmp_path) == []
    reader = ArtifactStore(FsspecBackend(str(tmp_path)), pack_threshold=THRESHOLD)
    with pytest.raises(NotFound):
        reader.locate(sha(b"one"))


def test_file_url_and_plain_path_are_the_same_store(tmp_path: Path) -> None:
    [ref] = open_artifact_store(str(tmp_path)).put_many([b"shared"])
    assert open_artifact_store(tmp_path.as_uri()).get(ref) == b"shared"


def test_s3_without_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingDependency, match=r"pip install 'shoal\[s3\]'"):
        FsspecBackend("s3://bucket/prefix")


# -- the local S3 server ---------------------------------------------------------------


@pytest.mark.s3
def test_local_s3_server_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    with LocalS3Server(bucket="other") as s3:
        assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
        assert s3.endpoint_url.startswith("http://127.0.0.1:")
        assert s3.storage_options["client_kwargs"]["endpoint_url"] == s3.endpoint_url
        store = open_artifact_store(s3.url("x"), s3.storage_options)
        [ref] = store.put_many([b"on s3"])
        assert store.get(ref) == b"on s3"
    assert "AWS_EC2_METADATA_DISABLED" not in os.environ

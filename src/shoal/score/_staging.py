"""Where a scoring run's output waits until it is complete: ``<out>.partial/``.

Layout::

    <out>.partial/manifest.json     what is being scored (fleet, alias, data, layout) and
                                    the run that began it (``origin``)
    <out>.partial/parts/<i>.json    a part that is done: its figures, written after its
                                    output file and its logs
    <out>.partial/data/...          the output tree, laid out like the input

Publishing moves ``data`` to ``out`` (one rename on a local disk; file by file on an object
store, with ``_SUCCESS`` written last, as Spark and Hadoop do, so readers can tell a whole
output from one being copied), then removes the partial folder. A run that finds a partial
folder for the same identity resumes it: the parts with a record are done; any other part
is scored again, and log files an earlier attempt wrote for it (named after the origin run
and the part, see :func:`log_tag`) are removed first, so no row is logged twice even when a
process died between writing a part's logs and recording it. A different identity clears
the folder.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shoal import logs as log_files
from shoal.errors import InvalidInput
from shoal.score._input import Input, filesystem, is_local

SUCCESS = "_SUCCESS"


def log_tag(origin: int, index: int) -> str:
    """The suffix of a part's log files: the same for every attempt at the part."""
    return f"b{origin}p{index}"


class Staging:
    """The partial output folder of one scoring (see the module doc)."""

    def __init__(self, out: str, identity: dict[str, Any], *, overwrite: bool,
                 resumable: bool) -> None:  # fmt: skip
        self.out = out
        self.fs, self.target = filesystem(out)
        there = self.fs.exists(self.target)
        if there and (not self.fs.isdir(self.target) or self.fs.ls(self.target)) and not overwrite:
            raise InvalidInput(
                f"{out!r} already holds files; give a new folder, or overwrite=True "
                "(--overwrite) to replace it once the new results are complete",
                field="out",
            )
        self.url = out.rstrip("/") + ".partial"
        _, self.root = filesystem(self.url)
        self.identity = identity
        self.origin: int | None = None
        self.done: dict[int, dict[str, Any]] = {}
        manifest = self._read(f"{self.root}/manifest.json") if resumable else None
        if manifest is not None and manifest.get("identity") == identity:
            self.origin = int(manifest["origin"])
            self.done = self._parts()
        elif self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)

    @property
    def data(self) -> str:
        """Where parts write their output files (a URL or path)."""
        return f"{self.url}/data"

    def begin(self, run_id: int) -> int:
        """Record the run that begins the scoring (kept by a resume); returns the origin."""
        if self.origin is None:
            self.origin = run_id
            self._write(f"{self.root}/manifest.json",
                        {"identity": self.identity, "origin": run_id})  # fmt: skip
        return self.origin

    def forget_logs(self, logs: str | None, tenant: str, fleet: str) -> int:
        """Remove log files earlier attempts wrote for parts not recorded done; how many."""
        if logs is None or self.origin is None:
            return 0
        fs, root = log_files.filesystem(logs)
        folder = f"{root.rstrip('/')}/predictions/tenant={tenant}/fleet={fleet}"
        if not fs.exists(folder):
            return 0
        mine = re.compile(rf"-b{self.origin}p(\d+)\.parquet$")  # log_tag(origin, part)
        removed = 0
        for path in fs.find(folder):
            found = mine.search(path)
            if found is not None and int(found.group(1)) not in self.done:
                fs.rm(path)
                removed += 1
        return removed

    def record(self, index: int, summary: dict[str, Any]) -> None:
        """Mark part ``index`` done, with its figures (after its output and logs)."""
        self.done[index] = summary
        self._write(f"{self.root}/parts/{index}.json", summary)

    def publish(self, source: Input) -> list[str]:
        """Move the output to ``out``: whole on a local disk, ``_SUCCESS`` last elsewhere."""
        fs, data = self.fs, f"{self.root}/data"
        fs.invalidate_cache()
        if not fs.exists(data):
            fs.makedirs(data, exist_ok=True)
        for path in fs.find(data):
            if path.rsplit("/", 1)[-1].startswith("."):  # a write that never finished
                fs.rm(path)
        if fs.exists(self.target):
            fs.rm(self.target, recursive=True)  # overwrite=True: checked when opened
        if is_local(fs):
            fs.mv(data, self.target, recursive=True)  # one rename: the folder appears whole
        else:  # an object store has no folders to rename: each file is copied, then removed
            for path in fs.find(data):
                fs.mv(path, f"{self.target}/{path[len(data) :].lstrip('/')}")
        with fs.open(f"{self.target}/{SUCCESS}", "wb"):
            pass
        fs.invalidate_cache()
        if fs.exists(self.root):
            fs.rm(self.root, recursive=True)
        written = {p[len(self.target) :].lstrip("/") for p in fs.find(self.target)}
        return [f"{self.out.rstrip('/')}/{p.relative}" for p in source.parts
                if p.relative in written]  # fmt: skip

    def _parts(self) -> dict[int, dict[str, Any]]:
        folder = f"{self.root}/parts"
        if not self.fs.exists(folder):
            return {}
        out = {}
        for path in self.fs.find(folder):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".json") and name[:-5].isdigit():
                found = self._read(path)
                if found is not None:
                    out[int(name[:-5])] = found
        return out

    def _read(self, path: str) -> dict[str, Any] | None:
        try:
            with self.fs.open(path, "rb") as handle:
                found = json.loads(handle.read())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def _write(self, path: str, data: dict[str, Any]) -> None:
        folder, _, name = path.rpartition("/")
        log_files.write_named(self.fs, folder, name, json.dumps(data).encode())

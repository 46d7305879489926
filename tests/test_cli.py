"""The ``shoal`` command line against a real SQLite store and artifact folder.

One small fleet is seeded once through the SDK; each test works on its own copy of it
(a file copy is far cheaper than registering again). Every bad input is checked for
what a person sees: one ``error: ...`` line on stderr that names the field and the fix,
no traceback, and the exit status of the error's class.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import shoal
from shoal.cli import app
from shoal.flavors.linear import LinearModel
from shoal.store.engine import head_revision

FLEET = "grocer/demand"
STORES = ["s01", "s02", "s03"]
SKUS = ["A77", "B12"]
MODELS = len(STORES) * len(SKUS)


def _mape(store: int, sku: int) -> float:
    return round(0.1 + 0.1 * store + 0.01 * sku, 4)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SHOAL_HOME with two fleets, a dataset, a run and a second version of one model."""
    home = tmp_path_factory.mktemp("template")
    client = shoal.connect(f"sqlite:///{home / 'shoal.db'}", str(home / "artifacts"))
    try:
        demand = client.fleet(FLEET, keys=["store", "sku"])
        sales = pd.DataFrame({"store": STORES * 2, "units": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
        dataset = client.datasets.register(sales, name="grocer/sales-2026")
        run = demand.start_run("train")
        first = demand.register(
            {
                "key": {"store": store, "sku": sku},
                "model": LinearModel(1.0 + i, {"price": -0.5}),
                "metrics": {"mape": _mape(i, j)},
                "dataset": dataset,
                "run": run,
                "slice_fingerprint": f"slice-{store}-{sku}",
                "code_ref": "git:abc123",
            }
            for i, store in enumerate(STORES)
            for j, sku in enumerate(SKUS)
        )
        demand.register(
            [
                {
                    "key": {"store": "s01", "sku": "A77"},
                    "artifact": b'{"coef":{},"intercept":1.0,"v":1}',
                    "flavor": "linear",
                    "metrics": {"mape": 0.05},
                    "parent": first[0],
                }
            ]
        )
        client.fleet("apparel/style", keys=["category"]).register(
            [{"key": "shirts", "model": LinearModel(0.0), "metrics": {"f1": 0.8}}]
        )
    finally:
        client.close()
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the seeded store, found through SHOAL_HOME as a user's would be."""
    target = tmp_path / "home"
    shutil.copytree(template, target)
    monkeypatch.setenv("SHOAL_HOME", str(target))
    monkeypatch.setenv("SHOAL_USER", "tester")
    for name in ("SHOAL_STORE_URL", "SHOAL_ARTIFACTS_URL", "SHOAL_AUTO_MIGRATE"):
        monkeypatch.delenv(name, raising=False)
    return target


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def ok(*args: str):  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def ok_json(*args: str):  # type: ignore[no-untyped-def]
    return json.loads(ok(*args, "--json").stdout)


def fails(code: int, *args: str, says: tuple[str, ...] = ()) -> str:
    """Run a command that must fail cleanly; return its one-line message."""
    result = run(*args)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: "), result.stderr
    message = result.stderr.strip()
    assert "\n" not in message
    for part in says:
        assert part in message, message
    return message


# ---- listings ---------------------------------------------------------------------------------


def test_fleets_table_and_json(home: Path) -> None:
    table = ok("fleets").stdout
    assert "grocer" in table and "demand" in table and "store, sku" in table
    rows = {row["path"]: row for row in ok_json("fleets")}
    assert rows[FLEET]["keys"] == ["store", "sku"]
    assert rows[FLEET]["models"] == MODELS and rows[FLEET]["versions"] == MODELS + 1
    assert rows["apparel/style"]["models"] == 1


def test_models_where_sort_json(home: Path) -> None:
    page = ok_json("models", FLEET, "--where", "mape > 0.15", "--sort", "-mape")
    mapes = [item["metrics"]["mape"] for item in page["items"]]
    assert mapes == sorted(mapes, reverse=True) and all(m > 0.15 for m in mapes)
    assert len(mapes) == 4 and page["next_cursor"] is None
    assert set(page["items"][0]) >= {"key", "version", "metrics", "aliases", "created_at"}
    table = ok("models", FLEET, "--where", "store = 's02'").stdout
    assert "s02" in table and "s01" not in table and "mape=" in table


def test_models_count_facet_and_all_versions(home: Path) -> None:
    assert ok("models", FLEET, "--count").stdout.strip() == str(MODELS)
    assert ok_json("models", FLEET, "--count", "--all-versions") == {"count": MODELS + 1}
    assert ok("models", FLEET, "--count", "--where", "mape > 0.25").stdout.strip() == "2"
    facets = ok_json("models", FLEET, "--facet", "store", "--where", "mape > 0.1")
    assert facets == {"facet": "store", "counts": {"s02": 2, "s03": 2, "s01": 1}}
    assert "s03" in ok("models", FLEET, "--facet", "store").stdout


def test_models_pages_follow_the_cursor(home: Path) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        args = ["models", FLEET, "--sort", "-mape", "--limit", "4"]
        page = ok_json(*args, *(["--cursor", cursor] if cursor else []))
        seen += [(item["key"]["store"], item["key"]["sku"]) for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and len(seen) == len(set(seen)) == MODELS
    first = ok("models", FLEET, "--sort", "-mape", "--limit", "4")
    assert "next page: --cursor " in first.stderr and "cursor" not in first.stdout


def test_versions_and_model(home: Path) -> None:
    key = ["--key", "store=s01", "--key", "sku=A77"]
    found = ok_json("versions", FLEET, *key)
    assert [v["version"] for v in found] == [2, 1]
    assert "linear" in ok("versions", FLEET, "--key", "sku=A77", "--key", "store=s01").stdout
    shown = ok_json("model", FLEET, *key, "--version", "1", "--verify")
    assert shown["version"] == 1 and shown["loaded_as"].endswith("LinearModel")
    verified = ok("model", FLEET, *key, "--verify")
    assert "verified: sha256" in verified.stderr and "version" in verified.stdout
    assert ok_json("versions", "apparel/style", "--key", "category=shirts")[0]["version"] == 1


def test_lineage(home: Path) -> None:
    version_id = ok_json("versions", FLEET, "--key", "store=s01", "--key", "sku=B12")[0]["id"]
    found = ok_json("lineage", str(version_id))
    dataset = shoal.connect().datasets.find("sales-2026")[0]
    assert found["dataset"]["name"] == "sales-2026"
    assert found["dataset"]["fingerprint"] == dataset.fingerprint
    assert found["dataset"]["row_count"] == 6
    assert found["slice_fingerprint"] == "slice-s01-B12"
    assert found["run"]["kind"] == "train" and found["code_ref"] == "git:abc123"
    child = ok_json("versions", FLEET, "--key", "store=s01", "--key", "sku=A77")[0]
    assert ok_json("lineage", str(child["id"]))["parent"]["version"] == 1
    table = ok("lineage", str(version_id)).stdout
    assert dataset.fingerprint in table and "slice-s01-B12" in table and "git:abc123" in table


def test_datasets_list_and_show(home: Path) -> None:
    (listed,) = ok_json("datasets")
    assert listed["name"] == "sales-2026" and listed["row_count"] == 6
    shown = ok_json("datasets", "show", str(listed["id"]))
    assert [c["name"] for c in shown["schema"]] == ["store", "units"]
    assert len(shown["models"]) == MODELS and shown["models"][0]["fleet"] == FLEET
    table = ok("datasets", "show", str(listed["id"])).stdout
    assert "units" in table and listed["fingerprint"] in table and "store=s01" in table
    assert "sales-2026" in ok("datasets").stdout


# ---- aliases ----------------------------------------------------------------------------------


def _production_count() -> int:
    return ok_json("models", FLEET, "--count", "--where", "alias = 'production'")["count"]


def test_alias_dry_run_moves_nothing(home: Path) -> None:
    result = ok("alias", "set", FLEET, "production", "--where", "mape > 0.15", "--dry-run")
    assert "would move 'production' on 4 model(s)" in result.stdout
    assert "s03" in result.stdout and "dry run: nothing moved" in result.stderr
    assert "undo" not in result.stdout and "confirm the new alias with --create" in result.stderr
    assert _production_count() == 0


def test_alias_set_prints_an_undo_that_works(home: Path) -> None:
    result = ok("alias", "set", FLEET, "production", "--where", "mape > 0.15", "--create")
    assert "moved 'production' on 4 model(s)" in result.stdout
    assert _production_count() == 4
    line = next(x for x in result.stdout.splitlines() if "undo with: " in x)
    undo = shlex.split(line.split("undo with: ", 1)[1])
    assert undo[:4] == ["shoal", "alias", "undo", FLEET]
    assert "moved back on 4 model(s)" in ok(*undo[1:]).stdout
    assert _production_count() == 0
    listed = ok_json("alias", "moves", FLEET)
    moves = listed["items"]
    assert [m["undone_by"] for m in moves] == [None, moves[0]["id"]]
    assert listed["next_cursor"] is None
    first = ok_json("alias", "moves", FLEET, "--limit", "1")  # a page of one, and on
    assert first["items"] == moves[:1] and first["next_cursor"] == str(moves[0]["id"])
    rest = ok_json("alias", "moves", FLEET, "--cursor", first["next_cursor"])
    assert rest["items"] == moves[1:] and rest["next_cursor"] is None
    assert "mape > 0.15" in ok("alias", "moves", FLEET).stdout
    fails(4, *undo[1:], says=("already undone",))


def test_alias_undo_command_repeats_explicit_stores(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "elsewhere"))
    stores = ["--store", f"sqlite:///{home / 'shoal.db'}", "--artifacts", str(home / "artifacts")]
    moved = ok_json(*stores, "alias", "set", FLEET, "candidate", "--where", "store = 's01'",
                    "--create")  # fmt: skip
    assert moved["moved"] == 2 and moved["preview"][0]["to"] in (1, 2)
    undo = shlex.split(moved["undo"])
    assert undo[1:5] == stores
    ok(*undo[1:])
    assert ok_json(*stores, "models", FLEET, "--count", "--where", "alias = 'candidate'") == {
        "count": 0
    }


def test_alias_guards_a_typo_an_empty_filter_and_a_missing_source(home: Path) -> None:
    ok("alias", "set", FLEET, "production", "--where", "mape > 0.15", "--create")
    fails(2, "alias", "set", FLEET, "prodution", "--where", "mape > 0.15",
          says=("'prodution' is on no model", "production", "--create"))  # fmt: skip
    fails(2, "alias", "set", FLEET, "production", "--where", "mapee > 0.15",
          says=("no version of fleet", "'mapee'", "mape"))  # fmt: skip
    fails(2, "alias", "set", FLEET, "candidate", "--where", "mape > 0", "--source", "canddate",
          says=("source alias 'canddate'", "production"))  # fmt: skip
    moved = ok_json("alias", "set", FLEET, "production", "--all", "--dry-run")
    assert moved["moved"] > 0 and moved["creates"] is False
    fails(
        2, "alias", "set", FLEET, "production", "--all", "--where", "mape > 0", says=("not both",)
    )
    assert _production_count() == 4


def test_alias_set_one_model(home: Path) -> None:
    key = ["--key", "store=s02", "--key", "sku=B12"]
    ok("alias", "set", FLEET, "production", *key, "--version", "1", "--create")
    assert ok_json("model", FLEET, *key, "--alias", "production")["version"] == 1
    again = ok("alias", "set", FLEET, "production", *key)
    assert "on 0 model(s)" in again.stdout and "undo" not in again.stdout


# ---- the store --------------------------------------------------------------------------------


def test_db_upgrade_and_a_store_too_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_HOME", str(tmp_path / "fresh"))
    monkeypatch.setenv("SHOAL_AUTO_MIGRATE", "0")
    fails(6, "fleets", says=("shoal db upgrade",))
    assert f"schema at revision {head_revision()}" in ok("db", "upgrade").stdout
    assert ok_json("fleets") == []


# ---- what a person sees when something is wrong ----------------------------------------------


def test_unknown_fleet(home: Path) -> None:
    fails(3, "models", "grocer/nope", says=("fleet 'grocer/nope' not found", "shoal fleets"))
    fails(2, "models", "grocer", says=("'tenant/fleet'", "grocer/demand"))


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        (["store=s01", "skux=A77"], ("'skux' is not a key dimension", "store, sku")),
        (["store=s01"], ("missing sku", "--key sku=VALUE")),
        (["s01,A77"], ("must be DIM=VALUE", "--key store=VALUE --key sku=VALUE")),
        (["store=s01", "store=s02", "sku=A77"], ("given twice",)),
    ],
)
def test_bad_key(home: Path, keys: list[str], says: tuple[str, ...]) -> None:
    args = [word for key in keys for word in ("--key", key)]
    fails(2, "versions", FLEET, *args, says=("--key", *says))


def test_unknown_model_and_version(home: Path) -> None:
    fails(3, "versions", FLEET, "--key", "store=s99", "--key", "sku=A77", says=("s99",))
    fails(3, "lineage", "9999", says=("version 9999 not found",))
    fails(3, "datasets", "show", "9999", says=("dataset 9999 not found",))


def test_bad_filter_syntax(home: Path) -> None:
    fails(2, "models", FLEET, "--where", "mape >", says=("where:", "position 6"))
    fails(2, "models", FLEET, "--where", "mape > 0.3 )", says=("where:",))


def test_metric_compared_with_text(home: Path) -> None:
    fails(2, "models", FLEET, "--where", "mape > 'abc'",
          says=("where: mape compares with numbers", "'abc'"))  # fmt: skip


def test_bad_sort_limit_cursor_facet(home: Path) -> None:
    fails(2, "models", FLEET, "--sort", "tags.team", says=("sort:",))
    fails(2, "models", FLEET, "--limit", "0", says=("limit must be 1..1000",))
    fails(2, "models", FLEET, "--cursor", "garbage", says=("cursor", "next_cursor"))
    fails(2, "models", FLEET, "--facet", "region", says=("'region'", "store, sku"))
    fails(2, "models", FLEET, "--count", "--facet", "store", says=("pick one",))


def test_bad_alias_requests(home: Path) -> None:
    fails(2, "alias", "set", FLEET, "production", says=("--where", "--key"))
    fails(2, "alias", "set", FLEET, "Prod!", "--where", "mape > 0", says=("alias 'Prod!'",))
    fails(3, "alias", "undo", FLEET, "77", says=("alias move 77 not found",))
    key = ["--key", "store=s01", "--key", "sku=A77"]
    fails(3, "alias", "set", FLEET, "production", *key, "--version", "9", says=("version 9",))
    fails(2, "alias", "set", FLEET, "production", "--version", "1", says=("missing store, sku",))
    fails(2, "alias", "set", FLEET, "production", *key, "--where", "mape > 0", says=("one or",))


def test_tampered_artifact(home: Path) -> None:
    for pack in (home / "artifacts").rglob("*.pack"):  # every blob after the 24-byte header
        data = pack.read_bytes()
        pack.write_bytes(data[:24] + bytes(b ^ 0x20 for b in data[24:]))
    key = ["--key", "store=s02", "--key", "sku=A77"]
    fails(5, "model", FLEET, *key, "--verify", says=("does not match its sha256", "restore"))
    ok("model", FLEET, *key)  # the metadata is intact; only loading refuses


def test_duplicate_version_is_a_conflict(home: Path) -> None:
    client = shoal.connect()
    try:
        record = {"key": {"store": "s09", "sku": "A77"}, "model": LinearModel(1.0), "version": 1}
        client.fleet(FLEET).register([record])
        with pytest.raises(shoal.Conflict, match="already has version 1"):
            client.fleet(FLEET).register([record])
    finally:
        client.close()
    assert shoal.Conflict.exit_code == 4


def test_errors_are_red_and_interrupts_exit_130(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = run("models", "grocer/nope")
    assert result.exit_code == 3 and "\x1b[" in result.stderr and "error: " in result.stderr

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shoal.Client, "fleets", interrupted)
    result = run("fleets")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert "Traceback" not in result.output


def test_console_script_prints_no_traceback(home: Path) -> None:
    script = "from shoal.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "models", "grocer/nope"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.startswith("error: fleet 'grocer/nope' not found")
    assert "Traceback" not in done.stderr


def test_help_documents_every_command(home: Path) -> None:
    top = ok("--help").stdout
    for name in ("fleets", "models", "model", "versions", "lineage", "alias", "datasets", "db",
                 "demo"):  # fmt: skip
        assert name in top
    assert "DIM=VALUE" in ok("versions", "--help").stdout
    assert "undo" in ok("alias", "set", "--help").stdout

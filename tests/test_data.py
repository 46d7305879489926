"""shoal.data: frames in, content fingerprints, per-key slice fingerprints, schemas, profiles."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shoal.data import bin_counts, fingerprint, profile, schema_of, slice_fingerprints, to_arrow
from shoal.errors import InvalidInput


def _mixed(n: int = 1000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "i": pa.array(rng.integers(-1000, 1000, n)),
            "f": pa.array(rng.normal(size=n)),
            "s": pa.array([f"k{v}" for v in rng.integers(0, 50, n)]),
            "b": pa.array(rng.random(n) < 0.5),
        }
    )


def _rechunk(table: pa.Table, size: int) -> pa.Table:
    return pa.Table.from_batches(table.to_batches(max_chunksize=size))


# ---------------------------------------------------------------------- to_arrow / schema_of


def test_to_arrow_pandas_drops_default_index_keeps_meaningful_ones() -> None:
    df = pd.DataFrame({"x": [1, 2, 3]})
    assert to_arrow(df).column_names == ["x"]
    named = df.set_index(pd.Index([10, 20, 30], name="store"))
    assert to_arrow(named).column_names == ["x", "store"]
    shifted = pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(5, 7))
    assert len(to_arrow(shifted).column_names) == 2
    sliced = df.iloc[1:]  # RangeIndex(1, 3): rows were dropped, the index says which
    assert len(to_arrow(sliced).column_names) == 2


def test_to_arrow_accepts_each_input_kind() -> None:
    table = pa.table({"x": [1, 2], "y": ["a", "b"]})
    assert to_arrow(table) is table
    assert to_arrow(table.to_batches()[0]).equals(table)
    assert to_arrow({"x": [1, 2], "y": ["a", "b"]}).equals(table)
    assert to_arrow(table.to_pandas()).select(["x", "y"]).cast(table.schema).equals(table)


def test_to_arrow_polars() -> None:
    pl = pytest.importorskip("polars")
    out = to_arrow(pl.DataFrame({"x": [1, 2], "y": ["a", "b"]}))
    assert out.column("x").to_pylist() == [1, 2]
    with pytest.raises(InvalidInput, match="collect"):
        to_arrow(pl.DataFrame({"x": [1]}).lazy())


@pytest.mark.parametrize("bad", [[1, 2, 3], "table.csv", 42, np.zeros(3)])
def test_to_arrow_rejects_other_types_naming_them(bad: object) -> None:
    with pytest.raises(InvalidInput, match=type(bad).__name__) as info:
        to_arrow(bad)
    assert "pandas DataFrame" in str(info.value)
    assert info.value.field == "frame"


def test_to_arrow_rejects_series_and_bad_dicts() -> None:
    with pytest.raises(InvalidInput, match="to_frame"):
        to_arrow(pd.Series([1, 2]))
    with pytest.raises(InvalidInput, match="str keys"):
        to_arrow({1: [1, 2]})
    with pytest.raises(InvalidInput, match="same length"):
        to_arrow({"a": [1, 2], "b": [1]})


def test_schema_of() -> None:
    schema = schema_of(
        pa.table({"a": pa.array([1], pa.int32()), "t": pa.array([0], pa.timestamp("us", tz="UTC"))})
    )
    assert schema == [
        {"name": "a", "type": "int32", "nullable": True},
        {"name": "t", "type": "timestamp[us, tz=UTC]", "nullable": True},
    ]
    json.dumps(schema)


# ---------------------------------------------------------------------- fingerprint: equal data


def test_fingerprint_is_sha256_hex() -> None:
    fp = fingerprint(_mixed())
    assert len(fp) == 64
    int(fp, 16)


def test_fingerprint_same_across_pandas_and_arrow() -> None:
    table = _mixed()
    assert fingerprint(table.to_pandas()) == fingerprint(table)
    df = pd.DataFrame({"x": [1.5, 2.5], "n": [1, 2], "s": ["a", "b"], "t": [True, False]})
    assert fingerprint(df) == fingerprint(
        pa.table({"x": [1.5, 2.5], "n": [1, 2], "s": ["a", "b"], "t": [True, False]})
    )


def test_fingerprint_same_across_polars_and_arrow() -> None:
    pl = pytest.importorskip("polars")
    table = _mixed().select(["i", "f", "s"])
    assert fingerprint(pl.from_arrow(table)) == fingerprint(table)
    with_nulls = pa.table({"i": [1, None, 3], "f": [0.5, None, 1.5], "s": ["a", None, "c"]})
    assert fingerprint(pl.from_arrow(with_nulls)) == fingerprint(with_nulls)


def test_fingerprint_same_for_categoricals_from_pandas_and_polars() -> None:
    pl = pytest.importorskip("polars")
    values = ["b", "a", None, "b"]
    from_pandas = pd.DataFrame({"c": pd.Categorical(values)})  # int8 indices, sorted dictionary
    from_polars = pl.DataFrame({"c": pl.Series(values, dtype=pl.Categorical)})  # uint32
    assert fingerprint(from_pandas) == fingerprint(from_polars)


def test_fingerprint_ignores_chunking_and_slicing() -> None:
    table = _mixed(10_000)
    fp = fingerprint(table)
    assert fingerprint(_rechunk(table, 333)) == fp
    assert fingerprint(table.combine_chunks()) == fp
    doubled = pa.concat_tables([table, table])
    assert fingerprint(doubled.slice(10_000, 10_000)) == fp
    assert fingerprint(_rechunk(doubled, 777).slice(10_000, 10_000)) == fp
    assert fingerprint(doubled.slice(9_999, 10_000)) != fp


def test_fingerprint_ignores_layout_of_strings_and_nested_values() -> None:
    table = pa.table(
        {
            "s": pa.array(["ab", None, "", "c"]),
            "l": pa.array([[1, 2], None, [], [3]]),
            "st": pa.array([{"a": 1, "b": "x"}, None, {"a": None, "b": "y"}, {"a": 4, "b": ""}]),
            "m": pa.array(
                [[("a", 1)], None, [], [("b", 2), ("c", 3)]],
                type=pa.map_(pa.string(), pa.int64()),
            ),
        }
    )
    fp = fingerprint(table)
    assert fingerprint(table.cast(pa.schema([
        ("s", pa.large_string()),
        ("l", pa.large_list(pa.int64())),
        ("st", table.schema.field("st").type),
        ("m", table.schema.field("m").type),
    ]))) == fp  # fmt: skip
    assert fingerprint(pa.table({"s": pa.array(["ab", None, "", "c"], pa.string_view())})) == (
        fingerprint(table.select(["s"]))
    )
    tripled = pa.concat_tables([table, table, table])
    assert fingerprint(_rechunk(tripled, 3).slice(4, 4)) == fp
    assert fingerprint(tripled.combine_chunks().slice(4, 4)) == fp


def test_fingerprint_ignores_bytes_behind_null_slots() -> None:
    clean = pa.array([1, None, 3], pa.int64())
    garbage = pa.Array.from_buffers(
        pa.int64(),
        3,
        [clean.buffers()[0], pa.py_buffer(np.array([1, 999, 3], dtype="<i8").tobytes())],
        null_count=1,
    )
    assert garbage.to_pylist() == clean.to_pylist()
    assert fingerprint(pa.table({"x": garbage})) == fingerprint(pa.table({"x": clean}))

    # A null string whose offsets still cover bytes, and a null list still covering values.
    strings = pa.Array.from_buffers(
        pa.string(),
        2,
        [
            pa.array([True, False]).buffers()[1],
            pa.py_buffer(np.array([0, 1, 4], dtype="<i4").tobytes()),
            pa.py_buffer(b"axyz"),
        ],
    )
    assert fingerprint(pa.table({"s": strings})) == fingerprint(pa.table({"s": ["a", None]}))
    lists = pa.ListArray.from_arrays(
        pa.array([0, 1, 3], pa.int32()), pa.array([1, 8, 9]), mask=pa.array([False, True])
    )
    assert fingerprint(pa.table({"l": lists})) == fingerprint(pa.table({"l": [[1], None]}))


def test_fingerprint_validity_bitmap_presence_does_not_matter() -> None:
    with_bitmap = pa.array([1, 2, None]).slice(0, 2)  # carries a bitmap, no nulls in view
    assert with_bitmap.null_count == 0
    assert fingerprint(pa.table({"x": with_bitmap})) == fingerprint(pa.table({"x": [1, 2]}))


def test_fingerprint_dictionary_layout_is_not_data() -> None:
    a = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int8()), ["x", "y"])
    b = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), ["y", "x", "unused"])
    assert fingerprint(pa.table({"c": a})) == fingerprint(pa.table({"c": b}))
    # ...but a categorical is not a plain string column: that is a dtype change.
    assert fingerprint(pa.table({"c": a})) != fingerprint(pa.table({"c": ["x", "y", "x"]}))


# ---------------------------------------------------------------------- fingerprint: changes


@pytest.mark.parametrize("column", ["i", "f", "s", "b"])
def test_one_changed_cell_at_row_50000_changes_the_fingerprint(column: str) -> None:
    table = _mixed(100_000)
    values = table.column(column).to_pylist()
    values[50_000] = {"i": 5000, "f": 1e9, "s": "changed", "b": not values[50_000]}[column]
    changed = table.set_column(
        table.column_names.index(column), column, pa.array(values, table.schema.field(column).type)
    )
    assert fingerprint(changed) != fingerprint(table)


def test_rename_reorder_retype_and_row_order_change_the_fingerprint() -> None:
    table = pa.table({"a": [1, 2, 3], "b": [4, 5, 6]})
    fp = fingerprint(table)
    assert fingerprint(table.rename_columns(["a", "c"])) != fp
    assert fingerprint(table.select(["b", "a"])) != fp
    assert fingerprint(table.cast(pa.schema([("a", pa.int32()), ("b", pa.int64())]))) != fp
    assert fingerprint(table.cast(pa.schema([("a", pa.float64()), ("b", pa.int64())]))) != fp
    assert fingerprint(table.take([2, 1, 0])) != fp
    assert fingerprint(table.slice(0, 2)) != fp
    assert fingerprint(pa.table({"a": [1, 2, 3]})) != fp


def test_nan_null_and_value_are_three_different_things() -> None:
    prints = {
        fingerprint(pa.table({"x": pa.array(v, pa.float64())}))
        for v in ([1.0, float("nan")], [1.0, None], [1.0, 0.0])
    }
    assert len(prints) == 3


def test_pandas_nan_is_missing_like_arrow_null() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan]})
    assert fingerprint(df) == fingerprint(pa.table({"x": pa.array([1.0, None])}))


def test_negative_zero_and_nan_payloads_are_normalised() -> None:
    assert fingerprint({"x": np.array([0.0, 1.0])}) == fingerprint({"x": np.array([-0.0, 1.0])})
    other_nan = np.array([0x7FF8000000000001], dtype="<u8").view("<f8")
    assert math.isnan(other_nan[0])
    assert fingerprint({"x": other_nan}) == fingerprint({"x": np.array([np.nan])})
    f32 = np.array([-0.0, np.nan], dtype=np.float32)
    assert fingerprint({"x": f32}) == fingerprint({"x": np.array([0.0, np.nan], np.float32)})


def test_string_boundaries_are_unambiguous() -> None:
    assert fingerprint({"s": ["ab", "c"]}) != fingerprint({"s": ["a", "bc"]})
    assert fingerprint({"s": ["", "a"]}) != fingerprint({"s": ["a", ""]})
    assert fingerprint({"s": [None, "a"]}) != fingerprint({"s": ["", "a"]})
    assert fingerprint({"l": [[1, 2], [3]]}) != fingerprint({"l": [[1], [2, 3]]})
    assert fingerprint({"a": ["x"], "b": ["y"]}) != fingerprint({"ab": ["x"], "": ["y"]})


def test_nested_value_change_is_seen() -> None:
    base = {"st": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}
    assert fingerprint(base) != fingerprint({"st": [{"a": 1, "b": "x"}, {"a": 2, "b": "z"}]})
    assert fingerprint(base) != fingerprint({"st": [{"a": 1, "b": "x"}, None]})


def test_fingerprint_edge_shapes() -> None:
    empty = pa.table({"x": pa.array([], pa.int64()), "s": pa.array([], pa.string())})
    assert fingerprint(empty) == fingerprint(empty.to_pandas())
    assert fingerprint(empty) != fingerprint(pa.table({"x": pa.array([], pa.int64())}))
    assert fingerprint(pa.table({"n": pa.nulls(3)})) != fingerprint(pa.table({"n": pa.nulls(2)}))
    big = pa.table({f"c{i}": np.arange(300_000, dtype=np.int64) for i in range(4)})  # threaded
    assert fingerprint(big) == fingerprint(_rechunk(big, 65_536))


def test_unsupported_column_type_is_named() -> None:
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]
    )
    with pytest.raises(InvalidInput, match="union"):
        fingerprint(pa.table({"u": union}))


# ---------------------------------------------------------------------- slice_fingerprints


def _keyed(groups: int, rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = groups * rows
    gid = np.repeat(np.arange(groups), rows)
    table = pa.table(
        {
            "store": gid // 100,
            "sku": pa.array([f"sku{g % 100}" for g in gid]),
            "qty": rng.integers(0, 50, n),
            "price": rng.random(n),
        }
    )
    return table.take(pa.array(rng.permutation(n)))


def _group_rows(table: pa.Table, keys: list[str], values: tuple) -> pa.Table:
    mask = None
    for key, value in zip(keys, values, strict=True):
        column = table.column(key)
        part = pc.is_null(column) if value is None else pc.equal(column, value)
        mask = part if mask is None else pc.and_(mask, part)
    return table.filter(mask)


def test_slice_fingerprints_equal_fingerprint_of_each_group() -> None:
    table = _keyed(60, 30)
    result = slice_fingerprints(table, ["store", "sku"])
    assert len(result) == 60
    for key, fp in result.items():
        assert isinstance(key[0], int)
        assert isinstance(key[1], str)
        assert fp == fingerprint(_group_rows(table, ["store", "sku"], key))


def test_slice_fingerprints_keys_with_nulls_and_chunked_pandas_input() -> None:
    table = pa.table(
        {
            "k": pa.array(["a", None, "b", "a", None, "b", "a"]),
            "x": pa.array([1.0, 2.0, None, 4.0, float("nan"), -0.0, 7.0]),
            "l": pa.array([[1], [2], None, [], [5, 6], [7], [8]]),
        }
    )
    result = slice_fingerprints(_rechunk(table, 2), ["k"])
    assert list(result) == [("a",), (None,), ("b",)]  # order of first appearance
    for key, fp in result.items():
        assert fp == fingerprint(_group_rows(table, ["k"], key))
    frame = pd.DataFrame({"store": [1, 2, 1], "y": [0.5, 0.25, 0.125]})
    by_pandas = slice_fingerprints(frame, ["store"])
    assert by_pandas[(1,)] == fingerprint(pd.DataFrame({"store": [1, 1], "y": [0.5, 0.125]}))


def test_slice_fingerprints_float_and_dictionary_keys() -> None:
    table = pa.table(
        {
            "f": pa.array([0.0, -0.0, 1.5, 1.5]),
            "d": pa.array(["x", "x", "y", "x"]).dictionary_encode(),
        }
    )
    result = slice_fingerprints(table, ["f", "d"])
    assert set(result) == {(0.0, "x"), (1.5, "y"), (1.5, "x")}
    assert result[(0.0, "x")] == fingerprint(table.slice(0, 2))


def test_slice_fingerprints_half_float_keys() -> None:
    # Arrow has no float16 arithmetic: the key is widened (exactly) before -0.0 is folded.
    table = pa.table({"h": pa.array(np.array([0.0, -0.0, 1.5], np.float16)), "x": [1, 2, 3]})
    result = slice_fingerprints(table, ["h"])
    assert list(result) == [(0.0,), (1.5,)]
    assert result[(0.0,)] == fingerprint(table.slice(0, 2))


def test_slice_fingerprints_edge_cases() -> None:
    table = pa.table({"k": [1, 1], "x": [1, 2]})
    assert slice_fingerprints(table, []) == {(): fingerprint(table)}
    assert slice_fingerprints(table.slice(0, 0), ["k"]) == {}
    with pytest.raises(InvalidInput, match="'nope'"):
        slice_fingerprints(table, ["nope"])
    with pytest.raises(InvalidInput, match=r"by=\['k'\]"):
        slice_fingerprints(table, "k")


def test_slice_fingerprints_ten_thousand_groups_in_one_pass() -> None:
    table = _keyed(10_000, 100)
    start = time.perf_counter()
    result = slice_fingerprints(table, ["store", "sku"])
    elapsed = time.perf_counter() - start
    assert len(result) == 10_000
    key = (42, "sku7")
    assert result[key] == fingerprint(_group_rows(table, ["store", "sku"], key))
    assert elapsed < 20  # about 0.5 s on 2 cores; generous for loaded CI machines


# ---------------------------------------------------------------------- profile


def test_profile_numeric_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(10, 3, 5000)
    x[::97] = np.nan
    df = pd.DataFrame({"x": x, "n": rng.integers(0, 100, 5000)})
    prof = profile(df, bins=10)
    assert prof["rows"] == 5000
    col = prof["columns"]["x"]
    finite = x[~np.isnan(x)]
    assert col["kind"] == "numeric"
    assert col["nulls"] == int(np.isnan(x).sum())
    assert col["count"] == len(finite)
    assert col["min"] == pytest.approx(finite.min())
    assert col["max"] == pytest.approx(finite.max())
    assert col["mean"] == pytest.approx(finite.mean())
    assert col["std"] == pytest.approx(pd.Series(finite).std())
    assert col["edges"] == pytest.approx(np.quantile(finite, np.linspace(0, 1, 11)).tolist())
    # Right-closed bins, the first one closed at the minimum.
    edges = np.array(col["edges"])
    expected = [int(((finite >= edges[0]) & (finite <= edges[1])).sum())]
    expected += [int(((finite > edges[i]) & (finite <= edges[i + 1])).sum()) for i in range(1, 10)]
    assert col["counts"] == expected
    assert sum(col["counts"]) == col["count"]
    assert (col["under"], col["over"]) == (0, 0)
    ints = prof["columns"]["n"]
    assert isinstance(ints["min"], int) and isinstance(ints["max"], int)
    assert len(ints["edges"]) == len(set(ints["edges"]))


def test_profile_deduplicates_edges_and_handles_constant_and_empty_columns() -> None:
    prof = profile(
        pa.table(
            {
                "skewed": pa.array([0] * 90 + list(range(1, 11))),
                "const": pa.array([7.0] * 100),
                "empty": pa.array([None] * 100, pa.float64()),
            }
        )
    )
    skewed = prof["columns"]["skewed"]
    assert skewed["edges"] == sorted(set(skewed["edges"]))
    assert skewed["edges"][0] == 0.0 and skewed["counts"][0] == 90
    assert prof["columns"]["const"]["edges"] == [7.0]
    assert prof["columns"]["const"]["counts"] == [100]
    assert prof["columns"]["const"]["std"] == 0.0
    empty = prof["columns"]["empty"]
    assert empty["count"] == 0 and empty["nulls"] == 100
    assert empty["mean"] is None and empty["edges"] == [] and empty["counts"] == []


def test_profile_categorical_matches_pandas() -> None:
    rng = np.random.default_rng(2)
    values = pd.Series(rng.choice(list("abcdefghij"), 3000, p=np.linspace(1, 10, 10) / 55))
    values[::50] = None
    df = pd.DataFrame({"c": values, "flag": rng.random(3000) < 0.3})
    prof = profile(df, top_k=3)
    col = prof["columns"]["c"]
    counts = values.value_counts()
    assert col["kind"] == "categorical"
    assert col["count"] == int(values.notna().sum())
    assert col["nulls"] == int(values.isna().sum())
    assert col["distinct"] == values.nunique()
    assert [t["value"] for t in col["top"]] == counts.index[:3].tolist()
    assert [t["count"] for t in col["top"]] == counts.iloc[:3].tolist()
    assert col["other"] == int(counts.iloc[3:].sum())
    flag = prof["columns"]["flag"]
    assert {t["value"]: t["count"] for t in flag["top"]} == df["flag"].value_counts().to_dict()


def test_profile_temporal_and_other_columns() -> None:
    prof = profile(
        pd.DataFrame(
            {
                "day": pd.to_datetime(["2024-01-03", None, "2024-01-01"]),
                "blob": [b"a", b"b", None],
            }
        )
    )
    day = prof["columns"]["day"]
    assert day["kind"] == "temporal"
    assert (day["min"], day["max"], day["nulls"]) == (
        "2024-01-01T00:00:00",
        "2024-01-03T00:00:00",
        1,
    )
    assert prof["columns"]["blob"] == {"type": "binary", "kind": "other", "count": 2, "nulls": 1}


def test_profile_is_plain_json_without_nan_or_inf() -> None:
    table = pa.table(
        {
            "x": pa.array([1.0, float("inf"), float("-inf"), float("nan"), None, 2.0]),
            "one": pa.array([5.0, None, None, None, None, None]),
            "s": pa.array(["a", None, "b", "a", "a", None]),
            "d": pa.array([1, 2, 3, 4, 5, 6], pa.decimal128(5, 1)),
        }
    )
    prof = profile(table)
    text = json.dumps(prof, allow_nan=False)
    assert json.loads(text) == prof
    x = prof["columns"]["x"]
    assert (x["count"], x["nulls"], x["infinite"]) == (2, 2, 2)
    assert (x["under"], x["over"]) == (1, 1)
    assert prof["columns"]["one"]["std"] is None
    assert prof["columns"]["d"]["mean"] == pytest.approx(3.5)


def test_profile_validates_arguments() -> None:
    with pytest.raises(InvalidInput, match="bins"):
        profile({"x": [1]}, bins=0)
    with pytest.raises(InvalidInput, match="top_k"):
        profile({"x": [1]}, top_k=-1)
    with pytest.raises(InvalidInput, match="repeated"):
        profile(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]))


def test_bin_counts_convention() -> None:
    edges = [1.0, 2.0, 3.0]
    out = bin_counts([1.0, 1.5, 2.0, 2.5, 3.0, 0.5, 3.5, float("nan"), float("inf")], edges)
    assert out == {"counts": [3, 2], "under": 1, "over": 2}
    assert bin_counts([4.0, 4.0, 5.0], [4.0]) == {"counts": [2], "under": 0, "over": 1}
    assert bin_counts([1.0], []) == {"counts": [], "under": 0, "over": 1}


def test_profile_of_values_near_the_float_limit_stays_plain_json() -> None:
    import json

    prof = profile(pd.DataFrame({"x": [-1.7e308, 1.7e308, 0.0]}))
    col = prof["columns"]["x"]
    json.dumps(prof, allow_nan=False)  # no inf or NaN anywhere
    assert col["edges"][0] == -1.7e308 and col["edges"][-1] == 1.7e308
    assert sum(col["counts"]) == 3 and col["mean"] is not None


def test_small_categorical_profiles_match_the_arrow_path(monkeypatch) -> None:
    """Per-key slices are counted in Python; the figures and order must be Arrow's."""
    import random

    from shoal.data import _profile

    rng = random.Random(0)
    for trial in range(300):
        choices = (["a", "b", "é", "Z", "zz", "", None, "日本"] if trial % 2 else
                   [f"x{i}" for i in range(60)] + [None])  # fmt: skip
        array = pa.array([rng.choice(choices) for _ in range(rng.randint(0, 200))])
        small = {k: _profile._categorical(array, k) for k in (0, 3, 50)}
        monkeypatch.setattr(_profile, "_SMALL", -1)
        assert small == {k: _profile._categorical(array, k) for k in (0, 3, 50)}
        monkeypatch.undo()


# ---------------------------------------------------------------------- profile_slices


def _slices_world(seed: int) -> tuple[pa.Table, list[tuple[int, int]]]:
    """Columns of every kind, with the cases profile treats apart, and ragged key ranges."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 2, 3, 7, 50, 50, 50, 120, 5000], size=40)
    n = int(lengths.sum())
    stops = np.cumsum(lengths)
    bounds = list(zip((stops - lengths).tolist(), stops.tolist(), strict=True))
    with_nan = rng.normal(size=n)
    with_nan[rng.random(n) < 0.01] = np.nan
    with_inf = rng.normal(size=n)
    with_inf[rng.random(n) < 0.01] = np.inf
    table = pa.table({
        "f": pa.array(rng.normal(5, 3, n) * rng.choice([1e-9, 1, 1e12], n)),
        "ties": pa.array(rng.integers(0, 3, n).astype(np.float64)),  # duplicate edges
        "i": pa.array(rng.integers(-(2**62), 2**62, n)),  # beyond float64's exact ints
        "u8": pa.array(rng.integers(0, 255, n).astype(np.uint8)),
        "f32": pa.array(rng.normal(size=n).astype(np.float32)),
        "const": pa.array(np.full(n, 7.5)),
        "huge": pa.array(rng.choice([-1.7e308, 1.7e308, 0.0], n)),  # overflowing spreads
        "nan": pa.array(with_nan),
        "inf": pa.array(with_inf),
        "nulls": pa.array([None if v < 0.05 else float(v) for v in rng.random(n)]),
        "s": pa.array([None if v == 9 else f"k{v}" for v in rng.integers(0, 10, n)]),
        "b": pa.array(rng.random(n) < 0.3),
        "d": pa.array(rng.integers(0, 10, n).astype(str)).dictionary_encode(),
        "day": pa.array(rng.integers(0, 1000, n).astype("datetime64[D]")),
        "dec": pa.array([int(v) for v in rng.integers(0, 99, n)], pa.decimal128(5, 1)),
    })  # fmt: skip
    return table, bounds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_profile_slices_equal_profile_of_each_slice(seed: int) -> None:
    """The batched baselines of fleet training are the per-slice profiles, bit for bit."""
    from shoal.data import profile_slices

    table, bounds = _slices_world(seed)
    bounds = [*bounds, (3, 3), (10, 60), (0, 1)]  # empty, overlapping, out of order
    for bins, top_k in ((10, 50), (3, 2), (1, 0)):
        batched = profile_slices(_rechunk(table, 997), bounds, bins=bins, top_k=top_k)
        single = [profile(table.slice(a, b - a), bins=bins, top_k=top_k) for a, b in bounds]
        assert len(batched) == len(single)
        for got, want in zip(batched, single, strict=True):
            # JSON text: equal dicts could still differ in -0.0 vs 0.0 or int vs float.
            assert json.dumps(got, allow_nan=False) == json.dumps(want, allow_nan=False)


def test_profile_slices_checks_its_arguments() -> None:
    from shoal.data import profile_slices

    table = pa.table({"x": [1.0, 2.0, 3.0]})
    assert profile_slices(table, []) == []
    with pytest.raises(InvalidInput, match="within the table"):
        profile_slices(table, [(2, 4)])
    with pytest.raises(InvalidInput, match="bins"):
        profile_slices(table, [(0, 3)], bins=0)
    with pytest.raises(InvalidInput, match="repeated"):
        profile_slices(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]), [(0, 1)])

"""The canonical bytes of an Arrow column: what a fingerprint hashes.

Why a canonical form: the same values can sit in memory in many layouts: split into chunks,
sliced at an offset, with or without a validity bitmap when nothing is null, with garbage
behind null slots, with 32- or 64-bit string offsets or as string views, dictionary-encoded
with any index width. A fingerprint that hashed Arrow's buffers as they are would change
with each of these. This module maps a column to bytes that depend on its logical type and
values only, and that are *self-delimiting*: given the row count, every part's length is
known from the parts before it, so two different columns never give the same bytes.

The encoding of ``n`` rows, part by part (all integers little-endian):

- fixed-width values (integers, floats, dates, times, timestamps, durations, decimals,
  fixed-size binary): the values, ``width`` bytes per row, null slots zeroed. Floats are
  normalised: ``-0.0`` becomes ``0.0`` (they compare equal everywhere, and arithmetic
  produces either), and every NaN becomes the one quiet NaN (payload bits are noise).
  NaN stays distinct from null, and from every number.
- bool: one byte per row, 0 or 1 (null slots 0).
- string / binary: an int64 length per row (null slots 0), then the bytes of all rows
  back to back. The lengths fix the boundaries, so ``["ab", "c"]`` and ``["a", "bc"]``
  differ.
- list / fixed-size list / map: an int64 length per row (null slots 0), then the child's
  encoding over the rows of all lists: a validity byte per child row, then its parts.
- struct: per field, a validity byte per row, then the field's parts.
- dictionary: the decoded values (the dictionary and index width are layout, not data).
- null: nothing beyond the validity.

Whether a row is null is recorded by the caller (one byte per row, and only when some row is
null) so a column with no nulls costs no extra bytes to hash.

Why parts with row boundaries rather than one byte string: the encoding of rows
``[a, b)`` is then a slice of every part, with no re-encoding. ``slice_fingerprints``
encodes a sorted table once and hashes ten thousand groups as slices of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shoal.errors import InvalidInput

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    _ListLike = (
        pa.ListType[Any] | pa.LargeListType[Any] | pa.ListViewType[Any] | pa.LargeListViewType[Any]
    )

_CANONICAL_NAN = {2: np.float16("nan"), 4: np.float32("nan"), 8: np.float64("nan")}


@dataclass
class Part:
    """A flat byte buffer and where each row's bytes start in it.

    Either ``width`` (bytes per row, rows start at 0) or ``bounds`` (``n + 1`` absolute byte
    offsets into ``data``) says where the bytes of a row range are.
    """

    data: memoryview
    width: int = 0
    bounds: np.ndarray | None = None

    def span(self, start: int, stop: int) -> memoryview:
        """The bytes of rows ``[start, stop)``."""
        if self.bounds is None:
            return self.data[start * self.width : stop * self.width]
        return self.data[int(self.bounds[start]) : int(self.bounds[stop])]

    def through(self, offsets: np.ndarray) -> Part:
        """This part as seen by a parent whose row ``i`` owns child rows ``offsets[i:i+2]``."""
        if self.bounds is None:
            return Part(self.data, bounds=offsets * self.width)
        return Part(self.data, bounds=self.bounds[offsets])


@dataclass
class ColumnCode:
    """The canonical encoding of one Arrow array (one chunk)."""

    label: str
    length: int
    null_count: int
    valid: np.ndarray | None
    """One byte per row, 1 = valid; None when no row is null."""
    parts: list[Part]
    _null_prefix: np.ndarray | None = field(default=None, repr=False)

    def nulls_in(self, start: int, stop: int) -> int:
        """How many of rows ``[start, stop)`` are null (cumulative counts, built once)."""
        if self.valid is None:
            return 0
        if start == 0 and stop == self.length:
            return self.null_count
        if self._null_prefix is None:
            prefix = np.zeros(self.length + 1, dtype=np.int64)
            np.cumsum(self.valid == 0, out=prefix[1:])
            self._null_prefix = prefix
        return int(self._null_prefix[stop] - self._null_prefix[start])


def encode(array: pa.Array[Any]) -> ColumnCode:
    """Encode one array; raises :class:`InvalidInput` for types with no canonical form."""
    label = type_label(array.type)
    array = _decoded(array)
    valid = _valid_bytes(array) if array.null_count else None
    return ColumnCode(
        label=label,
        length=len(array),
        null_count=array.null_count,
        valid=valid,
        parts=_parts(array),
    )


def type_label(dtype: pa.DataType) -> str:
    """The logical type as a canonical JSON string.

    Layout-only differences map to one label: ``string``, ``large_string`` and
    ``string_view`` are all ``"string"``; a dictionary is labelled by its value type; list
    child field names (``item`` vs ``element``) and nullability flags are ignored. Widths,
    units, time zones and decimal precision are kept: they change what the values mean.
    """
    return json.dumps(_label(dtype), separators=(",", ":"))


def _label(dtype: pa.DataType) -> Any:
    t = pa.types
    if t.is_string(dtype) or t.is_large_string(dtype) or _is(dtype, "is_string_view"):
        return "string"
    if t.is_binary(dtype) or t.is_large_binary(dtype) or _is(dtype, "is_binary_view"):
        return "binary"
    if t.is_dictionary(dtype):
        return ["dictionary", _label(dtype.value_type)]
    if t.is_map(dtype):
        return ["map", _label(dtype.key_type), _label(dtype.item_type)]
    if t.is_fixed_size_list(dtype):
        return ["fixed_size_list", dtype.list_size, _label(dtype.value_type)]
    if _is_list(dtype):
        return ["list", _label(dtype.value_type)]
    if t.is_struct(dtype):
        return ["struct", [[f.name, _label(f.type)] for f in dtype]]
    if isinstance(dtype, pa.BaseExtensionType):
        return ["extension", dtype.extension_name, _label(dtype.storage_type)]
    return str(dtype)


def _is(dtype: pa.DataType, predicate: str) -> bool:
    """``pa.types.<predicate>(dtype)``, False on pyarrow versions that lack the type."""
    check = getattr(pa.types, predicate, None)
    return bool(check and check(dtype))


def _is_list(dtype: pa.DataType) -> TypeIs[_ListLike]:
    t = pa.types
    return (
        t.is_list(dtype)
        or t.is_large_list(dtype)
        or _is(dtype, "is_list_view")
        or _is(dtype, "is_large_list_view")
    )


def _is_fixed_width(dtype: pa.DataType) -> bool:
    t = pa.types
    return (
        t.is_integer(dtype)
        or t.is_floating(dtype)
        or t.is_temporal(dtype)
        or t.is_decimal(dtype)
        or t.is_fixed_size_binary(dtype)
    )


def _parts(array: pa.Array[Any]) -> list[Part]:
    dtype = array.type
    t = pa.types
    if t.is_null(dtype):
        return []
    if t.is_boolean(dtype):
        return [_bool_part(array)]
    if t.is_dictionary(dtype) or isinstance(dtype, pa.BaseExtensionType):
        return _parts(_decoded(array))
    if t.is_string(dtype) or t.is_large_string(dtype) or _is(dtype, "is_string_view"):
        return _bytes_parts(array, pa.large_string(), "")
    if t.is_binary(dtype) or t.is_large_binary(dtype) or _is(dtype, "is_binary_view"):
        return _bytes_parts(array, pa.large_binary(), b"")
    if t.is_floating(dtype):
        return [_float_part(array)]
    if _is_fixed_width(dtype):
        return [_fixed_part(array, dtype.byte_width)]
    if t.is_map(dtype):
        entries = pa.struct([("key", dtype.key_type), ("value", dtype.item_type)])
        return _list_parts(array.cast(pa.large_list(entries)))
    if t.is_fixed_size_list(dtype) or _is_list(dtype):
        return _list_parts(array.cast(pa.large_list(dtype.value_type)))
    if t.is_struct(dtype):
        parts: list[Part] = []
        struct = cast("pa.StructArray", array)
        for child in struct.flatten():  # parent nulls are merged into each field
            parts.append(_valid_part(child))
            parts.extend(_parts(child))
        return parts
    raise InvalidInput(
        f"cannot fingerprint a column of Arrow type {dtype}; cast it to a supported type "
        "(numbers, strings, binary, bool, temporal, decimal, list, struct, map, dictionary).",
        field="frame",
    )


def _values(array: pa.Array[Any], width: int, dtype: str) -> np.ndarray:
    """The value buffer of ``array`` (honouring its offset) as a numpy view, no copy."""
    n = len(array)
    buffer = array.buffers()[1]
    if n == 0 or buffer is None:
        return np.zeros(0, dtype=dtype)
    count = n * width // np.dtype(dtype).itemsize
    return np.frombuffer(memoryview(buffer), dtype=dtype, count=count, offset=array.offset * width)


def _fixed_part(array: pa.Array[Any], width: int) -> Part:
    raw = _values(array, width, "u1").reshape(len(array), width)
    if array.null_count:
        raw = raw.copy()
        raw[_valid_bytes(array) == 0] = 0
    return Part(np.ascontiguousarray(raw).reshape(-1).data, width=width)


def _float_part(array: pa.Array[Any]) -> Part:
    width = array.type.byte_width
    values = _values(array, width, f"<f{width}")
    values = values + values.dtype.type(0.0)  # a copy, with -0.0 turned into +0.0
    nan = np.isnan(values)
    if nan.any():
        values[nan] = _CANONICAL_NAN[width]
    if array.null_count:
        values[_valid_bytes(array) == 0] = 0
    return Part(values.view("u1").data, width=width)


def _bool_part(array: pa.Array[Any]) -> Part:
    if array.null_count:
        array = array.fill_null(False)
    values = array.to_numpy(zero_copy_only=False).view("u1")
    return Part(np.ascontiguousarray(values).data, width=1)


def _bytes_parts(array: pa.Array[Any], large: pa.DataType, empty: str | bytes) -> list[Part]:
    n = len(array)
    if n == 0:
        return [Part(memoryview(b""), width=8), Part(memoryview(b""), bounds=np.zeros(1, "i8"))]
    if array.type != large:
        array = array.cast(large)
    if array.null_count:
        array = array.fill_null(pa.scalar(empty, type=large))
    buffers = array.buffers()
    assert buffers[1] is not None  # a string or binary array with rows has its offsets
    offsets = np.frombuffer(
        memoryview(buffers[1]), dtype="<i8", count=n + 1, offset=array.offset * 8
    )
    data = buffers[2]
    lengths = np.diff(offsets)
    return [
        Part(lengths.view("u1").data, width=8),
        Part(memoryview(data if data is not None else b""), bounds=offsets),
    ]


def _list_parts(array: pa.Array[Any]) -> list[Part]:
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy().astype("<i8")
    offsets = np.zeros(len(array) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    lists = cast("pa.LargeListArray[Any]", array)  # callers cast to large_list
    child = lists.flatten()  # only the values of non-null lists, from offset 0
    parts = [Part(lengths.view("u1").data, width=8)]
    parts.append(_valid_part(child).through(offsets))
    parts.extend(part.through(offsets) for part in _parts(child))
    return parts


def _decoded(array: pa.Array[Any]) -> pa.Array[Any]:
    """The values a dictionary or extension array stands for (their nulls included)."""
    while True:
        if pa.types.is_dictionary(array.type):
            array = cast("pa.DictionaryArray[Any, Any]", array).dictionary_decode()
        elif isinstance(array.type, pa.BaseExtensionType):
            array = cast("pa.ExtensionArray[Any]", array).storage
        else:
            return array


def _valid_bytes(array: pa.Array[Any]) -> np.ndarray:
    return array.is_valid().to_numpy(zero_copy_only=False).view("u1")


def _valid_part(array: pa.Array[Any]) -> Part:
    array = _decoded(array)
    valid = _valid_bytes(array) if array.null_count else np.ones(len(array), dtype="u1")
    return Part(np.ascontiguousarray(valid).data, width=1)

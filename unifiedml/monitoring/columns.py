"""Column kinds and the conversions every accumulator shares (missing values made explicit)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["add_category_counts", "as_float_values", "as_strings", "column_kind", "sum_squares"]


def column_kind(dtype: pa.DataType) -> str:
    """``numeric``, ``categorical``, ``empty`` (all-null type) or ``unsupported`` for an arrow type."""
    if pa.types.is_dictionary(dtype):
        return "categorical"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_boolean(dtype) or pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "categorical"
    if pa.types.is_null(dtype):
        return "empty"
    return "unsupported"


def _float_view(arr: pa.Array) -> np.ndarray:
    """A read-only zero-copy view of a float64 array's values (nulls already filled).

    Built from the data buffer directly: ``Array.to_numpy`` imports pandas on
    first use (150 ms and 60 MB that a drift check never needs).
    """
    data = arr.buffers()[1]
    if data is None or not len(arr):
        return np.empty(0, dtype=np.float64)
    return np.frombuffer(data, dtype=np.float64, count=len(arr), offset=arr.offset * 8)


def as_float_values(arr: pa.Array | pa.ChunkedArray, *, copy: bool = False) -> tuple[np.ndarray, int]:
    """The finite values as a float64 array, and how many are missing (null, NaN or infinite).

    Without ``copy`` the array may be a read-only view of Arrow's buffer (no
    copy for a float64 column without missing values); with it, a fresh array.
    Infinite values count as missing because no distance is defined for them.
    """
    if pa.types.is_null(arr.type):
        return np.empty(0, dtype=np.float64), len(arr)
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    fresh = False
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 1:
            x = _float_view(arr.chunk(0))
        else:
            fresh = True
            x = np.concatenate([_float_view(c) for c in arr.chunks]) if arr.num_chunks \
                else np.empty(0, dtype=np.float64)
    else:
        x = _float_view(arr)
    finite = np.isfinite(x)
    n_bad = len(x) - int(np.count_nonzero(finite))
    if n_bad:
        return x[finite], n_bad
    if copy and not fresh:
        x = np.array(x, dtype=np.float64, copy=True)
    return x, 0


def as_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Categories as strings (booleans as ``true``/``false``, numbers as their text).

    A dictionary array of strings is returned as it is: counting it works on
    its small dictionary, and its values read back as the same strings.
    """
    if pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type):
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode() if isinstance(arr, pa.Array) else pa.chunked_array(
            [c.dictionary_decode() for c in arr.chunks], type=arr.type.value_type)
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_null(arr.type):
        return pc.cast(arr, pa.string())
    return pc.cast(arr, pa.string())


def add_category_counts(arr: pa.Array | pa.ChunkedArray, counts: dict[str, int]) -> tuple[int, int]:
    """Add ``arr``'s category counts to ``counts``; returns (values counted, values missing)."""
    strings = as_strings(arr)
    missing = strings.null_count
    if missing == len(strings):
        return 0, missing
    vc = pc.value_counts(pc.drop_null(strings))
    counted = 0
    for value, count in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
        counts[value] = counts.get(value, 0) + count
        counted += count
    return counted, missing


def sum_squares(x: np.ndarray, centre: float = 0.0) -> float:
    """Sum of ``(x - centre)**2`` in blocks (no full-size temporary; einsum, not a multi-threaded BLAS call)."""
    total = 0.0
    block = 1 << 17
    buf = np.empty(min(len(x), block), dtype=np.float64)
    for start in range(0, len(x), block):
        part = buf[: len(x[start : start + block])]
        np.subtract(x[start : start + block], centre, out=part)
        total += float(np.einsum("i,i->", part, part))
    return total

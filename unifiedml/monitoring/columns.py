"""Column kinds and the conversions every accumulator shares (missing values made explicit)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["as_float_values", "as_strings", "column_kind"]


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


def as_float_values(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """The non-missing values as a writable float64 array, and the number missing (null or NaN)."""
    if pa.types.is_null(arr.type):
        return np.empty(0, dtype=np.float64), len(arr)
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    if arr.null_count:
        arr = pc.fill_null(arr, float("nan"))
    if isinstance(arr, pa.ChunkedArray):
        x = np.concatenate([c.to_numpy(zero_copy_only=False) for c in arr.chunks]) if arr.num_chunks else \
            np.empty(0, dtype=np.float64)
    else:
        x = arr.to_numpy(zero_copy_only=False)
    nan = np.isnan(x)
    n_nan = int(nan.sum())
    values = x[~nan] if n_nan else np.array(x, dtype=np.float64, copy=True)
    return values, n_nan


def as_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Categories as strings (booleans as ``true``/``false``, numbers as their text)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode() if isinstance(arr, pa.Array) else pa.chunked_array(
            [c.dictionary_decode() for c in arr.chunks], type=arr.type.value_type)
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_null(arr.type):
        return pc.cast(arr, pa.string())
    return pc.cast(arr, pa.string())

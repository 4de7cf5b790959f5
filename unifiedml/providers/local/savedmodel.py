"""A SavedModel's serving signature, and the TF Serving JSON payloads it accepts and answers.

:class:`Signature` describes the inputs (name, dtype, shape) and outputs of a
signature and turns a decoded request body (``{"instances": [...]}`` rows or
``{"inputs": {...}}`` columns) into a :class:`Payload` of flat per-input
columns, raising :class:`PayloadError` (an HTTP 400) that names the offending
feature. Parsing is pure Python and does not import TensorFlow, so the no-op
server and the tests can use it without a model.

:class:`LoadedModel` wraps ``tf.saved_model.load``: it merges several payloads
into one model call and splits the outputs back per payload. TensorFlow is
imported only by :meth:`LoadedModel.load`.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InputSpec", "LoadedModel", "OutputSpec", "Payload", "PayloadError", "Signature"]

logger = logging.getLogger(__name__)

_FLOAT = ("float16", "bfloat16", "float32", "float64", "half", "double")
_INT = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_TF_SERVING_DTYPES = {
    "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "bfloat16": "DT_BFLOAT16",
    "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
    "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64",
    "string": "DT_STRING", "bool": "DT_BOOL",
}


class PayloadError(ValueError):
    """A request body that does not fit the signature; the message names the feature (HTTP 400)."""


@dataclass(frozen=True)
class InputSpec:
    """One signature input. ``shape`` includes the batch dimension (``None`` = any size)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def row_shape(self) -> tuple[int | None, ...]:
        """The shape of one instance (the shape without the batch dimension)."""
        return self.shape[1:]

    @property
    def fixed(self) -> bool:
        """True when every non-batch dimension is known, so rows of different requests can be merged."""
        return all(d is not None for d in self.row_shape)

    @property
    def kind(self) -> str:
        """``float``, ``int``, ``bool`` or ``string``: which JSON values are accepted."""
        if self.dtype in _FLOAT:
            return "float"
        if self.dtype in _INT:
            return "int"
        if self.dtype == "bool":
            return "bool"
        return "string"


@dataclass(frozen=True)
class OutputSpec:
    """One signature output; ``shape`` includes the batch dimension."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]


@dataclass
class Payload:
    """A validated request: ``columns`` maps each input name to its values flattened row-major.

    ``rows`` is the number of instances, ``columnar`` whether the client sent
    ``inputs`` (and so expects ``outputs`` back), ``merge`` whether the rows may
    be batched with other requests (all non-batch dimensions known).
    """

    columns: dict[str, list[Any]]
    rows: int
    columnar: bool
    merge: bool = True
    nested: dict[str, list[Any]] = field(default_factory=dict)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


class Signature:
    """The inputs and outputs of one serving signature, and the JSON payloads that fit them.

    Immutable after construction; its methods are thread-safe.
    """

    def __init__(self, *, inputs: Sequence[InputSpec], outputs: Sequence[OutputSpec], name: str) -> None:
        if not inputs:
            raise ValueError("the signature has no inputs")
        self.name = name
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.input_names = [s.name for s in self.inputs]
        self._by_name = {s.name: s for s in self.inputs}
        self._single = self.inputs[0] if len(self.inputs) == 1 else None
        self._convert = {s.name: _converter(s) for s in self.inputs}
        self._scalar_rows = all(s.row_shape in ((), (1,)) for s in self.inputs)
        self._string_idx = [i for i, s in enumerate(self.inputs) if s.kind == "string"]

    # -- description -------------------------------------------------------
    def metadata(self, model_name: str) -> dict[str, Any]:
        """The body of ``GET /v1/models/{name}/metadata`` in TensorFlow Serving's layout."""

        def tensor(dtype: str, shape: Sequence[int | None], tname: str) -> dict[str, Any]:
            return {
                "dtype": _TF_SERVING_DTYPES.get(dtype, "DT_INVALID"),
                "tensor_shape": {"dim": [{"size": str(-1 if d is None else d), "name": ""} for d in shape],
                                 "unknown_rank": False},
                "name": tname,
            }

        sig = {
            "inputs": {s.name: tensor(s.dtype, s.shape, f"{self.name}_{s.name}:0") for s in self.inputs},
            "outputs": {o.name: tensor(o.dtype, o.shape, f"StatefulPartitionedCall:{i}")
                        for i, o in enumerate(self.outputs)},
            "method_name": "tensorflow/serving/predict",
        }
        return {
            "model_spec": {"name": model_name, "signature_name": "", "version": "1"},
            "metadata": {"signature_def": {"signature_def": {self.name: sig}}},
        }

    # -- parsing -----------------------------------------------------------
    def parse(self, body: Any) -> Payload:
        """Validate a decoded request body into a :class:`Payload`.

        Accepts ``{"instances": [...]}`` (one dict of feature -> value per row,
        or for a single-input model one value per row) and ``{"inputs": ...}``
        (feature -> list of values, or the list itself for a single-input
        model). Raises :class:`PayloadError` naming the feature on any mismatch.
        """
        if not isinstance(body, dict):
            raise PayloadError("the body must be a JSON object with 'instances' or 'inputs'")
        sig_name = body.get("signature_name")
        if sig_name not in (None, "", self.name, "serving_default"):
            raise PayloadError(f"unknown signature_name {sig_name!r}; this model serves {self.name!r}")
        if "instances" in body:
            if "inputs" in body:
                raise PayloadError("send either 'instances' or 'inputs', not both")
            return self._parse_instances(body["instances"])
        if "inputs" in body:
            return self._parse_inputs(body["inputs"])
        raise PayloadError("the body must be a JSON object with 'instances' or 'inputs'")

    def _parse_instances(self, instances: Any) -> Payload:
        if not isinstance(instances, list) or not instances:
            raise PayloadError("'instances' must be a non-empty list")
        fast = self._parse_scalar_dicts(instances) if self._scalar_rows else None
        if fast is not None:
            return fast
        columns: dict[str, list[Any]] = {n: [] for n in self.input_names}
        single = self._single
        for i, inst in enumerate(instances):
            if isinstance(inst, dict):
                for name in inst:
                    if name not in self._by_name:
                        raise PayloadError(f"instance {i}: unknown feature {name!r}; expected "
                                           f"{', '.join(self.input_names)}")
                for name, conv in self._convert.items():
                    if name not in inst:
                        raise PayloadError(f"instance {i}: missing feature {name!r}")
                    conv(inst[name], columns[name], i)
            elif single is not None:
                self._convert[single.name](inst, columns[single.name], i)
            else:
                raise PayloadError(f"instance {i}: expected an object of feature -> value with "
                                   f"{', '.join(self.input_names)}")
        return Payload(columns=columns, rows=len(instances), columnar=False,
                       merge=all(s.fixed for s in self.inputs))

    def _parse_scalar_dicts(self, instances: list[Any]) -> Payload | None:
        """The common tabular case in bulk: dict rows holding exactly the inputs, plain scalar values.

        Returns None whenever anything is unusual (a missing or extra key, a
        value needing conversion or an error message), and the row-by-row
        parser then handles it; so both paths accept and reject the same bodies.
        """
        n = len(self.inputs)
        if not all(type(inst) is dict and len(inst) == n for inst in instances):
            return None
        try:
            columns = {name: [inst[name] for inst in instances] for name in self.input_names}
        except KeyError:
            return None
        for spec in self.inputs:
            col = columns[spec.name]
            kind = spec.kind
            if kind == "float":
                ok = all(type(v) is float and v == v for v in col)  # NaN (v != v) becomes None below
            elif kind == "string":
                ok = all(type(v) is str for v in col)
            elif kind == "int":
                ok = all(type(v) is int for v in col)
            else:
                ok = all(type(v) is bool for v in col)
            if not ok:
                return None
        return Payload(columns=columns, rows=len(instances), columnar=False)

    def _parse_inputs(self, inputs: Any) -> Payload:
        if not isinstance(inputs, dict):
            if self._single is None:
                raise PayloadError("'inputs' must be an object of feature -> list of values")
            inputs = {self._single.name: inputs}
        for name in inputs:
            if name not in self._by_name:
                raise PayloadError(f"unknown feature {name!r}; expected {', '.join(self.input_names)}")
        columns: dict[str, list[Any]] = {}
        rows: int | None = None
        first = ""
        for spec in self.inputs:
            if spec.name not in inputs:
                raise PayloadError(f"missing feature {spec.name!r}")
            values = inputs[spec.name]
            if not isinstance(values, list) or not values:
                raise PayloadError(f"feature {spec.name!r}: expected a non-empty list with one value per row")
            if rows is None:
                rows, first = len(values), spec.name
            elif len(values) != rows:
                raise PayloadError(
                    f"feature {spec.name!r} has {len(values)} rows but feature {first!r} has {rows}")
            out: list[Any] = []
            conv = self._convert[spec.name]
            for i, v in enumerate(values):
                conv(v, out, i)
            columns[spec.name] = out
        return Payload(columns=columns, rows=rows or 0, columnar=True,
                       merge=all(s.fixed for s in self.inputs))

    # -- capture -----------------------------------------------------------
    def capture_rows(self, payload: Payload) -> list[dict[str, Any]]:
        """The payload as one dict of input name -> value per row (NaN as ``None``), for the capture log.

        A scalar-per-row input (shape ``(None,)`` or ``(None, 1)``) is given as
        the scalar; larger rows as nested lists. Bytes are decoded as UTF-8.
        """
        if self._scalar_rows:
            cols = [payload.columns[n] for n in self.input_names]
            if not any(type(v) is bytes for i in self._string_idx for v in cols[i]):
                names = self.input_names
                return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)]
        rows: list[dict[str, Any]] = [{} for _ in range(payload.rows)]
        for spec in self.inputs:
            col = payload.columns[spec.name]
            size = _row_size(spec)
            if size == 1:
                for r, v in zip(rows, col, strict=False):
                    r[spec.name] = _capture_value(v)
            elif size is None:
                for r, v in zip(rows, col, strict=False):
                    r[spec.name] = _capture_nested(v)
            else:
                shape = spec.row_shape
                for i, r in enumerate(rows):
                    flat = [_capture_value(v) for v in col[i * size:(i + 1) * size]]
                    r[spec.name] = _unflatten(flat, shape)
        return rows


def _row_size(spec: InputSpec) -> int | None:
    if not spec.fixed:
        return None
    size = 1
    for d in spec.row_shape:
        size *= d or 0
    return size


def _capture_value(v: Any) -> Any:
    if type(v) is float and not math.isfinite(v):
        return None  # missing (null/NaN); inf has no JSON form either
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return v


def _capture_nested(v: Any) -> Any:
    if isinstance(v, list):
        return [_capture_nested(x) for x in v]
    return _capture_value(v)


def _unflatten(flat: list[Any], shape: tuple[int | None, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // (shape[0] or 1)
    return [_unflatten(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0] or 0)]


def _scalar_converter(spec: InputSpec) -> Any:
    """A function value -> model value for one element of ``spec``, raising PayloadError on a bad type."""
    name, kind = spec.name, spec.kind

    def bad(v: Any, what: str) -> PayloadError:
        return PayloadError(f"feature {name!r}: expected {what}, got {type(v).__name__} {_short(v)}")

    if kind == "float":
        def conv(v: Any) -> Any:
            t = type(v)
            if t is float:
                return v if v == v else None  # NaN is a missing value, like null
            if t is int:
                return float(v)
            if v is None:
                return None  # kept for the capture log; the model gets NaN
            raise bad(v, "a number")
    elif kind == "int":
        def conv(v: Any) -> Any:
            t = type(v)
            if t is int:
                return v
            if t is float and v.is_integer():
                return int(v)
            raise bad(v, "an integer")
    elif kind == "bool":
        def conv(v: Any) -> Any:
            if type(v) is bool:
                return v
            raise bad(v, "true or false")
    else:
        def conv(v: Any) -> Any:
            if type(v) is str:
                return v
            if v is None:
                return None  # kept for the capture log; the model gets ""
            if isinstance(v, dict) and set(v) == {"b64"} and isinstance(v["b64"], str):
                try:
                    return base64.b64decode(v["b64"], validate=True)
                except ValueError as exc:
                    raise PayloadError(f"feature {name!r}: invalid base64") from exc
            raise bad(v, "a string")
    return conv


def _converter(spec: InputSpec) -> Any:
    """A function ``(value, out, row)`` appending the validated element(s) of one row to ``out``."""
    scalar = _scalar_converter(spec)
    name = spec.name
    shape = spec.row_shape
    if shape in ((), (1,)):
        def conv_scalar(v: Any, out: list[Any], row: int) -> None:
            if type(v) is list:
                if len(v) != 1:
                    raise PayloadError(f"feature {name!r}: instance {row} must hold 1 value, got {len(v)}")
                v = v[0]
            out.append(scalar(v))
        return conv_scalar
    if not spec.fixed:
        def conv_nested(v: Any, out: list[Any], row: int) -> None:
            out.append(_walk_any(v, scalar))
        return conv_nested

    def conv_tensor(v: Any, out: list[Any], row: int) -> None:
        _walk(v, shape, scalar, out, name, row, shape)
    return conv_tensor


def _walk(v: Any, shape: tuple[int | None, ...], scalar: Any, out: list[Any], name: str, row: int,
          full: tuple[int | None, ...]) -> None:
    if not shape:
        if type(v) is list:
            raise PayloadError(f"feature {name!r}: instance {row} is nested deeper than its shape")
        out.append(scalar(v))
        return
    if type(v) is not list or len(v) != shape[0]:
        got = f"{len(v)} values" if type(v) is list else type(v).__name__
        raise PayloadError(f"feature {name!r}: instance {row} must have shape {_shape_text(full)}; "
                           f"got {got} where {shape[0]} were expected")
    for x in v:
        _walk(x, shape[1:], scalar, out, name, row, full)


def _walk_any(v: Any, scalar: Any) -> Any:
    if type(v) is list:
        return [_walk_any(x, scalar) for x in v]
    return scalar(v)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


class LoadedModel:
    """A loaded SavedModel signature that runs merged payloads.

    :meth:`run` blocks for the model call and is safe to call from one worker
    thread at a time (the server uses a single model thread); TensorFlow
    releases the GIL while it computes.
    """

    def __init__(self, fn: Any, signature: Signature) -> None:
        self._fn = fn
        self.signature = signature

    @classmethod
    def load(cls, model_dir: str, *, threads: int = 0) -> LoadedModel:
        """Load ``model_dir`` with ``tf.saved_model.load`` and pick ``serving_default`` (else ``serve``).

        ``threads`` > 0 sets TensorFlow's intra- and inter-op thread pools
        (process-wide; ignored with a warning once TensorFlow has run ops).
        Blocks for the load (seconds). Raises ``ValueError`` with a one-line
        message when the directory holds no usable signature.
        """
        import tensorflow as tf

        if threads > 0:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:
                if tf.config.threading.get_intra_op_parallelism_threads() != threads:
                    logger.warning("TensorFlow is already initialised; keeping its thread pools")

        loaded = tf.saved_model.load(model_dir)
        sigs = dict(getattr(loaded, "signatures", {}) or {})
        name = "serving_default" if "serving_default" in sigs else "serve" if "serve" in sigs else None
        if name is None:
            raise ValueError(f"the SavedModel at {model_dir} has no 'serving_default' or 'serve' signature "
                             f"(it has: {', '.join(sigs) or 'none'})")
        fn = sigs[name]
        _, kwargs = fn.structured_input_signature
        inputs = [
            InputSpec(name=k, dtype=v.dtype.name, shape=tuple(v.shape.as_list()) if v.shape.rank is not None
                      else (None,))
            for k, v in sorted(kwargs.items())
        ]
        outs = fn.structured_outputs
        outputs = [OutputSpec(name=k, dtype=v.dtype.name, shape=tuple(v.shape.as_list())
                              if v.shape.rank is not None else (None,)) for k, v in sorted(outs.items())]
        model = cls(fn, Signature(inputs=inputs, outputs=outputs, name=name))
        model._loaded = loaded  # keep the trackable object (and its variables) alive
        logger.info("loaded signature %r of %s: inputs %s", name, model_dir,
                    ", ".join(f"{s.name}:{s.dtype}{_shape_text(s.shape)}" for s in inputs))
        return model

    def run(self, payloads: Sequence[Payload]) -> list[list[Any] | dict[str, list[Any]]]:
        """Run the rows of ``payloads`` as one model call; return, per payload, its outputs.

        Each result is the list of per-row outputs when the signature has one
        output, else a dict output name -> list of per-row outputs. Blocks for
        the call; raises ``tf.errors.InvalidArgumentError`` on values the model rejects.
        """
        import numpy as np
        import tensorflow as tf

        total = sum(p.rows for p in payloads)
        feed = {}
        for spec in self.signature.inputs:
            if len(payloads) == 1:
                flat = payloads[0].columns[spec.name]
            else:
                flat = []
                for p in payloads:
                    flat.extend(p.columns[spec.name])
            if spec.fixed:
                shape = (total, *spec.row_shape)
                if spec.kind == "string":
                    arr = np.array(["" if v is None else v for v in flat], dtype=object).reshape(shape)
                elif spec.kind == "float":
                    arr = np.array(flat, dtype=spec.dtype).reshape(shape)  # None (missing) becomes NaN
                else:
                    arr = np.asarray(flat, dtype=spec.dtype).reshape(shape)
                feed[spec.name] = tf.constant(arr)
            else:
                feed[spec.name] = tf.constant(
                    _walk_any(flat, lambda v: "" if v is None else v) if spec.kind == "string" else flat,
                    dtype=spec.dtype)
        result = self._fn(**feed)
        outputs = {k: _to_list(v.numpy()) for k, v in result.items()}
        names = [o.name for o in self.signature.outputs] or sorted(outputs)
        per: list[list[Any] | dict[str, list[Any]]] = []
        start = 0
        for p in payloads:
            end = start + p.rows
            if len(names) == 1:
                per.append(outputs[names[0]][start:end])
            else:
                per.append({n: outputs[n][start:end] for n in names})
            start = end
        return per


def _to_list(arr: Any) -> list[Any]:
    if arr.dtype == object:
        return _decode(arr.tolist())
    return arr.tolist()


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return v


def predictions_for(result: list[Any] | dict[str, list[Any]], rows: int) -> list[Any]:
    """TF Serving's row answer: the per-row outputs, or one dict output -> value per row."""
    if isinstance(result, dict):
        return [{k: v[i] for k, v in result.items()} for i in range(rows)]
    return result

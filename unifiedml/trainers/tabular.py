"""The built-in tabular trainer: a CSV or Parquet table plus a target column -> a SavedModel.

Run through any backend as a training module (``TrainingSpec.tabular(...)``
builds the spec), or directly: ``python -m unifiedml.trainers.tabular --target y``
with ``UML_CHANNEL_TRAIN`` and ``UML_MODEL_DIR`` set. It is written against
:mod:`unifiedml.runtime` like any user script.

The model is Keras with its preprocessing inside it, so the exported serving
signature takes *raw* feature columns (one input per column, shape ``(None, 1)``):

* numeric columns: missing values imputed with the training mean, then a
  ``Normalization`` layer;
* categorical columns (strings, booleans): a ``StringLookup`` one-hot encoding
  with an out-of-vocabulary bucket, so unseen categories are served, not rejected;
* classification: softmax over the target's classes; the signature returns
  ``probabilities`` and the predicted ``label`` (the class name);
  regression: a linear output ``value``.

Hyperparameters: ``target`` (required), ``task`` (``classification`` or
``regression``; inferred when absent: non-numeric targets and integer targets
with at most 20 distinct values are classification), ``epochs`` (30),
``batch_size`` (32), ``learning_rate`` (0.01), ``hidden_units`` (32),
``validation_split`` (0.2), ``seed`` (7). Metrics go to
``output_dir()/metrics.json``; the feature schema to ``model_dir()/unifiedml.json``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifiedml import runtime

logger = logging.getLogger("unifiedml.trainers.tabular")

__all__ = ["TableSchema", "infer_schema", "load_table", "main", "train"]

_MAX_CLASSES_FOR_INT_TARGET = 20


@dataclass
class TableSchema:
    """Which columns are numeric, which categorical, and what the target is."""

    target: str
    task: str
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "numeric": self.numeric,
            "categorical": self.categorical,
            "classes": self.classes,
        }


def _data_files(location: str) -> list[Path]:
    path = Path(location)
    if path.is_file():
        return [path]
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".parquet", ".pq")
    )
    if not files:
        raise FileNotFoundError(f"no .csv or .parquet file found in {location}")
    return files


def load_table(location: str) -> Any:
    """Read every CSV/Parquet file at ``location`` (a file or directory) into one pyarrow Table.

    ``NA``, ``NaN`` and empty strings read as missing.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    tables = []
    for path in _data_files(location):
        if path.suffix.lower() == ".csv":
            tables.append(
                pacsv.read_csv(
                    path,
                    convert_options=pacsv.ConvertOptions(
                        null_values=["", "NA", "N/A", "NaN", "nan", "null", "NULL"],
                        strings_can_be_null=True,
                    ),
                )
            )
        else:
            tables.append(pq.read_table(path))
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def infer_schema(table: Any, target: str, task: str | None = None) -> TableSchema:
    """Split columns into numeric and categorical and settle the task. Raises ValueError for a missing target."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if target not in table.column_names:
        raise ValueError(f"target column {target!r} is not in the data; columns: {', '.join(table.column_names)}")
    target_type = table.schema.field(target).type
    if task is None:
        numeric_target = pa.types.is_integer(target_type) or pa.types.is_floating(target_type)
        distinct = len(pc.unique(table[target].drop_null()))
        is_int = pa.types.is_integer(target_type)
        task = (
            "classification"
            if not numeric_target or (is_int and distinct <= _MAX_CLASSES_FOR_INT_TARGET)
            else "regression"
        )
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
    schema = TableSchema(target=target, task=task)
    for name in table.column_names:
        if name == target:
            continue
        ftype = table.schema.field(name).type
        if pa.types.is_integer(ftype) or pa.types.is_floating(ftype):
            schema.numeric.append(name)
        else:
            schema.categorical.append(name)
    if task == "classification":
        values = table[target].drop_null().cast(pa.string())
        schema.classes = sorted(str(v) for v in pc.unique(values).to_pylist())
        if len(schema.classes) < 2:
            raise ValueError(f"target {target!r} has fewer than two classes")
    return schema


def _columns(table: Any, schema: TableSchema) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    cols: dict[str, Any] = {}
    for name in schema.numeric:
        # to_numpy turns nulls into NaN for floats; the model imputes them.
        cols[name] = table[name].cast(pa.float32()).to_numpy(zero_copy_only=False).astype("float32").reshape(-1, 1)
    for name in schema.categorical:
        values = table[name].cast(pa.string()).fill_null("").to_pylist()
        cols[name] = np.array(values, dtype=object).reshape(-1, 1)
    return cols


def train(table: Any, schema: TableSchema, *, hp: dict[str, Any], model_dir: str) -> dict[str, float]:
    """Build, fit and export the model; returns the final metrics. Blocking; writes ``model_dir``."""
    model, final = fit(table, schema, hp=hp)
    export(model, schema, model_dir=model_dir, metrics=final)
    return final


def fit(table: Any, schema: TableSchema, *, hp: dict[str, Any]) -> tuple[Any, dict[str, float]]:
    """Build and fit the Keras model; returns it and its last epoch's metrics (``val_*`` with a validation split).

    The validation rows are the same for every call with the same ``seed`` and
    ``validation_split``, so candidates of a search are compared on the same data.
    """
    import keras
    import numpy as np
    import pyarrow as pa
    import tensorflow as tf

    seed = int(hp.get("seed", 7))
    keras.utils.set_random_seed(seed)
    table = table.filter(table[schema.target].is_valid())
    features = _columns(table, schema)
    n = table.num_rows
    if schema.task == "classification":
        labels = table[schema.target].cast(pa.string()).to_pylist()
        index = {c: i for i, c in enumerate(schema.classes)}
        y = np.array([index[v] for v in labels], dtype="int64")
    else:
        y = table[schema.target].cast(pa.float32()).to_numpy(zero_copy_only=False).astype("float32")

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val = int(n * float(hp.get("validation_split", 0.2)))
    val_idx, train_idx = order[:n_val], order[n_val:]

    inputs: dict[str, Any] = {}
    encoded = []
    for name in schema.numeric:
        inp = keras.Input(shape=(1,), name=name, dtype="float32")
        inputs[name] = inp
        column = features[name][train_idx]
        mean = float(np.nanmean(column)) if np.isfinite(column).any() else 0.0
        imputed = keras.layers.Lambda(
            lambda t, m=mean: tf.where(tf.math.is_nan(t), tf.constant(m, dtype=t.dtype), t), name=f"impute_{name}"
        )(inp)
        norm = keras.layers.Normalization(name=f"norm_{name}")
        norm.adapt(np.nan_to_num(column, nan=mean))
        encoded.append(norm(imputed))
    for name in schema.categorical:
        inp = keras.Input(shape=(1,), name=name, dtype="string")
        inputs[name] = inp
        lookup = keras.layers.StringLookup(output_mode="one_hot", name=f"lookup_{name}")
        lookup.adapt(tf.constant(features[name][train_idx].astype(str)))
        encoded.append(lookup(inp))
    x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    x = keras.layers.Dense(int(hp.get("hidden_units", 32)), activation="relu")(x)
    if schema.task == "classification":
        out = keras.layers.Dense(len(schema.classes), activation="softmax", name="probabilities")(x)
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        out = keras.layers.Dense(1, name="value")(x)
        loss, metrics = "mse", ["mae"]
    model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.Adam(float(hp.get("learning_rate", 0.01))), loss=loss, metrics=metrics)

    def dataset(idx: Any) -> Any:
        cols = {k: (v[idx].astype(str) if v.dtype == object else v[idx]) for k, v in features.items()}
        return tf.data.Dataset.from_tensor_slices((cols, y[idx])).batch(int(hp.get("batch_size", 32)))

    history = model.fit(
        dataset(train_idx),
        validation_data=dataset(val_idx) if n_val else None,
        epochs=int(hp.get("epochs", 30)),
        verbose=2,
    )
    return model, {k: float(v[-1]) for k, v in history.history.items()}


def export(model: Any, schema: TableSchema, *, model_dir: str, metrics: dict[str, Any]) -> None:
    """Write ``model`` as a SavedModel whose signature takes the raw columns, plus ``unifiedml.json``."""
    import keras
    import tensorflow as tf

    # Export with a signature that names its outputs: probabilities + class
    # label for classification, value for regression.
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = {
        name: tf.TensorSpec(shape=(None, 1), dtype=tf.float32 if name in schema.numeric else tf.string, name=name)
        for name in [*schema.numeric, *schema.categorical]
    }
    class_names = tf.constant(schema.classes or ["_"])

    if schema.task == "classification":

        def serve(features: dict[str, Any]) -> dict[str, Any]:
            probs = model(features, training=False)
            return {"probabilities": probs, "label": tf.gather(class_names, tf.argmax(probs, axis=-1))}
    else:

        def serve(features: dict[str, Any]) -> dict[str, Any]:
            return {"value": tf.squeeze(model(features, training=False), axis=-1)}

    archive.add_endpoint("serving_default", tf.function(serve), input_signature=[specs])
    archive.write_out(model_dir, verbose=False)
    Path(model_dir, "unifiedml.json").write_text(
        json.dumps({"trainer": "unifiedml.trainers.tabular", "schema": schema.to_dict(), "metrics": metrics}, indent=2)
    )


def load_for_job(hp: dict[str, Any]) -> tuple[Any, TableSchema] | None:
    """The ``train`` channel's table and its schema for the ``target``/``task`` hyperparameters.

    None (after logging why) when the target is missing or the data cannot be
    read: the job then exits with code 2.
    """
    target = hp.get("target")
    if not target:
        logger.error("the hyperparameter 'target' is required (the column to predict)")
        return None
    try:
        table = load_table(runtime.data_dir("train"))
        return table, infer_schema(table, str(target), hp.get("task"))
    except (ValueError, FileNotFoundError, KeyError) as exc:
        logger.error("%s", exc)
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the contract's locations, train, export, write metrics. Returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    hp = runtime.hyperparameters(argv=argv)
    loaded = load_for_job(hp)
    if loaded is None:
        return 2
    table, schema = loaded
    logger.info(
        "training a %s model on %d rows: %d numeric, %d categorical features",
        schema.task,
        table.num_rows,
        len(schema.numeric),
        len(schema.categorical),
    )
    metrics = train(table, schema, hp=hp, model_dir=runtime.savedmodel_dir())
    try:
        out = runtime.output_dir()
        os.makedirs(out, exist_ok=True)
        Path(out, "metrics.json").write_text(json.dumps(metrics, indent=2))
    except RuntimeError:
        pass
    logger.info("final metrics: %s", json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tiny Keras 3 SavedModels for serving tests, built in seconds on a CPU.

:func:`build_tabular_model` exports a classifier over raw feature columns: three
float32 numeric inputs and one string categorical input, each of shape
(None, 1), with Normalization and StringLookup(one_hot) layers and a softmax
over 3 classes - the shape of model the tabular trainer exports.
:func:`build_single_input_model` exports a model with one float32 input of
shape (None, 4). Both are trained for a few epochs on fixed synthetic data so
their outputs are deterministic for a given export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")
CATEGORICAL = "island"
ISLANDS = ("Biscoe", "Dream", "Torgersen")
FEATURES = (*NUMERIC, CATEGORICAL)
SINGLE_INPUT = "x"
SINGLE_WIDTH = 4


def synthetic_rows(n: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct feature rows (dicts) in the tabular model's input layout."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "bill_length_mm": round(32.0 + rng.random() * 28 + i * 1e-3, 3),
                "bill_depth_mm": round(13.0 + rng.random() * 8, 3),
                "flipper_length_mm": round(170.0 + rng.random() * 60, 3),
                "island": ISLANDS[rng.randrange(3)],
            }
        )
    return rows


def build_tabular_model(export_dir: Path, *, epochs: int = 5) -> Path:
    """Train and export the tabular model to ``export_dir``; returns the directory. Blocks (seconds)."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(7)
    rows = synthetic_rows(240, seed=1)
    labels = np.array([(int(r["bill_length_mm"] > 45) + ISLANDS.index(r["island"])) % 3 for r in rows])
    columns: dict[str, np.ndarray] = {c: np.array([[r[c]] for r in rows], dtype="float32") for c in NUMERIC}
    columns[CATEGORICAL] = np.array([[r[CATEGORICAL]] for r in rows])
    inputs: dict[str, Any] = {}
    feats = []
    for c in NUMERIC:
        inputs[c] = keras.Input(shape=(1,), name=c, dtype="float32")
        norm = keras.layers.Normalization()
        norm.adapt(columns[c])
        feats.append(norm(inputs[c]))
    inputs[CATEGORICAL] = keras.Input(shape=(1,), name=CATEGORICAL, dtype="string")
    lookup = keras.layers.StringLookup(output_mode="one_hot")
    lookup.adapt(columns[CATEGORICAL].reshape(-1))
    feats.append(lookup(inputs[CATEGORICAL]))
    x = keras.layers.Concatenate()(feats)
    x = keras.layers.Dense(16, activation="relu")(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    # Keras 3 refuses numpy unicode arrays in fit(); a tf.data pipeline of dicts works.
    ds = tf.data.Dataset.from_tensor_slices(({k: v for k, v in columns.items()}, labels)).batch(32)
    model.fit(ds, epochs=epochs, verbose=0, shuffle=False)
    model.export(str(export_dir), verbose=False)
    return export_dir


def build_single_input_model(export_dir: Path) -> Path:
    """Export a one-input model: float32 (None, 4) -> softmax over 3 classes. Blocks (seconds)."""
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input(shape=(SINGLE_WIDTH,), name=SINGLE_INPUT, dtype="float32")
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(8, activation="relu")(inp))
    keras.Model(inp, out).export(str(export_dir), verbose=False)
    return export_dir


def direct_predict(model_dir: Path, rows: list[dict[str, Any]]) -> list[list[float]]:
    """Call the exported ``serving_default`` signature directly on ``rows`` (the reference answer)."""
    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    feed = {}
    for c in NUMERIC:
        feed[c] = tf.constant(np.array([[r[c]] for r in rows], dtype="float32"))
    feed[CATEGORICAL] = tf.constant([[r[CATEGORICAL]] for r in rows])
    (out,) = fn(**feed).values()
    return out.numpy().tolist()

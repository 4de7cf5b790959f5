"""Quickstart training script: classify Palmer penguins by species.

Written once against `unifiedml.runtime`, it runs unchanged on the local
backend, SageMaker script mode, Vertex AI custom training and Azure ML: it asks
the runtime where its data is, which hyperparameters it got and where the
model goes, instead of hard-coding any platform's paths.

The exported SavedModel takes raw columns (numbers and strings, one input per
column), so clients send rows exactly as they appear in the CSV.
"""

import csv
import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from unifiedml import runtime

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
TARGET = "species"


def read_rows(folder: str) -> list[dict]:
    rows = []
    for path in sorted(Path(folder).glob("*.csv")):
        with path.open(newline="") as fh:
            rows += [r for r in csv.DictReader(fh) if r[TARGET] not in ("", "NA")]
    return rows


def to_float(value: str) -> float:
    return float(value) if value not in ("", "NA") else float("nan")


def main() -> None:
    hp = runtime.hyperparameters()
    epochs = int(hp.get("epochs", 40))
    keras.utils.set_random_seed(int(hp.get("seed", 42)))

    rows = read_rows(runtime.data_dir("train"))
    classes = sorted({r[TARGET] for r in rows})
    features = {c: np.array([[to_float(r[c])] for r in rows], dtype="float32") for c in NUMERIC}
    features.update({c: np.array([[r[c] if r[c] != "NA" else ""] for r in rows]) for c in CATEGORICAL})
    labels = np.array([classes.index(r[TARGET]) for r in rows])
    print(f"{len(rows)} rows, classes {classes}, {epochs} epochs")

    inputs, encoded = {}, []
    for col in NUMERIC:
        inputs[col] = keras.Input(shape=(1,), name=col, dtype="float32")
        mean = float(np.nanmean(features[col]))
        filled = keras.layers.Lambda(lambda t, m=mean: tf.where(tf.math.is_nan(t), m, t))(inputs[col])
        norm = keras.layers.Normalization()
        norm.adapt(np.nan_to_num(features[col], nan=mean))
        encoded.append(norm(filled))
    for col in CATEGORICAL:
        inputs[col] = keras.Input(shape=(1,), name=col, dtype="string")
        lookup = keras.layers.StringLookup(output_mode="one_hot")
        lookup.adapt(features[col])
        encoded.append(lookup(inputs[col]))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()(encoded))
    output = keras.layers.Dense(len(classes), activation="softmax")(hidden)
    model = keras.Model(inputs, output)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    data = tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(len(rows), seed=1).batch(32)
    history = model.fit(data, epochs=epochs, verbose=2)

    model.export(runtime.savedmodel_dir())  # a SavedModel whose signature takes the raw columns
    metrics = {"accuracy": float(history.history["accuracy"][-1]), "classes": len(classes)}
    os.makedirs(runtime.output_dir(), exist_ok=True)
    Path(runtime.output_dir(), "metrics.json").write_text(json.dumps(metrics))
    print("metrics", metrics)


if __name__ == "__main__":
    main()

"""`--features avatar`: a feature space that knows what the embedded avatars are made of.

A compact CNN learns every attribute the synthetic generator draws (hair colour and style,
bangs, eye colour, skin, mouth, blush, accessory, background) from avatars of its own
(a drawing seed of its own, so it has seen none of a user's dataset). Its penultimate
layer (128-d) is the feature vector for FID/KID/precision/recall; its heads tell which
attributes generated images have, so a report can say *what* a model fails to make.

kgan ships its weights for the current avatars (`PACKAGED`), so every install measures in
the same feature space and a first run scores without training anything. When the avatars
change (`synthetic.GENERATOR_VERSION`) and no weights ship for them yet, it trains once on
the CPU (a few minutes) into the cache folder. Its numbers rank models on the avatars; they
are not comparable with published FIDs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kgan.data import synthetic
from kgan.data.dataset import PreparedDataset
from kgan.data.pipeline import to_model_range
from kgan.errors import KganError
from kgan.files import atomic_directory, file_sha256
from kgan.metrics.features import RESIZE_METHOD, FeatureExtractor
from kgan.paths import cache_dir

NAME = "avatar"
SEED = 1_000_003  # the classifier's own avatars: not the default dataset's (seed 0) nor a user's
TRAIN_COUNT, HELD_OUT = 12_000, 2_000
EPOCHS = 8
INPUT_SIZE = 64  # 64-px models feed it as they are; 32-px ones upsampled, as it also learns
FEATURES = 128
PACKAGED = Path(__file__).parent / "avatar_classifier"  # weights shipped with kgan, one folder per version
WEIGHTS, ACCURACY = "classifier.weights.h5", "accuracy.json"


def attribute_values() -> dict[str, tuple]:
    """Each attribute's possible values, in the order of its head's outputs: the drawing's."""
    return synthetic.attribute_values()


def labels_of(attrs: list[dict]) -> dict[str, np.ndarray]:
    """Class indices per attribute of drawn avatars (or of rows of attributes.csv)."""
    values = attribute_values()
    return {
        name: np.asarray([options.index(_typed(a[name], options)) for a in attrs], np.int32)
        for name, options in values.items()
    }


def _typed(value: Any, options: tuple) -> Any:
    """attributes.csv holds text: 'True' → True for the boolean attribute."""
    return value == "True" if isinstance(options[0], bool) and isinstance(value, str) else value


def build_classifier() -> keras.Model:
    """Images in [-1, 1], `[B, 64, 64, 3]` → {"features": [B, 128], attribute: logits}."""
    images = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="images")
    x = images
    for width in (16, 32, 64, 128):
        x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(x)
    heads = {
        name: keras.layers.Dense(len(options), name=name)(features) for name, options in attribute_values().items()
    }
    return keras.Model(images, {"features": features, **heads}, name="avatar_classifier")


def as_model_input(images: np.ndarray, low_resolution: np.ndarray | None = None) -> tf.Tensor:
    """uint8 96-px avatars as the extractor gets them from a 64-px model's pipeline; where
    `low_resolution` is set, from a 32-px model's (then upsampled, as the extractor does)."""
    full = to_model_range(images, INPUT_SIZE)
    if low_resolution is None:
        return full
    small = tf.image.resize(to_model_range(images, INPUT_SIZE // 2), [INPUT_SIZE] * 2, method=RESIZE_METHOD)
    return tf.where(tf.reshape(tf.constant(low_resolution), [-1, 1, 1, 1]), small, full)


def train_classifier(
    seed: int = SEED, count: int = TRAIN_COUNT, held_out: int = HELD_OUT, epochs: int = EPOCHS
) -> tuple[keras.Model, dict[str, dict[str, float]]]:
    """Train on `count` avatars drawn with `seed`; accuracy per attribute on `held_out` more,
    at 64 px and through 32 px: {"64": {attribute: accuracy}, "32": {...}}."""
    images, attrs = synthetic.generate(count + held_out, seed)
    labels = labels_of(attrs)
    rng = np.random.default_rng(seed)
    low = rng.random(count + held_out) < 0.5  # half of them as a 32-px model would show them
    inputs = np.concatenate(
        [as_model_input(images[i : i + 1000], low[i : i + 1000]) for i in range(0, len(images), 1000)]
    )
    keras.utils.set_random_seed(seed)
    model = build_classifier()
    losses = {name: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for name in attribute_values()}
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=epochs * (count // 128))
    model.compile(keras.optimizers.Adam(schedule), loss={"features": None, **losses})
    targets = {name: labels[name][:count] for name in attribute_values()}
    model.fit(inputs[:count], targets, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    accuracy = {}
    for label, rows in (("64", ~low[count:]), ("32", low[count:])):
        predicted = model.predict(inputs[count:][rows], batch_size=256, verbose=0)
        accuracy[label] = {
            name: float((predicted[name].argmax(-1) == labels[name][count:][rows]).mean())
            for name in attribute_values()
        }
    return model, accuracy


def classifier_name(seed: int = SEED) -> str:
    return f"avatar-v{synthetic.GENERATOR_VERSION}-seed{seed}"


def classifier_path(seed: int = SEED) -> Path:
    """The classifier's folder: the one kgan ships for the current avatars, else the cache's."""
    packaged = PACKAGED / classifier_name(seed)
    return packaged if (packaged / WEIGHTS).is_file() else cache_dir() / "features" / classifier_name(seed)


def save_classifier(model: keras.Model, accuracy: dict, folder: Path) -> Path:
    """Weights and held-out accuracy in `folder` (which appears complete or not at all)."""
    with atomic_directory(folder) as tmp:
        model.save_weights(tmp / WEIGHTS)
        (tmp / ACCURACY).write_text(json.dumps(accuracy, indent=2) + "\n")
    return folder


def package_classifier(seed: int = SEED) -> Path:
    """Train the classifier for the current avatars and store it in the package, to ship
    with kgan: what a change of `synthetic.GENERATOR_VERSION` needs."""
    return save_classifier(*train_classifier(seed), PACKAGED / classifier_name(seed))


def load_classifier(seed: int = SEED, announce: Callable[[str], None] | None = None) -> tuple[keras.Model, dict]:
    """The classifier and its held-out accuracy: shipped, cached, or trained now and cached."""
    folder = classifier_path(seed)
    if not (folder / WEIGHTS).is_file():
        if announce:
            announce(f"training the avatar feature classifier once (a few CPU minutes); cached in {folder}")
        save_classifier(*train_classifier(seed), folder)
    model = build_classifier()
    model.load_weights(folder / WEIGHTS)
    return model, json.loads((folder / ACCURACY).read_text())


class AvatarExtractor(FeatureExtractor):
    """The classifier's features; `extract` also keeps the attributes it predicted
    (`last_attributes`, class indices per attribute) for the attribute report."""

    last_attributes: dict[str, np.ndarray] | None = None

    def extract(self, batches: Iterable[np.ndarray]) -> np.ndarray:
        features, predicted = [], {name: [] for name in attribute_values()}
        for batch in batches:
            if len(batch):
                outputs = self.model(tf.convert_to_tensor(batch, tf.float32))
                features.append(outputs["features"].numpy())
                for name in predicted:
                    predicted[name].append(outputs[name].numpy().argmax(-1))
        if not features:
            raise KganError("no images to extract features from")
        self.last_attributes = {name: np.concatenate(parts) for name, parts in predicted.items()}
        return np.concatenate(features)

    def __call__(self, images: np.ndarray | tf.Tensor) -> np.ndarray:
        return self.extract([np.asarray(images)])


def avatar_extractor(announce: Callable[[str], None] | None = None) -> AvatarExtractor:
    model, accuracy = load_classifier(announce=announce)

    @tf.function(reduce_retracing=True)
    def outputs(images: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.image.resize(images, [INPUT_SIZE] * 2, method=RESIZE_METHOD)  # as every extractor does
        return model(images, training=False)

    lowest = min(min(by_attribute.values()) for by_attribute in accuracy.values())
    return AvatarExtractor(
        name=f"avatar attribute classifier v{synthetic.GENERATOR_VERSION} "
        f"(held-out accuracy ≥ {lowest:.1%}; not comparable with published FIDs)",
        # The weights' own hash: cached real features never outlive the classifier they came from,
        # and the same classifier has the same key on every install.
        key=f"{NAME}:{file_sha256(classifier_path() / WEIGHTS)[:16]}",
        input_size=INPUT_SIZE,
        comparable=False,
        model=outputs,
    )


def dataset_labels(dataset: PreparedDataset, split: str) -> dict[str, np.ndarray] | None:
    """The true attributes of a split's images, from the dataset's attributes.csv (synthetic data)."""
    path = dataset.folder / "attributes.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not set(attribute_values()) <= set(reader.fieldnames or ()):  # a user's own labels
            return None
        rows = {int(row["index"]): row for row in reader}
    return labels_of([rows[int(index)] for index in dataset.indices(split)])


def attribute_report(generated: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per attribute: the total variation distance between the generated images' predicted
    distribution and the data's, and how many of its values appear at all among the generated."""
    report = {}
    for name, options in attribute_values().items():
        ours = np.bincount(generated[name], minlength=len(options)) / max(len(generated[name]), 1)
        theirs = np.bincount(reference[name], minlength=len(options)) / max(len(reference[name]), 1)
        report[name] = {
            "tvd": float(0.5 * np.abs(ours - theirs).sum()),
            "covered": int((ours > 0).sum()),
            "values": len(options),
            "generated": {str(value): round(float(share), 4) for value, share in zip(options, ours)},
            "data": {str(value): round(float(share), 4) for value, share in zip(options, theirs)},
        }
    return report

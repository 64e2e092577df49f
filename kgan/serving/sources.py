"""Where `kgan sample` gets images: a run's checkpoint, an exported SavedModel, or TF Serving.

Each source turns noise `z` into uint8 images in batches, so any `--n` fits in memory;
the same seed gives the same images from all three (the noise is drawn client-side). A
conditional model also takes each image's attributes, by value (`{"hair_colour": ["blue",
…]}`): a run and an export know their vocabulary and draw the attributes not asked for
client-side too; a server is sent "" for those and draws them itself.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kgan import runs
from kgan.data.attributes import Conditions, requested
from kgan.errors import KganError
from kgan.runs.folder import RunFolder
from kgan.sampling import GRID_STREAM, attribute_grid, fixed_noise, generate
from kgan.serving.client import generate_remote
from kgan.serving.export import read_provenance, version_folder
from kgan.serving.server import op_error_text
from kgan.training import checkpoint

Values = dict[str, list[str]]  # a conditional model's attributes: per attribute, one value per image


@dataclass
class ImageSource:
    description: str
    z_dim: int
    make: Callable[[np.ndarray, Values | None], np.ndarray]  # z [N, z_dim] (and values) → uint8 [N, H, W, 3]
    kind: str = "run"  # run, saved_model or server
    checkpoint: dict | None = None  # the checkpoint the images come from (`checkpoint.chosen`)
    provenance: dict | None = None  # an export's record of where it came from
    attributes: tuple[str, ...] = ()  # a conditional model's attributes (none: unconditional)
    conditions: Conditions | None = None  # their values and shares, where the source knows them

    def __call__(self, z: np.ndarray, values: Values | None = None) -> np.ndarray:
        return self.make(z, values)


def from_run(run_dir: Path, checkpoint_choice: str = checkpoint.DEFAULT_CHOICE) -> ImageSource:
    config = runs.load_config(run_dir)
    path, record = checkpoint.chosen(run_dir, checkpoint_choice)
    conditions = RunFolder(run_dir).conditions()
    generator = checkpoint.load_generator(path, config, conditions)

    def make(z: np.ndarray, values: Values | None = None) -> np.ndarray:
        codes = None if conditions is None else _codes(conditions, values, len(z))
        return generate(generator, z, codes=codes)

    attributes = conditions.attributes if conditions else ()
    description = f"{Path(run_dir).name}/{record['description']}"
    return ImageSource(description, config.z_dim, make, "run", record, None, attributes, conditions)


def _codes(conditions: Conditions, values: Values | None, count: int) -> np.ndarray:
    """Values by name → codes `[count, A]`; a conditional generator needs every attribute."""
    if values is None or set(values) != set(conditions.attributes):
        raise KganError(f"this conditional model needs a value of each of {', '.join(conditions.attributes)}")
    columns = [[conditions.code(name, value) for value in values[name]] for name in conditions.attributes]
    return np.asarray(columns, np.int32).T.reshape(count, len(conditions.attributes))


def conditional_inputs(
    source: ImageSource, count: int, seed: int, requests: list[str], grid_by: str | None = None
) -> tuple[np.ndarray, Values, int | None]:
    """(z, values, grid columns) for `count` images from a conditional source: the attributes in
    `requests` ("hair_colour=blue") as asked, the others drawn from the training shares (by the
    source when it does not know them); with `grid_by`, one row per value of that attribute and
    each column one z and one set of other attributes."""
    conditions = source.conditions
    if conditions is None:  # a server: names from its metadata, values checked by the model
        if grid_by:
            raise KganError("--grid-by needs the model's vocabulary: sample its --run-dir or --saved-model")
        given = requested(source.attributes, requests, example=f"{source.attributes[0]}=…")
        values = {name: [given.get(name, "")] * count for name in source.attributes}
        return fixed_noise(seed, count, source.z_dim), values, None
    fixed = conditions.parse(requests)
    if grid_by is None:
        codes = conditions.draw(count, np.random.default_rng([seed, GRID_STREAM, 2]), fixed)
        return fixed_noise(seed, count, source.z_dim), _values(conditions, codes), None
    attribute = conditions.attribute(grid_by)
    if attribute in fixed:
        raise KganError(f"--grid-by {attribute} and --attr {attribute}=…: a grid shows every value, give one of them")
    z, codes, columns = attribute_grid(conditions, attribute, count, seed, source.z_dim, fixed)
    return z, _values(conditions, codes), columns


def _values(conditions: Conditions, codes: np.ndarray) -> Values:
    return {name: [conditions.vocabulary[name][c] for c in codes[:, i]] for i, name in enumerate(conditions.attributes)}


def from_saved_model(path: Path) -> ImageSource:
    """An exported generator: a version folder, or a base folder (its highest version)."""
    version = version_folder(Path(path))
    if version is None:
        raise KganError(f"--saved-model {path} holds no saved_model.pb nor version folders: export with `kgan export`")
    path = version
    try:
        model = tf.saved_model.load(str(path))
        function = model.signatures["serving_default"]
        spec = function.structured_input_signature[1]["z"]
    except (KeyError, ValueError, OSError, tf.errors.OpError):
        raise KganError(
            f"{path} is not a kgan generator export (no serving_default signature taking z): "
            "re-export it with `kgan export`"
        ) from None

    conditional = model.signatures.get("conditional")
    attributes = tuple(key for key in conditional.structured_input_signature[1] if key != "z") if conditional else ()
    provenance = read_provenance(path)
    conditions = None
    if attributes and provenance and provenance.get("conditions"):
        conditions = Conditions.from_dict(provenance["conditions"])

    def make(z: np.ndarray, values: Values | None = None, batch_size: int = 256) -> np.ndarray:
        parts = []
        for i in range(0, len(z), batch_size):
            inputs = {"z": tf.constant(z[i : i + batch_size])}
            if attributes:
                values = values or {name: [""] * len(z) for name in attributes}
                inputs.update({name: tf.constant(values[name][i : i + batch_size], tf.string) for name in attributes})
            try:
                parts.append((conditional or function)(**inputs)["images"].numpy())
            except tf.errors.InvalidArgumentError as error:
                raise KganError(f"{path}: {op_error_text(error)}") from None
        return np.concatenate(parts)

    checkpoint_record = provenance.get("checkpoint") if provenance else None
    spec_z = int(spec.shape[1])
    return ImageSource(str(path), spec_z, make, "saved_model", checkpoint_record, provenance, attributes, conditions)


def from_server(server: str, model: str, timeout: float = 30.0) -> ImageSource:
    """A generator served by TF Serving (REST); z_dim is read from the model's metadata."""
    url = f"{server.rstrip('/')}/v1/models/{model}/metadata"
    z_dim, attributes = 100, ()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            metadata = json.loads(response.read())
        served = metadata["metadata"]["signature_def"]["signature_def"]
        z_dim = int(served["serving_default"]["inputs"]["z"]["tensor_shape"]["dim"][1]["size"])
        attributes = tuple(name for name in served.get("conditional", {}).get("inputs", {}) if name != "z")
    except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError, IndexError):
        pass  # metadata is optional; the predict call reports real problems

    def make(z: np.ndarray, values: Values | None = None) -> np.ndarray:
        return generate_remote(server, model, z, timeout=timeout, values=values)

    return ImageSource(f"{model} at {server}", z_dim, make, "server", attributes=attributes)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation between two noise vectors (stays on the Gaussian's shell)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)

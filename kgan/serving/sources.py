"""Where `kgan sample` gets images: a run's checkpoint, an exported SavedModel, or TF Serving.

Each source turns noise `z` into uint8 images in batches, so any `--n` fits in memory;
the same seed gives the same images from all three (the noise is drawn client-side).
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
from kgan.errors import KganError
from kgan.sampling import generate
from kgan.serving.client import generate_remote
from kgan.serving.export import read_provenance, version_folder
from kgan.training import checkpoint


@dataclass
class ImageSource:
    description: str
    z_dim: int
    make: Callable[[np.ndarray], np.ndarray]  # z [N, z_dim] → uint8 [N, H, W, 3]
    kind: str = "run"  # run, saved_model or server
    checkpoint: dict | None = None  # the checkpoint the images come from (`checkpoint.chosen`)
    provenance: dict | None = None  # an export's record of where it came from

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.make(z)


def from_run(run_dir: Path, checkpoint_choice: str = checkpoint.DEFAULT_CHOICE) -> ImageSource:
    config = runs.load_config(run_dir)
    path, record = checkpoint.chosen(run_dir, checkpoint_choice)
    generator = checkpoint.load_generator(path, config)

    def make(z: np.ndarray) -> np.ndarray:
        return generate(generator, z)

    return ImageSource(f"{Path(run_dir).name}/{record['description']}", config.z_dim, make, "run", record)


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

    def make(z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        parts = [function(z=tf.constant(z[i : i + batch_size]))["images"].numpy() for i in range(0, len(z), batch_size)]
        return np.concatenate(parts)

    provenance = read_provenance(path)
    checkpoint_record = provenance.get("checkpoint") if provenance else None
    return ImageSource(str(path), int(spec.shape[1]), make, "saved_model", checkpoint_record, provenance)


def from_server(server: str, model: str, timeout: float = 30.0) -> ImageSource:
    """A generator served by TF Serving (REST); z_dim is read from the model's metadata."""
    url = f"{server.rstrip('/')}/v1/models/{model}/metadata"
    z_dim = 100
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            metadata = json.loads(response.read())
        inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
        z_dim = int(inputs["z"]["tensor_shape"]["dim"][1]["size"])
    except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError, IndexError):
        pass  # metadata is optional; the predict call reports real problems

    def make(z: np.ndarray) -> np.ndarray:
        return generate_remote(server, model, z, timeout=timeout)

    return ImageSource(f"{model} at {server}", z_dim, make, "server")


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation between two noise vectors (stays on the Gaussian's shell)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.dot(a64, b64) / (np.linalg.norm(a64) * np.linalg.norm(b64))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if omega < 1e-6:
        return ((1 - t) * a64 + t * b64).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)

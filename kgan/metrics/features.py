"""Feature extractors for FID/KID: the standard Inception, any local model, random weights.

Every extractor maps float32 RGB images in [-1, 1] at the model's resolution to `[N, D]`
vectors. Images are resized to the extractor's input size (299 for Inception) with one
method, bilinear without antialiasing (as pytorch-fid; the step is an upsampling from the
GAN's 32/64/128, where antialiasing does nothing). Generated images are never encoded
(no JPEG) on their way to the extractor. Extraction streams in batches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kgan.errors import KganError, first_line
from kgan.metrics.tfgan import tensorflow_hub
from kgan.paths import INCEPTION_ENV

INCEPTION_HANDLE = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
RESIZE_METHOD = "bilinear"
RANDOM_INCEPTION = "random-inception-v3"
DOWNLOAD_TIMEOUT = 60.0


@dataclasses.dataclass
class FeatureExtractor:
    """A callable image → feature model with the facts that reports and caches need."""

    name: str  # what reports show
    key: str  # identity for caches: changes whenever the features could change
    input_size: int
    comparable: bool  # True only for the standard FID Inception: numbers comparable with papers
    model: Callable[[tf.Tensor], tf.Tensor]

    def __post_init__(self) -> None:
        self._compiled = tf.function(self._features, reduce_retracing=True)

    def _features(self, images: tf.Tensor) -> tf.Tensor:
        images = tf.image.resize(tf.cast(images, tf.float32), [self.input_size] * 2, method=RESIZE_METHOD)
        features = self.model(images)
        if isinstance(features, dict):
            features = features["pool_3"] if "pool_3" in features else next(iter(features.values()))
        features = tf.cast(features, tf.float32)
        return tf.reshape(features, [tf.shape(images)[0], -1])

    def __call__(self, images: np.ndarray | tf.Tensor) -> np.ndarray:
        """`[B, H, W, 3]` float32 in [-1, 1] → `[B, D]` float32."""
        return self._compiled(tf.convert_to_tensor(images, tf.float32)).numpy()

    def extract(self, batches: Iterable[np.ndarray]) -> np.ndarray:
        """Features of a stream of image batches, concatenated (memory: one batch at a time)."""
        parts = [self(batch) for batch in batches if len(batch)]
        if not parts:
            raise KganError("no images to extract features from")
        return np.concatenate(parts)


def batched(images: np.ndarray, batch_size: int, convert: Callable[[np.ndarray], np.ndarray]) -> Iterator[np.ndarray]:
    """Slices of `images`, each passed through `convert` (e.g. uint8 → [-1, 1])."""
    for start in range(0, len(images), batch_size):
        yield convert(np.asarray(images[start : start + batch_size]))


def inception_extractor(handle: str) -> FeatureExtractor:
    """The standard FID Inception (inception-2015-12-05, `pool_3`, 2048-d) via TF Hub."""
    hub = tensorflow_hub()
    local = Path(handle).expanduser()
    if not str(handle).startswith(("http://", "https://")) and not local.exists():
        raise KganError(f"--inception {handle} does not exist: give the folder of an unpacked Inception module")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # a blocked network fails instead of hanging
    try:
        module = hub.load(str(local) if local.exists() else handle)
    except Exception as error:  # hub raises URLError, OSError, ValueError, tf errors alike
        reason = first_line(error)
        raise KganError(
            f"cannot load the FID Inception from {handle} ({reason}); offline, use --features avatar "
            "(kgan's avatar classifier: meaningful on avatars, trained here once); for FIDs comparable "
            f"with papers download {INCEPTION_HANDLE}?tf-hub-format=compressed on a machine with internet, "
            f"unpack it and pass its folder with --inception PATH (or set {INCEPTION_ENV}); "
            "--features random-inception-v3 runs anywhere but measures little"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return FeatureExtractor(
        name="inception-2015-12-05 (pool_3)",
        key=f"inception:{fingerprint(local) if local.exists() else handle}",
        input_size=299,
        comparable=True,
        model=_callable(module),
    )


def random_inception_extractor(seed: int = 0, input_size: int = 299) -> FeatureExtractor:
    """Inception-v3 architecture with seeded random weights: for machines without the real ones.

    Its numbers rank models on the same machine but are NOT comparable with published FIDs.
    """
    model = keras.applications.InceptionV3(
        weights=None, include_top=False, pooling="avg", input_shape=(input_size, input_size, 3)
    )
    rng = np.random.default_rng(seed)
    for variable in model.weights:  # seeded re-initialisation, independent of global RNG state
        shape, name = tuple(variable.shape), variable.path
        if name.endswith("kernel"):  # He-normal: keeps activations alive through ~100 ReLU layers
            std = np.sqrt(2.0 / np.prod(shape[:-1]))
            variable.assign((rng.standard_normal(shape) * std).astype(np.float32))
        elif name.endswith(("gamma", "moving_variance")):
            variable.assign(np.ones(shape, np.float32))
        else:
            variable.assign(np.zeros(shape, np.float32))
    return FeatureExtractor(
        name=f"{RANDOM_INCEPTION} (seed {seed}; not comparable with published FIDs)",
        key=f"{RANDOM_INCEPTION}:seed{seed}:size{input_size}",
        input_size=input_size,
        comparable=False,
        model=lambda images: model(images, training=False),
    )


def model_extractor(path: Path) -> FeatureExtractor:
    """Any `.keras` model or SavedModel folder that maps images to vectors."""
    if not path.exists():
        raise KganError(
            f"--features {path} does not exist: give a .keras file, a SavedModel folder, "
            f"'inception' or '{RANDOM_INCEPTION}'"
        )
    if path.suffix == ".keras":
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as error:
            raise KganError(f"cannot load --features {path} as a Keras model ({error})") from None
        size = model.input_shape[1] or 299
        call = lambda images: model(images, training=False)  # noqa: E731
    else:
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as error:
            raise KganError(f"cannot load --features {path} as a SavedModel ({error})") from None
        call, size = _callable(loaded), _input_size(loaded)
    return FeatureExtractor(
        name=f"{path.name} (custom; not comparable with published FIDs)",
        key=f"model:{fingerprint(path)}",
        input_size=size,
        comparable=False,
        model=call,
    )


def _callable(loaded) -> Callable[[tf.Tensor], tf.Tensor]:
    """How to call a loaded module: a TF1 Hub 'default' signature, `__call__`, or serving_default."""
    signatures = getattr(loaded, "signatures", {}) or {}
    for name in ("default", "serving_default"):
        if name in signatures and (name == "default" or not callable(loaded)):
            function = signatures[name]
            (input_name,) = function.structured_input_signature[1].keys()
            return lambda images, f=function, k=input_name: f(**{k: images})
    if callable(loaded):
        return loaded
    raise KganError("the feature model has no callable signature: export it with a serving signature")


def _input_size(loaded) -> int:
    signatures = getattr(loaded, "signatures", {}) or {}
    for function in signatures.values():
        for spec in function.structured_input_signature[1].values():
            if spec.shape.rank == 4 and spec.shape[1]:
                return int(spec.shape[1])
    return 299


def fingerprint(path: Path) -> str:
    """A short hash of a model file or folder's names, sizes and modification times."""
    digest = hashlib.sha256(str(path.resolve()).encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]

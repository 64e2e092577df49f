"""TF-GAN's evaluation functions on TensorFlow ≥ 2.16 — the one workaround, kept here.

`import tensorflow_gan` fails on TF ≥ 2.16: the package __init__ imports its
`estimator`, `tpu` and `train` modules, which use `tf.estimator` (removed from TF).
The evaluation code (`tensorflow_gan/python/eval/`) needs none of them. So the two
package levels above it, `tensorflow_gan` and `tensorflow_gan.python`, are registered as
bare packages (their real `__path__`, their __init__ not run) and `eval` is imported
from there. `tests/test_metrics.py` fails loudly if this stops working and checks
TF-GAN's FID against a numpy/scipy one.

Only `eval` is used. Its TF Hub helpers (`classifier_fn_from_tfhub`, `run_inception`,
`frechet_inception_distance`) fail under Keras 3 (`tf.compat.v1.layers.flatten`), so
kgan loads classifiers itself (`features.py`) and calls the `*_from_activations` forms.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from functools import cache
from pathlib import Path

from kgan.errors import KganError


def _bare_package(name: str, path: Path) -> None:
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package


@cache
def tensorflow_hub() -> types.ModuleType:
    """`tensorflow_hub`, imported without its pkg_resources deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import tensorflow_hub as hub
    return hub


@cache
def tfgan_eval() -> types.ModuleType:
    """The `tensorflow_gan.python.eval` module (what `tfgan.eval` is)."""
    try:
        tensorflow_hub()  # TF-GAN's eval imports it
        spec = importlib.util.find_spec("tensorflow_gan")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("tensorflow-gan is not installed")
        root = Path(next(iter(spec.submodule_search_locations)))
        _bare_package("tensorflow_gan", root)
        _bare_package("tensorflow_gan.python", root / "python")
        return importlib.import_module("tensorflow_gan.python.eval")
    except ImportError as error:
        raise KganError(
            f"cannot import TF-GAN's evaluation code ({error}); reinstall kgan's dependencies "
            "with `pip install -e .` (tensorflow-gan 2.1, tensorflow-probability, tf-keras)"
        ) from None


def classifier_metrics() -> types.ModuleType:
    """TF-GAN's classifier_metrics module (FID, KID and the matrix square-root helpers)."""
    tfgan_eval()
    return importlib.import_module("tensorflow_gan.python.eval.classifier_metrics")

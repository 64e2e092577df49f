"""What kgan runs on: its version and its stack's, the devices, and the CPU's backend."""

from __future__ import annotations

import platform
from typing import Any

import keras
import tensorflow as tf

import kgan
from kgan.system import cpu


def describe() -> dict[str, Any]:
    """kgan, TensorFlow, Keras and Python versions, visible GPUs, the CPU and its backend."""
    return {
        "kgan": kgan.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "gpus": [device.name for device in tf.config.list_physical_devices("GPU")],
        **cpu.describe(),
    }

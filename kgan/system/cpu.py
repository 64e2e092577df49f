"""The CPU kgan runs on, and the convolution backend that is fastest on it.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512-class
features; elsewhere (AVX2: most laptops, desktops and many cloud VMs) convolutions'
input gradients — also the generator's transposed convolutions — run through Eigen as
many small GEMMs, several times slower. kgan turns oneDNN on for x86 CPUs before
TensorFlow loads, unless the user set `TF_ENABLE_ONEDNN_OPTS` themselves. This module
must not import TensorFlow.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
CHOSEN_ENV = "KGAN_ONEDNN_CHOSEN"  # tells kgan's child processes that kgan, not the user, set it
FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_tile")
_choice = {"value": None, "by": "TensorFlow's default"}


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform module says."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def isa_features(cpuinfo: str | None = None) -> list[str]:
    """Which of AVX2, AVX-512, AVX512_BF16 and AMX the CPU has (Linux /proc/cpuinfo)."""
    flags: set[str] = set()
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return [name for name in FEATURES if name in flags]


def native_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes in bfloat16 (AVX512_BF16 or AMX); elsewhere oneDNN emulates it,
    slower than float32."""
    return bool({"avx512_bf16", "amx_tile"} & set(isa_features(cpuinfo)))


def bfloat16_emulated_warning() -> str:
    return (
        "--precision mixed_bfloat16 on this CPU (no AVX512_BF16 or AMX) is emulated and slower "
        "than float32: use float32 here"
    )


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def choose_convolution_backend() -> None:
    """Turn oneDNN on for x86 CPUs (before TensorFlow loads), respecting the user's setting."""
    if ONEDNN_ENV in os.environ and CHOSEN_ENV not in os.environ:
        _choice.update(value=os.environ[ONEDNN_ENV], by="the user's TF_ENABLE_ONEDNN_OPTS")
        return
    if platform.machine().lower() in ("x86_64", "amd64") and "avx512f" not in isa_features():
        os.environ[ONEDNN_ENV] = os.environ[CHOSEN_ENV] = "1"
        _choice.update(value="1", by="kgan, for this CPU without AVX-512")


def convolution_backend() -> str:
    """One line for `kgan --version` and `kgan bench`: which backend, and who chose it."""
    if _choice["value"] is None:
        default = "on" if "avx512f" in isa_features() else "as TensorFlow decides"
        return f"oneDNN {default} (TensorFlow's default for this CPU)"
    state = "off" if _choice["value"].strip() in ("0", "false", "False") else "on"
    return f"oneDNN {state} (set by {_choice['by']})"


def describe() -> dict[str, object]:
    """The CPU and backend facts that every benchmark figure depends on."""
    return {
        "cpu": cpu_model(),
        "isa": isa_features(),
        "bfloat16": "native" if native_bfloat16() else "emulated",
        "convolution_backend": convolution_backend(),
    }

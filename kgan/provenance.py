"""Where a result came from: the command, the software versions and the machine.

A run records this each time a process trains it (`run.json`'s `sessions`) and an export
carries it (`assets.extra/kgan.json`), so a number or a served model can be traced back
and reproduced — determinism holds for the same machine and versions, so they are part
of the record.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from importlib import metadata
from typing import Any

from kgan import __version__, cpu


def command_line(argv: list[str] | None = None) -> str:
    """The process's command as a user would type it again (`kgan …` for the CLI)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (os.path.basename(argv[0]) == "kgan" or argv[0].endswith(os.path.join("cli", "main.py"))):
        argv[0] = "kgan"
    return shlex.join(argv) if argv else ""


def versions() -> dict[str, str]:
    """kgan's, Python's and the numerical libraries' versions."""
    found = {"kgan": __version__, "python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    """The CPU (model, instruction sets that change kernels), its cores and any GPUs."""
    import tensorflow as tf

    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(details.get("device_name", device.name))
    return {
        "cpu": cpu.cpu_model(),
        "isa": cpu.isa_features(),
        "cores": os.cpu_count(),
        "gpus": gpus,
        "platform": platform.platform(),
    }


def record(**extra: Any) -> dict[str, Any]:
    """This process's provenance: time, command, versions, machine, plus `extra`."""
    return {"time": time.time(), "command": command_line(), "versions": versions(), "machine": machine(), **extra}

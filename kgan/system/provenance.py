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
from typing import Any

from kgan.system import environment

VERSIONS = ("kgan", "tensorflow", "keras", "python")


def command_line(argv: list[str] | None = None) -> str:
    """The process's command as a user would type it again (`kgan …` for the CLI)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and (os.path.basename(argv[0]) == "kgan" or argv[0].endswith(os.path.join("cli", "main.py"))):
        argv[0] = "kgan"
    return shlex.join(argv) if argv else ""


def record(**extra: Any) -> dict[str, Any]:
    """This process's provenance: time, command, versions, machine (CPU, its instruction sets
    and convolution backend, cores, GPUs, platform), plus `extra`."""
    described = environment.describe()
    versions = {name: described.pop(name) for name in VERSIONS}
    machine = {**described, "cores": os.cpu_count(), "platform": platform.platform()}
    return {"time": time.time(), "command": command_line(), "versions": versions, "machine": machine, **extra}

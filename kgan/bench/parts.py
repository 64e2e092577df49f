"""One benchmark part per fresh process: `python -m kgan.bench.parts PART JSON-ARGUMENTS`.

Each part gets a process to itself so that its peak RSS is its own and no two frameworks'
thread pools compete within one measurement. Only what a part needs is imported: the
PyTorch reference, the ingest and the drawing parts never load TensorFlow.
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from kgan.errors import KganError


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux: VmHWM, the high-water mark of this program's own memory. `ru_maxrss` there keeps
    the parent's mark across fork and exec, so a small part run from a large parent would
    report the parent's figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


# What each part's framework is: imported first, so that its share of the memory is known.
FRAMEWORKS = {"train": "keras", "bare": "keras", "features": "keras", "limits": "keras", "pytorch": "torch"}


def in_fresh_process(part: str, **arguments: Any) -> dict[str, Any]:
    """Run one part in its own Python process and return its figures (with its peak RSS)."""
    command = [sys.executable, "-m", "kgan.bench.parts", part, json.dumps(arguments)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise KganError(f"benchmark part {part!r} failed: {last}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_part(part: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this process: what `in_fresh_process` runs."""
    framework = FRAMEWORKS.get(part)
    if framework:
        importlib.import_module(framework)
        imported = peak_rss_mb()  # the framework's libraries and modules, before any work
    if part == "train":
        from kgan.bench import measure
        from kgan.data.dataset import PreparedDataset

        dataset = PreparedDataset(arguments.pop("dataset"))
        figures = measure.bench_train(dataset, **arguments)
    elif part == "bare":
        from kgan.bench import measure

        figures = measure.bench_bare(**arguments)
    elif part == "pytorch":
        from kgan.bench import torch_reference

        figures = {"pytorch_step_images_per_sec": round(torch_reference.bench_step(**arguments), 2)}
    elif part == "features":
        from kgan.bench import measure

        figures = measure.feature_rate(**arguments)
    elif part == "limits":
        import keras

        from kgan.bench import flops
        from kgan.config import TrainConfig

        # The limit at its own batch of 128, whatever the step's: a small batch would lower the bar;
        # in the step's compute type: bfloat16 convolutions run several times faster on AMX.
        dtype = keras.mixed_precision.Policy(arguments.get("precision", "float32")).compute_dtype
        figures = {
            "wide_convolution_gflops": round(flops.wide_convolution_rate(dtype=dtype), 1),
            "wide_convolution_dtype": dtype,
        }
        for variant in arguments["variants"]:
            config = TrainConfig.for_variant(variant).with_overrides(batch_size=arguments["batch_size"]).validate()
            figures[f"{variant}_step_gflop"] = round(flops.step_flops(config) / 1e9, 2)
    elif part == "prepare":
        from kgan.bench import ingest

        figures = ingest.time_part(**arguments)
    elif part == "draw":
        from kgan.bench import drawing

        figures = drawing.time_part(**arguments)
    else:
        raise ValueError(part)
    figures["peak_rss_mb"] = peak_rss_mb()
    if framework:
        figures["framework_rss_mb"] = imported
    return figures


if __name__ == "__main__":
    name, given = sys.argv[1:]
    print(json.dumps(run_part(name, json.loads(given))))

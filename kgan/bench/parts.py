"""One benchmark part per fresh process: `python -m kgan.bench.parts PART JSON-ARGUMENTS`,
started by `kgan.bench.process.in_fresh_process`.

Each part gets a process to itself so that its peak RSS is its own and no two frameworks'
thread pools compete within one measurement. Only what a part needs is imported: the
PyTorch reference, the ingest and the drawing parts never load TensorFlow.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from kgan.bench.process import peak_rss_mb

# What each part's framework is: imported first, so that its share of the memory is known.
FRAMEWORKS = {"train": "keras", "bare": "keras", "features": "keras", "limits": "keras", "pytorch": "torch"}


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

"""The convolution backend is chosen for the CPU before TensorFlow loads; a user's choice wins."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
from helpers import python_env

from kgan.system import cpu

PROBE = "import kgan, tensorflow as tf; from kgan.system import cpu; tf.constant(1); print(cpu.convolution_backend())"


def run_probe(**env: str) -> subprocess.CompletedProcess:
    environment = python_env(TF_CPP_MIN_LOG_LEVEL="0", **env)
    for name in (cpu.ONEDNN_ENV, cpu.CHOSEN_ENV):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environment, timeout=120)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="oneDNN choice is for x86 CPUs")
def test_onednn_is_on_for_every_x86_cpu_unless_the_user_says_otherwise():
    chosen = run_probe()
    assert chosen.returncode == 0, chosen.stderr[-2000:]
    assert "oneDNN custom operations are on" in chosen.stderr  # TensorFlow's own word
    assert "oneDNN on" in chosen.stdout
    if "avx512f" not in cpu.isa_features():
        assert "set by kgan" in chosen.stdout
    refused = run_probe(TF_ENABLE_ONEDNN_OPTS="0")
    assert "oneDNN custom operations are on" not in refused.stderr
    assert "oneDNN off (set by the user's TF_ENABLE_ONEDNN_OPTS)" in refused.stdout


def test_cpu_description_names_the_features_benchmarks_depend_on():
    facts = cpu.describe()
    assert facts["cpu"] and set(facts["isa"]) <= set(cpu.FEATURES)
    assert facts["convolution_backend"].startswith("oneDNN")


def test_bfloat16_is_native_only_with_avx512_bf16_or_amx():
    flags = "processor: 0\nflags\t\t: fpu sse avx avx2 {}\n"
    assert not cpu.native_bfloat16(flags.format(""))
    assert not cpu.native_bfloat16(flags.format("avx512f"))
    assert cpu.native_bfloat16(flags.format("avx512f avx512_bf16"))
    assert cpu.native_bfloat16(flags.format("amx_tile amx_bf16"))


def test_mixed_bfloat16_training_says_once_when_the_cpu_emulates_it(tmp_path, small_dataset):
    import warnings

    from helpers import tiny_config

    from kgan.data.dataset import PreparedDataset
    from kgan.errors import KganWarning
    from kgan.runs import create_run
    from kgan.training.session import train

    config = tiny_config(precision="mixed_bfloat16", epochs=1)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "r")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(run_dir).status == "finished"
    said = [w for w in caught if issubclass(w.category, KganWarning) and "emulated" in str(w.message)]
    assert len(said) == (0 if cpu.native_bfloat16() else 1)

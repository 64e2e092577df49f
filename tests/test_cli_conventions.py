"""The habits users bring from other CLIs: flags shown as flags, environment variables in
`--help`, shell completion, `--json` results, a runs table that never cuts a name."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, cli_commands, kgan, python_env
from PIL import Image

# Every environment variable kgan reads, each named in the --help of what it sets.
ENV_VARS = [
    "KGAN_RUNS_DIR",
    "KGAN_CACHE_DIR",
    "KGAN_INCEPTION",
    "TFHUB_CACHE_DIR",
    "KGAN_WORKER_TIMEOUT",
    "KGAN_ANIME_FACES_URL",
    "TF_CONFIG",
]
TINY = ["--batch-size", "8", "--image-size", "32", "--g-width", "4", "--d-width", "4", "--fid-every", "0"]


def test_help_shows_flags_as_flags_and_every_environment_variable(tmp_path):
    helps = {}
    commands = cli_commands()
    assert {("compare",), ("bench", "prepare"), ("bench", "draw"), ("data", "synthetic")} <= set(commands)
    for command in commands:
        shown = kgan(*command, "--help", cwd=tmp_path, env={"COLUMNS": "200"})
        assert shown.returncode == 0, (command, shown.stderr)
        assert "<bool>" not in shown.stdout, command
        helps[" ".join(command)] = shown.stdout
    assert re.search(r"│ --json +Print the result", helps["fid"])  # a flag: no value column
    assert re.search(r"│ --resume +Continue", helps["train"])
    every_help = "\n".join(helps.values())
    readme = (ROOT / "README.md").read_text()
    for name in ENV_VARS:
        assert name in every_help, f"{name} is in no --help"
        assert f"`{name}`" in readme, f"{name} is not listed in the README"
    assert "[env var: KGAN_INCEPTION]" in helps["fid"] and "[env var: KGAN_RUNS_DIR]" in helps["runs"]
    assert "--install-completion" in helps[""] and "--show-completion" in helps[""]


def test_shell_completion_completes_commands_options_and_choices(tmp_path):
    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        env = {"_KGAN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        done = kgan(cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("kgan tr") == ["train"]
    assert complete("kgan data s") == ["synthetic"]
    assert "--variant" in complete("kgan train --var")
    assert complete("kgan train --variant ") == ["dcgan", "wgangp"]
    script = kgan("--show-completion", cwd=tmp_path, env={"SHELL": "/bin/bash"})  # the shell is detected
    assert script.returncode == 0 and "_KGAN_COMPLETE" in script.stdout


def _fake_run(root: Path, name: str, status: str = "finished") -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"variant": "wgangp", "epochs": 80, "data": "/d/anime-faces-96px"}))
    (run / "run.json").write_text(json.dumps({"status": status}))
    return run


def test_runs_never_cuts_a_name_and_root_takes_one_run(tmp_path):
    long_name = "2026-11-28-171200-wgangp-lr1e-4-batch256-penalty-per-image-long-name"
    _fake_run(tmp_path / "runs", long_name)
    _fake_run(tmp_path / "runs", "short")
    for columns in ("60", "80", "120", "200"):
        shown = kgan("runs", "--root", "runs", cwd=tmp_path, env={"COLUMNS": columns})
        assert shown.returncode == 0, shown.stderr
        assert any(long_name in line for line in shown.stdout.splitlines()), (columns, shown.stdout)
        assert "finished" in shown.stdout and "short" in shown.stdout
        assert max(map(len, shown.stdout.splitlines())) <= max(int(columns), 110), shown.stdout
    wide = kgan("runs", "--root", "runs", cwd=tmp_path, env={"COLUMNS": "200"}).stdout
    assert "variant" in wide and "anime-faces-96px" in wide  # nothing dropped when it fits
    one = json.loads(kgan("runs", "--root", f"runs/{long_name}", "--json", cwd=tmp_path).stdout)
    assert [row["name"] for row in one] == [long_name]
    elsewhere = tmp_path / "elsewhere"
    _fake_run(elsewhere, "moved")
    by_env = json.loads(kgan("runs", "--json", cwd=tmp_path, env={"KGAN_RUNS_DIR": str(elsewhere)}).stdout)
    assert [row["name"] for row in by_env] == ["moved"]


@pytest.fixture
def source_images(tmp_path):
    folder = tmp_path / "source"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def test_every_result_is_available_as_json(tmp_path, source_images):
    def run_json(*args: str) -> dict:
        done = kgan(*args, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # stdout holds the JSON object and nothing else

    prepared = run_json("data", "prepare", str(source_images), "--out", "prepared", "--size", "32")
    assert prepared["used"] == 30 and prepared["skipped"] == 2 and sum(prepared["skipped_by_reason"].values()) == 2
    assert prepared["split_counts"] == {"train": 24, "val": 3, "test": 3} and prepared["path"] == "prepared"
    drawn = run_json("data", "synthetic", "--out", "avatars", "--count", "60", "--seed", "4")
    assert drawn["count"] + drawn["duplicates"] == 60 and sum(drawn["split_counts"].values()) == drawn["count"]
    assert Path(tmp_path / drawn["attributes"]).is_file()

    trained = kgan("train", "--data", "avatars", "--epochs", "1", "--steps-per-epoch", "2", *TINY, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    exported = run_json("export", "--out", "models/generator")
    assert exported["version"] == 1 and Path(tmp_path / exported["path"], "saved_model.pb").is_file()
    import tensorflow as tf

    loaded = tf.saved_model.load(str(tmp_path / exported["path"]))  # another process than the export's
    dtypes = {"DT_FLOAT": tf.float32, "DT_UINT8": tf.uint8, "DT_STRING": tf.string, "DT_INT32": tf.int32}

    def specs(tensors: dict) -> dict:
        return {key: (value.dtype, value.shape.as_list()) for key, value in tensors.items()}

    def described(tensors: dict) -> dict:
        return {key: (dtypes[d], [None if s == -1 else s for s in shape]) for key, (d, shape) in tensors.items()}

    assert sorted(exported["signatures"]) == sorted(loaded.signatures)
    for name, signature in exported["signatures"].items():
        function = loaded.signatures[name]
        assert specs(function.structured_input_signature[1]) == described(signature["inputs"])
        assert specs(function.structured_outputs) == described(signature["outputs"])

    # One model everywhere: sample, export and fid choose the same checkpoint by default, and say which.
    assert exported["checkpoint"]["name"] == "step-00000002" and exported["checkpoint"]["epoch"] == 1
    assert "no validation FID was recorded" in exported["checkpoint"]["description"]
    from_run = run_json("sample", "--n", "6", "--seed", "3", "--out", "grid.png")
    assert from_run["n"] == 6 and from_run["seed"] == 3 and from_run["source"] == "run"
    assert from_run["checkpoint"] == exported["checkpoint"] and (tmp_path / "grid.png").is_file()
    from_export = run_json("sample", "--saved-model", "models/generator", "--out", "export.png", "--seed", "3")
    assert from_export["source"] == "saved_model" and from_export["checkpoint"] == exported["checkpoint"]
    origin = from_export["provenance"]  # what the export carries in assets.extra/kgan.json
    assert origin == exported["provenance"] and origin["run"] == str((tmp_path / exported["run"]).resolve())
    assert (
        origin["model"]["image_size"] == 32
        and origin["split_id"] == json.loads((tmp_path / exported["run"] / "dataset.json").read_text())["split_id"]
    )
    assert origin["versions"]["tensorflow"] == tf.__version__ and origin["machine"]["cpu"]
    assert origin["command"].startswith("kgan export")
    walk = run_json("sample", "--interpolate", "4", "--out", "walk.png")
    assert walk["frames"] == 4 and walk["seed_end"] == walk["seed"] + 1
    reported = run_json("report")
    assert Path(tmp_path / reported["page"]).is_file() and reported["plots"]
    assert all(Path(tmp_path / plot).is_file() for plot in reported["plots"])


def test_completion_script_without_a_shell_among_the_ancestors_names_shell_from_the_environment(tmp_path):
    """cron, a container's entry point or a detached job: no shell above kgan to detect."""
    out = tmp_path / "script"
    out.write_text("")
    orphan = f"""
import os, subprocess, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(0.5)  # the middle process has exited: init (or a subreaper) is this one's parent
        import shellingham
        try:
            shellingham.detect_shell()
            os.rename({str(out)!r}, {str(out)!r} + ".adopted")
            os._exit(0)
        except shellingham.ShellDetectionFailure:
            pass
        with open({str(out)!r}, "w") as script:
            done = subprocess.run([sys.executable, "-m", "cli.main", *sys.argv[1:]], stdout=script, stderr=script)
        os.rename({str(out)!r}, {str(out)!r} + "." + str(done.returncode))
    os._exit(0)
os.wait()
"""

    def show_completion(**env: str) -> tuple[int, str]:
        subprocess.run([sys.executable, "-c", orphan, "--show-completion"], env=python_env(**env), check=True)
        for _ in range(600):
            finished = list(tmp_path.glob("script.*"))
            if finished:
                (path,) = finished
                if path.suffix == ".adopted":
                    pytest.skip("a shell adopted the orphaned process here (PID 1 or a subreaper is a shell)")
                text = path.read_text()
                path.rename(out)
                return int(path.suffix[1:]), text
            time.sleep(0.1)
        raise AssertionError("kgan --show-completion did not finish")

    code, text = show_completion(SHELL="/bin/bash")
    assert code == 0 and "_KGAN_COMPLETE" in text and "complete -o" in text, text
    code, text = show_completion(SHELL="/usr/bin/zsh")
    assert code == 0 and "compdef" in text, text
    code, text = show_completion(SHELL="")
    assert code == 2 and text.strip().splitlines() == [
        "kgan: error: cannot tell which shell this is: set SHELL, e.g. `SHELL=/bin/bash kgan --show-completion`"
    ], text


def test_a_crash_in_native_code_prints_where_it_happened(tmp_path):
    """A segfault in TensorFlow or numba is a bug report: it should carry the Python stack."""
    crash = "import ctypes; from cli.main import main; main(['--help']); ctypes.string_at(0)"
    env = {k: v for k, v in python_env().items() if k != "PYTHONFAULTHANDLER"}
    result = subprocess.run([sys.executable, "-c", crash], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode < 0  # killed by the signal
    assert "Fatal Python error" in result.stderr and 'File "<string>", line 1' in result.stderr, result.stderr

"""The `kgan` command line in real subprocesses: happy paths and one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, closed_url, kgan
from PIL import Image

from kgan.config import TrainConfig, fields

TINY = ["--batch-size", "8", "--image-size", "32", "--g-width", "4", "--d-width", "4", "--fid-every", "0"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    monkeypatch.delenv("KGAN_RUNS_DIR", raising=False)  # runs/ under the working directory
    return tmp_path


def test_data_train_sample_end_to_end(workdir):
    made = kgan("data", "synthetic", "--out", "avatars", "--count", "120", "--seed", "1", cwd=workdir)
    assert made.returncode == 0, made.stderr
    assert "train 96, val 12, test 12" in made.stdout
    trained = kgan(
        "train",
        "--data",
        "avatars",
        "--epochs",
        "2",
        *TINY[:-2],  # validation FID on, but no Inception can load: one warning, training goes on
        "--steps-per-epoch",
        "2",
        "--seed",
        "5",
        cwd=workdir,
        env={"KGAN_INCEPTION": str(workdir / "no-inception-here")},
    )
    assert trained.returncode == 0, trained.stderr
    warnings = [line for line in trained.stderr.splitlines() if line.startswith("kgan: warning:")]
    assert len(warnings) == 1 and "validation FID is off" in warnings[0] and "--inception" in warnings[0]
    lines = [line for line in trained.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and "d_loss=" in lines[0] and "\x1b" not in trained.stdout  # plain, no escapes
    out = workdir / "grid.png"
    sampled = kgan("sample", "--n", "10", "--out", str(out), "--seed", "2", cwd=workdir)
    assert sampled.returncode == 0, sampled.stderr
    image = np.asarray(Image.open(out))
    assert image.shape == (3 * 66 + 2, 4 * 66 + 2, 3) and image.std() > 5  # 32 px tiles shown at 64
    resumed = kgan("train", "--resume", "--epochs", "3", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 3/3" in resumed.stdout


def test_bad_flags_are_one_line_errors(workdir):
    assert_one_line_error(kgan("train", "--epochs", "0", cwd=workdir), "--epochs")
    assert_one_line_error(kgan("train", "--variant", "gan", cwd=workdir), "--variant")
    assert_one_line_error(kgan("train", "--bogus", cwd=workdir), "--bogus")
    assert_one_line_error(kgan("train", "--data", str(workdir / "nowhere"), cwd=workdir), "does not exist")
    assert_one_line_error(kgan("sample", cwd=workdir), "no run found")
    assert_one_line_error(kgan("sample", "--n", "0", cwd=workdir), "--n")
    assert_one_line_error(kgan("train", "--resume", cwd=workdir), "no run found")


def test_data_errors_are_one_line(workdir):
    empty = workdir / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    assert_one_line_error(kgan("data", "prepare", str(empty), "--out", "out", cwd=workdir), "no usable image")
    assert_one_line_error(kgan("data", "prepare", "missing", "--out", "out", cwd=workdir), "does not exist")
    closed = closed_url("/faces.zip")
    offline = kgan(
        "data",
        "fetch",
        "anime-faces",
        "--out",
        "faces",
        cwd=workdir,
        env={"KGAN_ANIME_FACES_URL": closed, "KGAN_CACHE_DIR": str(workdir / "cache")},
    )
    assert_one_line_error(offline, "cannot download", "kgan data prepare")
    assert not (workdir / "faces").exists()


def test_resume_accepts_the_original_command_and_refuses_changes(workdir, small_dataset):
    original = ["train", "--variant", "wgangp", "--data", str(small_dataset), *TINY, "--steps-per-epoch", "1"]
    first = kgan(*original, "--epochs", "1", "--seed", "7", "--run-dir", "run", cwd=workdir)
    assert first.returncode == 0, first.stderr
    # The original command again, plus --resume and more epochs (the data path spelled otherwise).
    relative = Path(os.path.relpath(small_dataset, workdir))
    again = [*original, "--seed", "7", "--run-dir", "run"]
    again[again.index(str(small_dataset))] = str(relative)
    resumed = kgan(*again, "--epochs", "2", "--resume", "--time-budget", "60", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "epoch 2/2" in resumed.stdout
    assert json.loads((workdir / "run" / "config.json").read_text())["time_budget"] == 60
    changed = kgan(*again, "--epochs", "3", "--resume", "--batch-size", "16", "--seed", "8", cwd=workdir)
    assert_one_line_error(changed, "--batch-size: 8 → 16", "--seed: 7 → 8", "--resume")
    other_data = kgan("data", "synthetic", "--out", "other", "--count", "40", cwd=workdir)
    assert other_data.returncode == 0, other_data.stderr
    assert_one_line_error(kgan("train", "--resume", "--run-dir", "run", "--data", "other", cwd=workdir), "--data:")
    quick = kgan("train", "--resume", "--run-dir", "run", "--preset", "quick", cwd=workdir)
    assert_one_line_error(quick, "--g-width: 4 → 48", "--d-width: 4 → 32", "--batch-size: 8 → 64")


@pytest.mark.slow
def test_bench_fid_prints_extraction_and_fid_time(workdir, small_dataset):
    result = kgan(
        "bench", "fid", "--samples", "6", "--batch-size", "3", "--data", str(small_dataset), "--json", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    import json

    figures = json.loads(result.stdout)
    assert figures["extraction_images_per_sec"] > 0 and figures["val_fid_samples"] == 6
    assert figures["val_fid_seconds_cached_real"] > 0 and "random-inception-v3" in figures["features"]


@pytest.mark.slow
def test_bench_prints_figures(workdir, small_dataset):
    result = kgan(
        "bench",
        "train",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--data",
        str(small_dataset),
        "--json",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    import json

    figures = json.loads(result.stdout)
    assert figures["image_size"] == 64 and figures["fit_step_images_per_sec"] > 0
    assert figures["pipeline_images_per_sec"] > figures["fit_step_images_per_sec"]


@pytest.mark.slow  # nine `kgan` processes; `kgan fid --json` and its table also run in test_avatar_features
def test_kgan_fid_json_and_table(workdir, small_dataset, tmp_path):
    import json

    import keras

    image = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=2)(image))
    model_path = tmp_path / "features.keras"
    keras.Model(image, features).save(model_path)
    trained = kgan("train", "--data", str(small_dataset), "--epochs", "1", *TINY, "--steps-per-epoch", "1", cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    result = kgan("fid", "--features", str(model_path), "--json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    for key in ("fid", "kid", "n_real", "n_generated", "features", "split", "checkpoint"):
        assert key in record
    assert record["split"] == "test" and record["n_real"] == record["n_generated"] == 20
    assert "no validation FID was recorded" in record["checkpoint"]["description"]
    assert record["checkpoint"]["step"] == 1 and record["checkpoint"]["epoch"] == 1
    assert record["checkpoint"]["val_fid"] is None
    assert record["rank_deficient"] is False and record["dimensions"] == 4  # 20 images, 4-d features
    few = kgan("fid", "--features", str(model_path), "--samples", "3", cwd=workdir)
    assert few.returncode == 0, few.stderr
    assert "rank-deficient" in few.stdout and "same number of images" in few.stdout
    table = kgan("fid", "--features", str(model_path), "--split", "val", "--samples", "8", cwd=workdir)
    assert table.returncode == 0, table.stderr
    assert "FID" in table.stdout and "not comparable" in table.stdout and "recall (k=3)" in table.stdout
    saved = kgan("fid", "--features", str(model_path), "--save-stats", "test.npz", "--json", cwd=workdir)
    assert saved.returncode == 0, saved.stderr
    scored = kgan("fid", "--features", str(model_path), "--ref-stats", "test.npz", "--json", cwd=workdir)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["fid"] == pytest.approx(json.loads(saved.stdout)["fid"], rel=1e-9)
    (workdir / "bad.npz").write_text("not statistics")
    bad = kgan("fid", "--features", str(model_path), "--ref-stats", "bad.npz", cwd=workdir)
    assert_one_line_error(bad, "not an FID statistics file")
    assert_one_line_error(kgan("fid", "--checkpoint", "nowhere", cwd=workdir), "--checkpoint")
    offline = kgan("fid", "--inception", str(tmp_path / "missing"), cwd=workdir)
    assert_one_line_error(offline, "does not exist")


def test_runs_report_and_show(workdir, small_dataset):
    import json

    trained = kgan(
        "train",
        "--data",
        str(small_dataset),
        "--epochs",
        "2",
        *TINY,
        "--steps-per-epoch",
        "1",
        "--run-dir",
        "runs/first",
        cwd=workdir,
    )
    assert trained.returncode == 0, trained.stderr
    table = kgan("runs", cwd=workdir)
    assert table.returncode == 0 and "first" in table.stdout and "finished" in table.stdout
    listed = json.loads(kgan("runs", "--json", cwd=workdir).stdout)
    assert [row["name"] for row in listed] == ["first"] and listed[0]["epochs"] == 2
    report = kgan("report", cwd=workdir)
    assert report.returncode == 0, report.stderr
    assert (workdir / "runs/first/report/index.html").is_file()
    shown = kgan("sample", "--n", "4", "--show", "--out", "grid.png", cwd=workdir)
    assert shown.returncode == 0 and "▀" in shown.stdout


def test_every_hyperparameter_is_a_train_option_with_its_effective_default(workdir):
    shown = kgan("train", "--help", cwd=workdir, env={"COLUMNS": "300"})
    assert shown.returncode == 0, shown.stderr
    for field in fields():
        flag = f"│ --{field.name.replace('_', '-')} "  # an option row of the table, not an example
        line = next((line for line in shown.stdout.splitlines() if line.startswith(flag)), "")
        assert field.metadata["help"].split(" (")[0] in line and "[default: " in line, (field.name, line)
    assert "[default: 128]" in shown.stdout and "[default: dcgan: batch · wgangp: instance]" in shown.stdout
    assert "Examples:" in shown.stdout


def test_dry_run_prints_the_resolved_config_that_config_reads_back(workdir):
    printed = kgan("train", "--variant", "wgangp", "--preset", "quick", "--lr-d", "1e-4", "--dry-run", cwd=workdir)
    assert printed.returncode == 0, printed.stderr
    (workdir / "run.toml").write_text(printed.stdout)
    expected = TrainConfig.resolve("wgangp", "quick", flags={"lr_d": 1e-4})
    assert TrainConfig.load(workdir / "run.toml") == expected
    again = kgan("train", "--config", "run.toml", "--dry-run", cwd=workdir)
    assert again.stdout == printed.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["run.toml"]  # nothing trained, nothing drawn


def test_version_names_the_stack_and_the_cpu_backend(workdir):
    import keras
    import tensorflow as tf

    shown = kgan("--version", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert f"TensorFlow {tf.__version__}" in shown.stdout and f"Keras {keras.__version__}" in shown.stdout
    assert "GPU: " in shown.stdout and "oneDNN" in shown.stdout


def test_a_model_larger_than_the_data_is_refused_unless_asked_for(workdir, small_dataset):
    tiny = [*TINY[:2], *TINY[4:]]  # without --image-size
    bigger = ["train", "--data", str(small_dataset), "--image-size", "128", *tiny, "--epochs", "1"]
    refused = kgan(*bigger, "--steps-per-epoch", "1", cwd=workdir)
    assert_one_line_error(refused, "--image-size 128", "96 px", "kgan data prepare", "--allow-upsample")
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())  # no run left behind
    allowed = kgan(*bigger, "--steps-per-epoch", "1", "--allow-upsample", cwd=workdir)
    assert allowed.returncode == 0, allowed.stderr
    warnings = [line for line in allowed.stderr.splitlines() if line.startswith("kgan: warning:")]
    assert len(warnings) == 1 and "enlarged" in warnings[0] and "128 px on 96-px" in warnings[0]


def test_data_commands_warn_when_an_evaluation_split_is_too_small_for_fid(workdir):
    drawn = kgan("data", "synthetic", "--out", "few", "--count", "1500", "--val", "1000", "--test", "30", cwd=workdir)
    assert drawn.returncode == 0, drawn.stderr
    warnings = [line for line in drawn.stderr.splitlines() if line.startswith("kgan: warning:")]
    assert len(warnings) == 1 and "test split has 30 images" in warnings[0] and "--test" in warnings[0]

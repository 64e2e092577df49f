"""`--init-from`: a new run starts from another run's G and D (its best checkpoint) or an
export's G, and refuses a source of another shape in one line, before writing anything."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import assert_one_line_error, kgan, tiny_config

from kgan import runs
from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.runs import create_run
from kgan.runs.folder import RunFolder
from kgan.serving.export import export_run
from kgan.training import checkpoint
from kgan.training.session import TrainingSession, train

TINY = ["--batch-size", "8", "--image-size", "32", "--g-width", "4", "--d-width", "4", "--fid-every", "0"]


@pytest.fixture(scope="module")
def source(tmp_path_factory, small_dataset):
    run_dir = tmp_path_factory.mktemp("warm") / "source"
    create_run(tiny_config(epochs=2, steps_per_epoch=3, ema=0.9), PreparedDataset(small_dataset), run_dir)
    assert train(run_dir).status == "finished"
    return run_dir


def started(run_dir):
    session = TrainingSession.open(run_dir)
    assert session.restore() == 0
    return session


def test_a_run_starts_from_the_best_checkpoint_of_another(source, small_dataset, tmp_path):
    config = tiny_config(epochs=1, steps_per_epoch=3, ema=0.9, init_from=str(source))
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "tuned")
    session = started(run_dir)
    path, record = checkpoint.chosen(source)  # no val FID in the source: its newest, as everywhere
    reference = TrainingSession.open(source)
    assert checkpoint.restore(path, reference.gan, optimizers=False)["step"] == record["step"] == 6
    for mine, other in (
        (session.gan.generator, reference.gan.generator),
        (session.gan.discriminator, reference.gan.discriminator),
        (session.gan.ema_generator, reference.gan.generator),  # the EMA starts where G starts
    ):
        for a, b in zip(mine.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert int(session.gan.g_optimizer.iterations.numpy()) == 0  # its own optimizer state
    assert train(run_dir).status == "finished"
    sessions = RunFolder(run_dir).record()["sessions"]
    assert sessions[0]["init_from"]["checkpoint"]["name"] == "step-00000006"


def test_an_export_gives_its_generator_and_a_fresh_discriminator(source, small_dataset, tmp_path):
    base = tmp_path / "models" / "generator"
    _, origin = export_run(source, base)
    config = tiny_config(epochs=1, steps_per_epoch=3, init_from=str(base))
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "tuned")
    with pytest.warns(UserWarning, match="generator only"):
        session = started(run_dir)
    exported = checkpoint.load_generator(
        checkpoint.checkpoint_dir(source) / origin["checkpoint"]["name"], runs.load_config(source)
    )
    for a, b in zip(session.gan.generator.get_weights(), exported.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = TrainingSession.open(create_run(tiny_config(), PreparedDataset(small_dataset), tmp_path / "fresh"))
    for a, b in zip(session.gan.discriminator.get_weights(), fresh.gan.discriminator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the same seed's fresh D


def test_a_source_of_another_shape_is_one_line_and_nothing_is_written(source, small_dataset, tmp_path):
    with pytest.raises(KganError, match="--g-width 4 there, 8 here"):
        create_run(tiny_config(g_width=8, init_from=str(source)), PreparedDataset(small_dataset), tmp_path / "no")
    assert not (tmp_path / "no").exists()
    args = ["train", "--data", str(small_dataset), *TINY, "--epochs", "1", "--run-dir", "run"]
    refused = kgan(*args, "--z-dim", "16", "--init-from", str(source), cwd=tmp_path)
    assert_one_line_error(refused, "--init-from", "--z-dim 8 there, 16 here")
    assert not (tmp_path / "run").exists()
    refused = kgan(*args, "--init-from", str(tmp_path), cwd=tmp_path)
    assert_one_line_error(refused, "neither a run folder nor an export")
    done = kgan(*args, "--z-dim", "8", "--steps-per-epoch", "2", "--init-from", str(source), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["init_from"]
    assert recorded == str(source.resolve())

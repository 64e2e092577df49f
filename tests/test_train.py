"""Runs: exact resume, Ctrl-C, non-finite losses, checkpoints written atomically."""

from __future__ import annotations

import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import final_weights, tiny_config

from kgan import runs
from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError, KganWarning
from kgan.runs import create_run
from kgan.runs.folder import RunFolder, elapsed_by_epoch, out_of_time
from kgan.training import checkpoint
from kgan.training.session import build_gan, train
from kgan.training.signals import Stopped
from kgan.training.step_metrics import reported


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)  # bit for bit: resuming is exact


class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after a given global step, as Ctrl-C would."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations) == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("variant", ["dcgan", "wgangp"])
def test_resume_equals_straight_training(tmp_path, small_dataset, variant):
    dataset = PreparedDataset(small_dataset)
    config = tiny_config(variant=variant, epochs=3, ema=0.9 if variant == "dcgan" else 0.0)
    straight = create_run(config, dataset, tmp_path / "straight")
    assert train(straight).status == "finished"

    split = create_run(config, dataset, tmp_path / "split")
    assert train(split, epochs=1).status == "finished"
    result = train(split, epochs=3)
    assert (result.status, result.step, result.epoch) == ("finished", 9, 3)
    assert_same_weights(final_weights(straight, average=True), final_weights(split, average=True))
    assert json.loads((split / "config.json").read_text())["epochs"] == 3


@pytest.mark.parametrize("condition", ["", "hair_colour,background"])
def test_ctrl_c_saves_and_resume_mid_epoch_is_exact(tmp_path, small_dataset, condition):
    """Weights, and the cut epoch's figures: its losses are means over all its steps, those
    before the stop included, as in the run that went straight through."""
    dataset = PreparedDataset(small_dataset)
    config = tiny_config(epochs=2, steps_per_epoch=4, condition=condition)
    straight = create_run(config, dataset, tmp_path / "straight")
    train(straight)

    cut = create_run(config, dataset, tmp_path / "cut")
    result = train(cut, callbacks=[InterruptAt(6)])
    assert (result.status, result.step) == ("interrupted", 6)
    assert checkpoint.latest(cut).name == "step-00000006"
    assert RunFolder(cut).record()["status"] == "interrupted"
    assert train(cut).status == "finished"
    assert_same_weights(final_weights(straight, average=True), final_weights(cut, average=True))
    epochs = [row["epoch"] for row in RunFolder(cut).metrics()]
    assert epochs == [1, 2]
    names = reported(bool(condition))
    figures = [[{name: row[name] for name in names} for row in RunFolder(run).metrics()] for run in (straight, cut)]
    assert figures[0] == figures[1]


class SignalBefore(keras.callbacks.Callback):
    """Sends this process a real stop signal as a given step is about to run."""

    def __init__(self, step, signum):
        super().__init__()
        self.step, self.signum = step, signum

    def on_plan(self, plan, config):  # step 0: while the run is being set up, before any step
        if self.step == 0:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations) == self.step - 1:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_lets_the_step_in_progress_finish_then_saves(tmp_path, small_dataset, signum):
    dataset = PreparedDataset(small_dataset)
    config = tiny_config(epochs=2, steps_per_epoch=4)
    straight = create_run(config, dataset, tmp_path / "straight")
    train(straight)

    cut, said, before = create_run(config, dataset, tmp_path / "cut"), [], signal.getsignal(signum)
    result = train(cut, callbacks=[SignalBefore(6, signum)], warn=said.append)
    assert (result.status, result.step, result.signum) == ("interrupted", 6, signum)
    assert len(said) == 1 and "stopping after this step" in said[0] and "again quits at once" in said[0]
    assert checkpoint.latest(cut).name == "step-00000006"
    assert train(cut).status == "finished"
    assert_same_weights(final_weights(straight, average=True), final_weights(cut, average=True))
    assert signal.getsignal(signum) is before  # the handler is given back


def test_a_stop_signal_before_the_first_step_stops_at_once(tmp_path, small_dataset):
    run_dir, said = create_run(tiny_config(), PreparedDataset(small_dataset), tmp_path / "run"), []
    with pytest.raises(Stopped):
        train(run_dir, callbacks=[SignalBefore(0, signal.SIGTERM)], warn=said.append)
    assert said == [] and checkpoint.latest(run_dir) is None


class PoisonAt(keras.callbacks.Callback):
    """Turns a discriminator weight into NaN after a given step (a diverged run)."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations) == self.step:
            variable = self.model.discriminator.trainable_variables[0]
            variable.assign(np.full(variable.shape, np.nan, np.float32))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, small_dataset):
    config = tiny_config(epochs=4, steps_per_epoch=3)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    result = train(run_dir, callbacks=[PoisonAt(4)])
    assert result.status == "failed"
    assert "non-finite" in result.message and "step-00000003" in result.message
    assert [p.name for p in checkpoint.list_checkpoints(run_dir)] == ["step-00000003"]
    assert RunFolder(run_dir).record()["status"] == "failed"
    state = checkpoint.read_state(checkpoint.latest(run_dir))
    assert state["step"] == 3
    restored = build_gan(config)
    checkpoint.restore(checkpoint.latest(run_dir), restored)
    assert all(np.isfinite(w).all() for w in restored.discriminator.get_weights())


def test_run_directory_contents(tmp_path, small_dataset):
    config = tiny_config(epochs=2, keep_checkpoints=1)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    train(run_dir)
    assert runs.latest_run() == run_dir.resolve()
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert [p.name for p in checkpoint.list_checkpoints(run_dir)] == ["step-00000006"]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-00000006"]  # no temp leftovers
    rows = RunFolder(run_dir).metrics()
    assert [r["epoch"] for r in rows] == [1, 2] and all(np.isfinite(r["d_loss"]) for r in rows)
    assert rows[-1]["step"] == 6 and rows[-1]["images_per_sec"] > 0
    info = json.loads((run_dir / "dataset.json").read_text())
    assert info["split_id"] == PreparedDataset(small_dataset).split_id
    with pytest.raises(KganError, match="already holds a run"):
        create_run(config, PreparedDataset(small_dataset), run_dir)
    assert train(run_dir).message.startswith("already trained")


def test_interrupted_checkpoint_write_leaves_nothing_half_written(tmp_path, small_dataset, monkeypatch):
    config = tiny_config(epochs=1)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    gan = build_gan(config)

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gan.discriminator, "save_weights", explode)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(run_dir, gan, {"step": 1})
    assert list((run_dir / "checkpoints").iterdir()) == []


def test_a_damaged_newest_checkpoint_gives_way_to_the_previous_good_one(tmp_path, small_dataset):
    config = tiny_config(epochs=2, steps_per_epoch=3)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    assert train(run_dir).status == "finished"
    first, newest = checkpoint.list_checkpoints(run_dir)
    weights = newest / "discriminator.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # a truncated copy
    assert "truncated" in checkpoint.damage(newest) and checkpoint.damage(first) is None
    with pytest.warns(KganWarning, match=f"{newest.name} is damaged .*falling back to {first.name}"):
        assert checkpoint.resolve(run_dir, "last")[0] == first
    with pytest.warns(KganWarning, match="damaged"):
        result = train(run_dir, epochs=3)  # resumes from the good one: step 3, then 2 more epochs
    assert (result.status, result.step) == ("finished", 9)
    for path in checkpoint.list_checkpoints(run_dir):
        (path / "optimizers.npz").unlink()
    with pytest.warns(KganWarning), pytest.raises(KganError, match=r"every checkpoint .* is damaged"):
        checkpoint.resolve(run_dir, "last")


class OutOfMemoryAt(keras.callbacks.Callback):
    """TensorFlow's own out-of-memory error after a given step, as an allocation that failed."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.g_optimizer.iterations) == self.step:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[8,64,16,16]")


def test_out_of_memory_is_one_line_with_a_checkpoint_of_the_progress(tmp_path, small_dataset):
    config = tiny_config(epochs=3, steps_per_epoch=3)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    result = train(run_dir, callbacks=[OutOfMemoryAt(5)])
    assert result.status == "failed" and "\n" not in result.message
    assert "out of memory at step 5" in result.message and "--batch-size" in result.message
    assert "checkpoint step-00000005 saved" in result.message
    assert checkpoint.latest(run_dir).name == "step-00000005"
    assert train(run_dir).status == "finished"  # and the run continues from there


class SlowEpochs(keras.callbacks.Callback):
    """Makes every epoch take at least `seconds`."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_begin(self, epoch, logs=None):
        import time

        time.sleep(self.seconds)


def test_time_budget_ends_the_run_at_the_last_epoch_that_fits(tmp_path, small_dataset):
    dataset = PreparedDataset(small_dataset)
    # 0.3 s per epoch at least, against a budget of 0.012 min = 0.72 s: one or two epochs fit, not five.
    run_dir = create_run(tiny_config(epochs=5, time_budget=0.012), dataset, tmp_path / "budget")
    result = train(run_dir, callbacks=[SlowEpochs(0.3)])
    assert result.status == "stopped_early" and "time budget reached" in result.message
    rows = RunFolder(run_dir).metrics()
    assert 1 <= len(rows) <= 2 and result.epoch == len(rows)
    assert rows[-1]["elapsed_seconds"] <= 0.72 or len(rows) == 1  # never an epoch past the budget
    assert RunFolder(run_dir).record()["status"] == "stopped_early"

    # Without a tight budget every epoch runs, and the clock adds up across sessions.
    roomy = create_run(tiny_config(epochs=3, time_budget=60), dataset, tmp_path / "roomy")
    assert train(roomy, epochs=1).status == "finished"
    assert train(roomy, epochs=3, callbacks=[SlowEpochs(0.2)]).status == "finished"
    elapsed = [row["elapsed_seconds"] for row in RunFolder(roomy).metrics()]
    assert len(elapsed) == 3 and elapsed[0] > 0
    assert elapsed[1] - elapsed[0] >= 0.2 and elapsed[2] - elapsed[1] >= 0.2


def test_time_budget_counts_older_rows_by_their_seconds():
    old = [{"epoch": 1, "seconds": 10.0, "fid_seconds": 2.0}, {"epoch": 2, "seconds": 11.0}]
    assert elapsed_by_epoch(old) == {1: 12.0, 2: 23.0}
    newer = [*old, {"epoch": 3, "seconds": 5.0, "elapsed_seconds": 40.0}]
    assert elapsed_by_epoch(newer)[3] == 40.0
    assert not out_of_time(newer, 0) and not out_of_time([], 1)
    assert out_of_time(newer, 44 / 60) and not out_of_time(newer, 46 / 60)  # 40 s + 5 s for one more


def test_a_run_out_of_time_continues_with_a_larger_budget(tmp_path, small_dataset):
    run_dir = create_run(tiny_config(epochs=4, time_budget=0.001), PreparedDataset(small_dataset), tmp_path / "run")
    first = train(run_dir, callbacks=[SlowEpochs(0.1)])
    assert first.status == "stopped_early" and first.epoch == 1
    again = train(run_dir)  # nothing left: no epoch is started
    assert again.status == "stopped_early" and "time budget of 0.001 min is used up" in again.message
    assert len(RunFolder(run_dir).metrics()) == 1
    more = train(run_dir, time_budget=30)
    assert (more.status, more.epoch) == ("finished", 4)
    assert runs.load_config(run_dir).time_budget == 30
    elapsed = [row["elapsed_seconds"] for row in RunFolder(run_dir).metrics()]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0.1


def test_time_budget_is_refused_under_multiworker():
    with pytest.raises(KganError, match="--time-budget needs one process"):
        tiny_config(time_budget=5, strategy="multiworker")


@pytest.mark.parametrize("condition", ["", "hair_colour,background"])
def test_the_moving_average_leaves_g_and_d_to_train_as_without_it(tmp_path, small_dataset, condition):
    """--ema adds an average of G to sample from; G and D themselves, their optimizers and the
    losses must be those of the same run without it, steered or not."""
    dataset = PreparedDataset(small_dataset)
    options = dict(condition=condition, epochs=2, steps_per_epoch=4, g_width=8, d_width=8)
    plain = create_run(tiny_config(ema=0.0, **options), dataset, tmp_path / "plain")
    averaged = create_run(tiny_config(ema=0.9, **options), dataset, tmp_path / "averaged")
    assert train(plain).status == train(averaged).status == "finished"
    for left, right in zip(final_weights(plain), final_weights(averaged), strict=True):
        np.testing.assert_array_equal(left, right)
    losses = [[row["d_loss"] for row in RunFolder(run).metrics()] for run in (plain, averaged)]
    assert losses[0] == losses[1]


def test_the_moving_average_samples_with_batchnorm_statistics_of_its_own(tmp_path, small_dataset):
    """--ema averages G's weights; BatchNorm's statistics must be those of the averaged weights,
    or its images in inference mode are not the images its batches normalise to."""
    from kgan.sampling import fixed_noise

    config = tiny_config(epochs=2, steps_per_epoch=20, ema=0.95, g_width=8)
    run = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    train(run)
    average = checkpoint.load_generator(checkpoint.latest(run), config)
    z = fixed_noise(11, 1024, config.z_dim)  # other noise than the statistics were measured on
    stored = np.asarray(average(z, training=False))
    normalised_by_the_batch = np.asarray(average(z, training=True))
    assert np.abs(stored - normalised_by_the_batch).mean() < 0.01  # G's copied statistics miss by several times this


def test_a_moving_average_saved_with_g_s_statistics_is_measured_again_on_loading(tmp_path, small_dataset):
    from kgan.sampling import fixed_noise
    from kgan.training.models import build_generator
    from kgan.training.standing_statistics import batch_norms

    config = tiny_config(epochs=1, steps_per_epoch=20, ema=0.95, g_width=8)
    run = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    train(run)
    saved = checkpoint.latest(run)
    z = fixed_noise(11, 64, config.z_dim)
    expected = np.asarray(checkpoint.load_generator(saved, config)(z, training=False))
    older = build_generator(config)  # as checkpoints were written before: the average's weights, G's statistics
    older.load_weights(saved / "ema_generator.weights.h5")
    trained = build_generator(config)
    trained.load_weights(saved / "generator.weights.h5")
    for mine, g_s in zip(batch_norms(older), batch_norms(trained)):
        mine.moving_mean.assign(g_s.moving_mean)
        mine.moving_variance.assign(g_s.moving_variance)
    older.save_weights(saved / "ema_generator.weights.h5")
    state = json.loads((saved / "state.json").read_text())
    assert state.pop("ema_statistics") == "own"  # a new checkpoint says so; one written before does not
    (saved / "state.json").write_text(json.dumps(state))
    assert not np.allclose(np.asarray(older(z, training=False)), expected, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(checkpoint.load_generator(saved, config)(z, training=False)), expected)


def test_a_moving_average_saved_with_its_own_statistics_loads_as_saved(tmp_path, small_dataset):
    from kgan.training.models import build_generator
    from kgan.training.standing_statistics import batch_norms

    config = tiny_config(epochs=1, steps_per_epoch=20, ema=0.95, g_width=8)
    run = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    train(run)
    saved = checkpoint.latest(run)
    as_saved = build_generator(config)
    as_saved.load_weights(saved / "ema_generator.weights.h5")
    for norm in batch_norms(as_saved):  # statistics no measurement gives: loading must not measure again
        norm.moving_mean.assign(norm.moving_mean + 1.0)
    as_saved.save_weights(saved / "ema_generator.weights.h5")
    loaded = checkpoint.load_generator(saved, config)
    for mine, theirs in zip(batch_norms(loaded), batch_norms(as_saved), strict=True):
        np.testing.assert_array_equal(np.asarray(mine.moving_mean), np.asarray(theirs.moving_mean))
        np.testing.assert_array_equal(np.asarray(mine.moving_variance), np.asarray(theirs.moving_variance))

"""The learning rates' schedule: constant, or falling linearly to zero over a run's last epochs,
exactly the same after a stop and a resume."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers import final_weights, tiny_config
from test_train import InterruptAt

from kgan.data.dataset import PreparedDataset
from kgan.runs import create_run
from kgan.training import checkpoint
from kgan.training.session import train

LR_G, LR_D = 2e-4, 5e-4


def logged_rates(run_dir) -> dict[str, dict[int, float]]:
    """The step scalars lr_g and lr_d a run wrote to TensorBoard, by step."""
    rates: dict[str, dict[int, float]] = {"step/lr_g": {}, "step/lr_d": {}}
    for event_file in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag in rates:
                    rates[value.tag][event.step] = float(tf.make_ndarray(value.tensor))
    return rates


@pytest.mark.parametrize("condition", ["", "hair_colour,background"])
def test_the_rates_hold_then_fall_linearly_to_zero_over_the_last_epochs(tmp_path, small_dataset, condition):
    config = tiny_config(
        condition=condition, epochs=3, steps_per_epoch=4, lr_decay_epochs=2, lr_g=LR_G, lr_d=LR_D, log_every=1
    )
    run = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    assert train(run).status == "finished"
    rates = logged_rates(run)
    g = np.array([rates["step/lr_g"][step] for step in range(1, 13)])  # the rate each update took
    d = np.array([rates["step/lr_d"][step] for step in range(1, 13)])
    np.testing.assert_allclose(g[:5], LR_G, rtol=1e-6)  # the first epoch and the fall's first update
    falls = np.diff(g[4:])
    assert np.all(falls < 0) and np.allclose(falls, falls[0], rtol=1e-4)  # linear
    np.testing.assert_allclose(g[-1], LR_G / 8, rtol=1e-5)  # eight updates down: the last still moves
    np.testing.assert_allclose(d, g * (LR_D / LR_G), rtol=1e-5)  # D's rate falls in proportion


def test_a_run_stopped_in_its_fall_resumes_exactly(tmp_path, small_dataset):
    dataset = PreparedDataset(small_dataset)
    config = tiny_config(epochs=2, steps_per_epoch=4, lr_decay_epochs=1)
    straight = create_run(config, dataset, tmp_path / "straight")
    assert train(straight).status == "finished"
    cut = create_run(config, dataset, tmp_path / "cut")
    assert train(cut, callbacks=[InterruptAt(6)]).status == "interrupted"  # two updates into the fall
    assert checkpoint.latest(cut).name == "step-00000006"
    assert train(cut).status == "finished"
    for left, right in zip(final_weights(straight), final_weights(cut), strict=True):
        np.testing.assert_array_equal(left, right)
    constant = create_run(config.with_overrides(lr_decay_epochs=0), dataset, tmp_path / "constant")
    assert train(constant).status == "finished"
    assert not all(np.array_equal(a, b) for a, b in zip(final_weights(straight), final_weights(constant)))

"""FID protocol end to end: extractors, cached real features, validation FID in training, `kgan fid`."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import closed_url, tiny_config

from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.metrics import fid
from kgan.metrics.evaluate import evaluate, evaluate_run, generated_features
from kgan.metrics.extractors import load_extractor
from kgan.metrics.reference import cache_locations, real_features
from kgan.runs import create_run
from kgan.runs.folder import RunFolder
from kgan.training import checkpoint
from kgan.training.models import build_generator
from kgan.training.session import train


@pytest.fixture(scope="module")
def feature_model(tmp_path_factory) -> str:
    """A small, fixed `.keras` feature model (images → 16-d), standing in for Inception speed-wise."""
    keras.utils.set_random_seed(1)
    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    features = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path_factory.mktemp("features") / "tiny-features.keras"
    keras.Model(image, features).save(path)
    return str(path)


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory) -> str:
    """A local SavedModel shaped like the TF-GAN Inception module: 299×299 in, pool_3/logits out."""

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.kernel = tf.Variable(tf.random.stateless_normal([3, 2048], seed=[1, 2]))

        @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
        def __call__(self, images):
            pooled = tf.reduce_mean(images, axis=[1, 2]) @ self.kernel
            return {"pool_3": tf.reshape(tf.nn.relu(pooled), [-1, 1, 1, 2048]), "logits": pooled[:, :1008]}

    path = tmp_path_factory.mktemp("inception") / "inception-1"
    tf.saved_model.save(Module(), str(path))
    return str(path)


def test_local_inception_copy_is_used_through_tf_hub(fake_inception, small_dataset):
    extractor = load_extractor(None, fake_inception)
    assert extractor.comparable and extractor.input_size == 299 and "inception" in extractor.name
    features = extractor(np.zeros((3, 32, 32, 3), np.float32))
    assert features.shape == (3, 2048)


def test_offline_inception_is_one_clear_error(monkeypatch, tmp_path):
    closed = closed_url("/inception.tar.gz")
    with pytest.raises(KganError, match="--inception PATH") as error:
        load_extractor(None, closed)
    message = str(error.value)
    assert "\n" not in message
    # The offline way that measures something comes first; random weights come last.
    assert message.index("--features avatar") < message.index("--inception PATH") < message.index("random-inception")
    monkeypatch.setenv("KGAN_INCEPTION", str(tmp_path / "missing"))
    with pytest.raises(KganError, match="does not exist"):
        load_extractor()


def test_any_count_any_batch_size_same_fid(feature_model, small_dataset):
    dataset = PreparedDataset(small_dataset)
    extractor = load_extractor(feature_model)
    generator = build_generator(tiny_config())
    a = generated_features(generator, extractor, 23, 8, seed=1, batch_size=10)
    b = generated_features(generator, extractor, 23, 8, seed=1, batch_size=23)
    assert a.shape == (23, 16)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    options = dict(split="val", image_size=32, z_dim=8, seed=1)
    small = evaluate(generator, dataset, extractor, batch_size=3, **options)
    large = evaluate(generator, dataset, extractor, batch_size=50, **options)
    assert small.fid == pytest.approx(large.fid, rel=1e-4)
    assert (small.n_real, small.n_generated) == (20, 20)


def test_cached_real_features_equal_fresh_ones(feature_model, small_dataset, tmp_path):
    dataset = PreparedDataset(small_dataset)
    extractor = load_extractor(feature_model)
    for path in cache_locations(dataset, "x"):
        for stale in path.parent.glob("*.npz"):
            stale.unlink()
    fresh, fresh_stats = real_features(dataset, "test", 32, extractor)
    written = list((small_dataset / "stats").glob("test-32px-*.npz"))
    assert len(written) == 1
    cached, cached_stats = real_features(dataset, "test", 32, extractor)
    np.testing.assert_array_equal(fresh, cached)
    np.testing.assert_array_equal(fresh_stats.cov, cached_stats.cov)
    generator = build_generator(tiny_config())
    result = evaluate(generator, dataset, extractor, split="test", image_size=32, z_dim=8, seed=4)
    direct = fid(fresh, generated_features(generator, extractor, 20, 8, seed=4))
    assert result.fid == pytest.approx(direct, rel=1e-6)


def test_validation_fid_keeps_the_best_checkpoint_and_stops_early(small_dataset, tmp_path):
    scores = iter([5.0, 3.0, 4.0, 6.0, 7.0, 1.0])
    config = tiny_config(epochs=6, fid_every=1, patience=2, keep_checkpoints=1)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    result = train(run_dir, validator=lambda generator: next(scores))
    assert result.status == "stopped_early" and result.epoch == 4
    assert "best 3.000 at epoch 2" in result.message
    best = checkpoint.best(run_dir)
    assert best["epoch"] == 2 and best["checkpoint"] == "step-00000006"
    names = [p.name for p in checkpoint.list_checkpoints(run_dir)]
    assert names == ["step-00000006", "step-00000012"]  # the best survives pruning
    rows = RunFolder(run_dir).metrics()
    assert [r["val_fid"] for r in rows] == [5.0, 3.0, 4.0, 6.0]
    assert rows[-1]["best_val_fid"] == 3.0 and rows[-1]["best_epoch"] == 2
    assert RunFolder(run_dir).record()["status"] == "stopped_early"


def test_training_without_an_extractor_warns_once_and_runs(small_dataset, tmp_path):
    said = []
    config = tiny_config(epochs=2, fid_every=1, inception=str(tmp_path / "nowhere"))
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    result = train(run_dir, warn=said.append)
    assert result.status == "finished" and len(said) == 1 and "validation FID is off" in said[0]
    assert all("val_fid" not in row for row in RunFolder(run_dir).metrics())


def test_real_validation_fid_in_training_and_kgan_fid(feature_model, small_dataset, tmp_path):
    config = tiny_config(epochs=2, fid_every=1, fid_samples=16, features=feature_model)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    assert train(run_dir).status == "finished"
    rows = RunFolder(run_dir).metrics()
    assert all(np.isfinite(r["val_fid"]) for r in rows)
    result, chosen = evaluate_run(run_dir, split="test")
    assert chosen["description"].startswith("best") and result.n_real == result.n_generated == 20
    best = min(rows, key=lambda row: row["val_fid"])  # the record names the checkpoint it scored
    assert (chosen["epoch"], chosen["step"], chosen["val_fid"]) == (best["epoch"], 3 * best["epoch"], best["val_fid"])
    assert result.kid is not None and not result.comparable
    logged = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    assert logged[-1]["fid"] == pytest.approx(result.fid) and logged[-1]["checkpoint"] == chosen
    assert 0 <= result.precision <= 1 and 0 <= result.recall <= 1
    last, chosen = evaluate_run(run_dir, split="val", checkpoint_choice="last", samples=10)
    assert chosen["description"].startswith("last") and last.n_generated == 10
    assert (chosen["epoch"], chosen["step"], chosen["val_fid"]) == (2, 6, rows[-1]["val_fid"])

    # pytorch-fid's statistics format: written from the split, read back as the reference
    saved, _ = evaluate_run(run_dir, split="val", save_stats=tmp_path / "val.npz")
    with np.load(tmp_path / "val.npz") as stats:
        assert stats["mu"].shape == (16,) and stats["sigma"].shape == (16, 16) and int(stats["count"]) == 20
    scored, _ = evaluate_run(run_dir, split="val", ref_stats=tmp_path / "val.npz")
    assert scored.fid == pytest.approx(saved.fid, rel=1e-9) and scored.n_real == scored.n_generated == 20
    assert scored.kid is None and scored.precision is None and scored.split == str(tmp_path / "val.npz")
    np.savez(tmp_path / "wide.npz", mu=np.zeros(8), sigma=np.eye(8))
    with pytest.raises(KganError, match="8-dimensional"):
        evaluate_run(run_dir, ref_stats=tmp_path / "wide.npz")


@pytest.mark.slow
def test_trained_generator_beats_untrained_with_random_inception(tmp_path):
    from kgan.data.synthetic import write_synthetic

    dataset = write_synthetic(tmp_path / "avatars", 700, seed=2, val=60, test=60)
    config = tiny_config(epochs=6, steps_per_epoch=40, batch_size=32, g_width=16, d_width=16, z_dim=32, seed=0)
    run_dir = create_run(config, dataset, tmp_path / "run")
    assert train(run_dir).status == "finished"
    trained = checkpoint.load_generator(checkpoint.latest(run_dir), config)
    untrained = build_generator(config)
    extractor = load_extractor("random-inception-v3")
    assert not extractor.comparable and "not comparable" in extractor.name
    options = dict(split="val", image_size=32, z_dim=32, seed=0, secondary=False)
    good = evaluate(trained, dataset, extractor, **options).fid
    bad = evaluate(untrained, dataset, extractor, **options).fid
    assert good < 0.7 * bad, (good, bad)

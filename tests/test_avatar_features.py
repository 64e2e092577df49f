"""`--features avatar`: the attribute classifier, its feature space and the attribute report.

The tests use the classifier kgan ships; one trains a small one where kgan would train its
own (no shipped weights for the avatars), and the `slow` test checks what its FID means.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import kgan, tiny_config

from kgan.data import synthetic
from kgan.data.dataset import PreparedDataset
from kgan.files import file_sha256
from kgan.metrics import avatar
from kgan.metrics.evaluate import evaluate, evaluate_run
from kgan.metrics.extractors import load_extractor
from kgan.runs import create_run
from kgan.training.session import train

# Below 95%: blush at 32 px (a faint glow). Every other attribute, the accessory among them
# (steering is measured by it), is read at 95% or better.
FLOORS = {"blush": 0.9}


def test_the_shipped_classifier_is_for_the_current_avatars_and_reads_them():
    """Weights ship for the current avatars (a new GENERATOR_VERSION needs new ones), and they
    read avatars they never saw, at 64 px and through a 32-px model's resolution, as well as
    their recorded held-out accuracy says."""
    folder = avatar.classifier_path()
    assert folder.parent == avatar.PACKAGED, (
        f"no classifier ships for avatars v{synthetic.GENERATOR_VERSION}: run "
        "python -c 'from kgan.metrics import avatar; avatar.package_classifier()'"
    )
    model, recorded = avatar.load_classifier()
    for size, by_attribute in recorded.items():
        for name, value in by_attribute.items():
            assert value >= FLOORS.get(name, 0.95), (size, name, value)
    images, attrs = synthetic.generate(400, seed=5)
    truth = avatar.labels_of(attrs)
    for size, low in (("64", False), ("32", True)):
        predicted = model.predict(avatar.as_model_input(images, np.full(400, low)), verbose=0)
        for name in avatar.attribute_values():
            accuracy = (predicted[name].argmax(-1) == truth[name]).mean()
            assert accuracy >= FLOORS.get(name, 0.95) - 0.05, (size, name, accuracy)
            assert accuracy >= recorded[size][name] - 0.06, (size, name, accuracy, recorded[size][name])


def test_labels_from_attributes_csv_match_the_drawn_attributes(small_dataset):
    dataset = PreparedDataset(small_dataset)
    _, attrs = synthetic.generate(200, seed=7)  # the fixture's avatars
    drawn = avatar.labels_of(attrs)
    from_csv = avatar.dataset_labels(dataset, "test")
    for name, values in avatar.attribute_values().items():
        np.testing.assert_array_equal(from_csv[name], drawn[name][dataset.indices("test")])
        assert from_csv[name].max() < len(values)


def test_attribute_report_measures_distance_and_coverage():
    rng = np.random.default_rng(0)
    values = avatar.attribute_values()
    data = {name: rng.integers(0, len(options), 2000) for name, options in values.items()}
    same = avatar.attribute_report(data, data)
    assert all(row["tvd"] == 0 and row["covered"] == row["values"] for row in same.values())
    collapsed = {**data, "hair_colour": np.zeros(2000, np.int64)}  # one hair colour only
    report = avatar.attribute_report(collapsed, data)
    assert report["hair_colour"]["covered"] == 1 and report["hair_colour"]["values"] == 10
    assert report["hair_colour"]["tvd"] == pytest.approx(0.9, abs=0.03) and report["mouth"]["tvd"] == 0
    assert report["hair_colour"]["generated"]["black"] == 1.0


def test_avatar_features_everywhere_an_extractor_is(small_dataset, tmp_path):
    extractor = load_extractor("avatar")
    assert not extractor.comparable and "not comparable with published FIDs" in extractor.name
    images = np.random.default_rng(0).uniform(-1, 1, (5, 32, 32, 3)).astype(np.float32)
    assert extractor(images).shape == (5, avatar.FEATURES)
    assert {name: len(v) for name, v in extractor.last_attributes.items()} == dict.fromkeys(
        avatar.attribute_values(), 5
    )

    # validation FID in training, `kgan fid` with its attribute report, the JSON
    config = tiny_config(epochs=2, fid_every=1, fid_samples=16, features="avatar")
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "run")
    assert train(run_dir).status == "finished"
    result, _ = evaluate_run(run_dir, split="test")
    assert set(result.attributes) == set(avatar.attribute_values())
    assert all(0 <= row["tvd"] <= 1 and 1 <= row["covered"] <= row["values"] for row in result.attributes.values())
    shown = kgan("fid", "--run-dir", str(run_dir), "--split", "val", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "attributes of the generated images" in shown.stdout and "hair colour" in shown.stdout
    record = json.loads(kgan("fid", "--run-dir", str(run_dir), "--json", cwd=tmp_path).stdout)
    assert record["attributes"]["hair_colour"]["values"] == 10 and not record["comparable"]


def test_without_shipped_weights_a_classifier_is_trained_and_cached_with_its_own_key(tmp_path, monkeypatch):
    """Avatars with no shipped weights (a new GENERATOR_VERSION) get a classifier trained into
    the cache; real features are cached by the extractor's key, so each classifier has its own."""
    shipped = load_extractor("avatar").key
    monkeypatch.setattr(avatar, "PACKAGED", tmp_path / "nothing shipped")
    monkeypatch.setenv("KGAN_CACHE_DIR", str(tmp_path / "cache"))
    folder = avatar.classifier_path()
    assert folder.is_relative_to(tmp_path / "cache") and not folder.exists()
    avatar.save_classifier(*avatar.train_classifier(count=300, held_out=100, epochs=1), folder)
    said = []
    small = load_extractor("avatar", announce=said.append)
    assert said == [] and small.key != shipped  # found in the cache, not trained again
    assert small(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, avatar.FEATURES)
    assert file_sha256(folder / avatar.WEIGHTS)[:16] in small.key


def test_a_generator_of_one_hair_colour_is_caught(small_dataset):
    """The report on the data's own images of one hair colour (a perfectly 'collapsed' generator):
    the classifier's predictions cover few hair colours, far from the data's spread."""
    dataset = PreparedDataset(small_dataset)
    truth = avatar.dataset_labels(dataset, "train")
    black = dataset.indices("train")[truth["hair_colour"] == 0]
    images = np.asarray(dataset.images[black], np.float32) / 127.5 - 1.0
    extractor = load_extractor("avatar")
    extractor.extract([images])
    report = avatar.attribute_report(extractor.last_attributes, truth)
    assert report["hair_colour"]["tvd"] > 0.5 and report["hair_colour"]["covered"] <= 5


@pytest.mark.slow
def test_the_classifiers_fid_means_something(tmp_path):
    """The FID between two halves of the data is near 0 next to an untrained generator's."""
    from kgan.metrics import fid
    from kgan.metrics.reference import real_features
    from kgan.training.models import build_generator

    data = tmp_path / "avatars"
    synthetic.write_synthetic(data, 4400, seed=11, val=2000, test=2000)
    dataset = PreparedDataset(data)
    extractor = load_extractor("avatar")
    halves = fid(*(real_features(dataset, split, 32, extractor)[0] for split in ("val", "test")))
    config = tiny_config(image_size=32, g_width=16, d_width=16)
    untrained = evaluate(
        build_generator(config), dataset, extractor, split="test", image_size=32, z_dim=config.z_dim, secondary=False
    ).fid
    assert halves < 0.05 * untrained, (halves, untrained)


def test_a_run_with_final_eval_ends_with_its_test_split_number(small_dataset, tmp_path):
    """`final_eval` (the quick preset's: avatar): training ends with the best checkpoint scored
    on the test split, one line on the terminal and a record in evaluations.jsonl; features
    that cannot load leave a warning and a finished run, not a failure."""
    tiny = ["--image-size", "32", "--g-width", "4", "--d-width", "4", "--batch-size", "8", "--fid-every", "0"]
    args = ["train", "--data", str(small_dataset), "--epochs", "1", "--steps-per-epoch", "2", *tiny]
    trained = kgan(*args, "--final-eval", "avatar", "--run-dir", "run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    closing = trained.stdout.strip().splitlines()[-1]
    assert closing.startswith("test split, avatar features, epoch 1 (step-00000002): FID "), closing
    assert all(word in closing for word in ("FID ", "precision ", "recall ", "attribute values made ")), closing
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "evaluations.jsonl").read_text().splitlines()]
    assert record["split"] == "test" and record["n_real"] == 20 and "avatar" in record["features"]
    assert f"FID {record['fid']:.3f}" in closing and "KID " in closing

    offline = kgan(
        *args,
        "--final-eval",
        "inception",
        "--run-dir",
        "offline",
        cwd=tmp_path,
        env={"KGAN_INCEPTION": str(tmp_path / "no-inception-here")},
    )
    assert offline.returncode == 0, offline.stderr
    warning = [line for line in offline.stderr.splitlines() if line.startswith("kgan: warning:")]
    assert len(warning) == 1 and "closing evaluation failed" in warning[0], offline.stderr
    assert f"kgan fid --run-dir {Path('offline')}" in warning[0]
    assert not (tmp_path / "offline" / "evaluations.jsonl").exists()

"""`--features avatar`: the attribute classifier, its feature space and the attribute report.

The default run uses a small classifier (trained here in seconds, cached where kgan looks);
the `slow` test trains the real one and checks its held-out accuracy and what its FID means.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import kgan, tiny_config

from kgan.data import synthetic
from kgan.data.dataset import PreparedDataset
from kgan.metrics import avatar
from kgan.metrics.evaluate import evaluate, evaluate_run
from kgan.metrics.extractors import load_extractor
from kgan.runs import create_run
from kgan.training.session import train


@pytest.fixture(scope="module")
def small_classifier():
    """A quickly trained classifier in kgan's cache: the machinery, not the accuracy."""
    if not (avatar.classifier_path() / "classifier.keras").is_file():
        avatar.save_classifier(*avatar.train_classifier(count=1200, held_out=200, epochs=2))
    return avatar.classifier_path()


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


def test_avatar_features_everywhere_an_extractor_is(small_classifier, small_dataset, tmp_path):
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


def test_cached_real_features_follow_the_classifier(small_classifier):
    """Real features are cached by the extractor's key: a retrained classifier must get a new one."""
    import os

    before = load_extractor("avatar").key
    weights = small_classifier / "classifier.keras"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # as a new file would
    assert load_extractor("avatar").key != before


def test_a_generator_of_one_hair_colour_is_caught(small_classifier, small_dataset):
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
def test_the_real_classifier_is_accurate_and_its_fid_means_something(tmp_path):
    """The cached classifier as users get it: its held-out accuracy per attribute at 64 px and
    through 32 px; the FID between two halves of the data is near 0 next to an untrained generator's."""
    from kgan.metrics import fid
    from kgan.metrics.reference import real_features
    from kgan.training.models import build_generator

    _, accuracy = avatar.load_classifier()
    # Below 95%: blush at 32 px (a faint glow), and the accessory — a bow or hairclip is a few
    # pixels at 64 px and about one at 32, so they are mostly read as "none" (chance is 20%).
    floors = {"blush": 0.9, "accessory": 0.5}
    for size, by_attribute in accuracy.items():
        for name, value in by_attribute.items():
            assert value >= floors.get(name, 0.95), (size, name, value)
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

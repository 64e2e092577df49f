import csv

import numpy as np

from kgan.data.dataset import PreparedDataset
from kgan.data.synthetic import ACCESSORIES, EYE_COLOURS, HAIR_COLOURS, HAIR_STYLES, generate, write_synthetic


def test_deterministic_per_seed_and_prefix_stable():
    images, _ = generate(40, seed=11)
    again, _ = generate(40, seed=11)
    assert np.array_equal(images, again)
    longer, _ = generate(60, seed=11)
    assert np.array_equal(longer[:40], images)  # image i depends only on (seed, i)
    other, _ = generate(40, seed=12)
    assert not np.array_equal(other, images)
    assert images.shape == (40, 96, 96, 3) and images.dtype == np.uint8


def test_varied_enough_to_show_mode_collapse():
    images, attrs = generate(400, seed=0)
    for key, options in [
        ("hair_colour", HAIR_COLOURS),
        ("eye_colour", EYE_COLOURS),
        ("hair_style", HAIR_STYLES),
        ("accessory", ACCESSORIES),
    ]:
        assert {a[key] for a in attrs} == set(options), key
    # Different hair colours really produce different pixels in the hair region.
    top = images[:, 8:20, 40:56].reshape(len(images), -1, 3).mean(axis=1)
    by_colour = {}
    for row, a in zip(top, attrs):
        by_colour.setdefault(a["hair_colour"], []).append(row)
    means = np.array([np.mean(v, axis=0) for v in by_colour.values()])
    spread = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert np.sort(spread[np.triu_indices(len(means), 1)])[0] > 5
    assert len(np.unique(images.reshape(len(images), -1), axis=0)) == len(images)


def test_written_dataset_has_attributes_beside_images(small_dataset):
    dataset = PreparedDataset(small_dataset)
    assert dataset.images.shape == (200, 96, 96, 3)
    with open(small_dataset / "attributes.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 200 and rows[5]["name"] == dataset.manifest["names"][5]
    images, attrs = generate(200, seed=7)
    assert np.array_equal(np.asarray(dataset.images), images)
    assert rows[5]["hair_colour"] == attrs[5]["hair_colour"]
    assert dataset.manifest["split_counts"] == {"train": 160, "val": 20, "test": 20}


def test_out_must_be_new(tmp_path):
    import pytest

    from kgan.errors import KganError

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("keep")
    with pytest.raises(KganError, match="not empty"):
        write_synthetic(tmp_path / "x", 20)
    assert (tmp_path / "x" / "f").read_text() == "keep"


def test_windowed_drawing_changes_no_pixel_even_at_the_jitters_extremes():
    """Each layer is drawn only inside the window its head-frame box can reach; drawing every
    layer over the whole frame must give the same pixels, including for the most shifted,
    scaled, tilted and widest-eyed heads the attributes allow."""
    import itertools

    from kgan.data.synthetic import draw_attributes, render

    attrs = [draw_attributes(3, i) for i in range(96)]
    extremes = itertools.product((-0.04, 0.04), (-0.03, 0.04), (0.9, 1.08), (-0.14, 0.14), (0.85, 1.15), (0.105, 0.125))
    for a, (dx, dy, scale, tilt, eye_size, eye_gap) in zip(attrs[32:], extremes):
        a.update(dx=dx, dy=dy, scale=scale, tilt=tilt, eye_size=eye_size, eye_gap=eye_gap)
    for start in range(0, 32, 16):  # chunks: windows span their avatars
        chunk = attrs[start : start + 16]
        assert np.array_equal(render(chunk), render(chunk, windowed=False)), start
    for a in attrs[32:]:  # one at a time: the tightest windows
        assert np.array_equal(render([a]), render([a], windowed=False)), a


def test_drawing_processes_give_the_same_avatars_as_one_process():
    from kgan.data.synthetic import REQUEST

    count = 4 * REQUEST + 7  # enough requests for two processes, and a short last one
    assert np.array_equal(generate(count, seed=5, workers=2)[0], generate(count, seed=5, workers=1)[0])

"""`kgan fid` on users' files: two folders (pytorch-fid's path1 path2), an .npy array against a
run's split, an export against a prepared split, images against an .npz of statistics; and
a one-line error for what cannot be scored."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from helpers import assert_one_line_error, kgan, tiny_config
from PIL import Image

from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.metrics import image_sets
from kgan.metrics.evaluate import evaluate_files
from kgan.metrics.features import model_extractor
from kgan.metrics.fid import Statistics
from kgan.metrics.stats_file import save_statistics
from kgan.runs import create_run
from kgan.serving.export import export_run
from kgan.training.session import train


@pytest.fixture(scope="module")
def files(tmp_path_factory, small_dataset):
    """Folders of PNGs cut from the test split, the same images as an .npy, a tiny feature model."""
    root = tmp_path_factory.mktemp("fid-files")
    keras.utils.set_random_seed(1)
    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x))
    keras.Model(image, features).save(root / "features.keras")
    dataset = PreparedDataset(small_dataset)
    test, train_images = dataset.split_images("test"), dataset.split_images("train")[:30]
    for name, images in (("real", test), ("other", train_images)):
        (root / name).mkdir()
        for i, pixels in enumerate(images):
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    np.save(root / "real.npy", np.asarray(test))
    return root


def fid_json(files, *args: str) -> dict:
    done = kgan("fid", *args, "--features", str(files / "features.keras"), "--json", cwd=files)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_two_folders_and_an_array_against_a_prepared_split(files, small_dataset):
    same = fid_json(files, "real", str(small_dataset))  # the folder holds the split's own images
    assert same["fid"] == pytest.approx(0.0, abs=1e-3) and same["n_real"] == same["n_generated"] == 20
    assert same["sources"] == ["folder real", f"test split of {small_dataset}"]
    assert same["checkpoint"] is None and same["precision"] == 1.0
    other = fid_json(files, "other", "real")  # 30 against 20: 20 each
    floor = 100 * max(same["fid"], 1e-6)  # well above the round-off of identical sets (tiny features)
    assert other["fid"] > floor and other["n_real"] == other["n_generated"] == 20
    array = fid_json(files, "real.npy", "other", "--samples", "12")
    assert array["fid"] > floor and array["n_real"] == array["n_generated"] == 12


def test_an_array_against_a_runs_split_and_an_export_against_statistics(files, small_dataset, tmp_path):
    run_dir = create_run(tiny_config(epochs=1, steps_per_epoch=2), PreparedDataset(small_dataset), tmp_path / "run")
    result, sides = evaluate_files([str(files / "real.npy")], run_dir=run_dir, features=str(files / "features.keras"))
    assert result.fid == pytest.approx(0.0, abs=1e-3) and sides[1] == f"test split of {small_dataset}"
    train(run_dir)
    export, _ = export_run(run_dir, tmp_path / "models" / "generator")
    extractor = model_extractor(files / "features.keras")
    real = extractor.extract(image_sets.open_side(files / "real").batches(20, 8))
    save_statistics(tmp_path / "real.npz", Statistics.of(real), extractor.name)
    against_images, _ = evaluate_files(
        [str(export.parent), str(files / "real")], features=str(files / "features.keras")
    )
    against_stats, sides = evaluate_files(
        [str(export.parent), str(tmp_path / "real.npz")], features=str(files / "features.keras")
    )
    assert against_images.n_generated == 20 and against_images.fid > 100 * max(result.fid, 1e-6)  # barely trained
    assert against_stats.fid == pytest.approx(against_images.fid, rel=1e-6)  # the same noise, the same FID
    assert against_stats.kid is None and sides == [f"export {export}", f"statistics {tmp_path / 'real.npz'}"]


def test_what_cannot_be_scored_is_one_line(files, tmp_path):
    (tmp_path / "empty").mkdir()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, size in enumerate((32, 32, 48)):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(mixed / f"{i}.png")
    np.save(tmp_path / "floats.npy", np.zeros((4, 8, 8, 3), np.float32))
    cases = [
        (tmp_path / "empty", "no images in"),
        (mixed, "mixed sizes"),
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "floats.npy", "give uint8 images"),
    ]
    for spec, words in cases:
        with pytest.raises(KganError, match=words) as error:
            image_sets.open_side(spec)
        assert "\n" not in str(error.value)
    with pytest.raises(KganError, match=r"2 at 32×32, others such as 2\.png at 48×48"):
        image_sets.open_side(mixed)
    done = kgan("fid", str(tmp_path / "empty"), str(files / "real"), cwd=tmp_path)
    assert_one_line_error(done, "no images in", "empty")
    done = kgan("fid", "a", "b", "c", cwd=tmp_path)
    assert_one_line_error(done, "at most two paths")

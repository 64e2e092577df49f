"""The tf.data pipeline: values, order, the (seed, step) determinism resume relies on, its
memory, and how soon a finished iterator lets go."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kgan.data.dataset import PreparedDataset
from kgan.data.pipeline import load_split, to_model_range, training_dataset


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (50, 12, 12, 3), dtype=np.uint8)


def collect(images, start, end, **kw):
    options = dict(image_size=8, batch_size=4, z_dim=3, seed=9, steps_per_epoch=5, n_critic=1)
    options.update(kw)
    return list(training_dataset(images, start_step=start, end_step=end, **options).as_numpy_iterator())


def test_batches_have_the_right_shapes_and_range(images):
    batches = collect(images, 0, 3, n_critic=2)
    assert len(batches) == 3
    first = batches[0]
    assert first["real"].shape == (8, 8, 8, 3) and first["real"].dtype == np.float32
    assert first["z"].shape == (8, 3) and first["alpha"].shape == (8, 1, 1, 1)
    assert first["real"].min() >= -1.0 and first["real"].max() <= 1.0


def test_resuming_at_any_step_sees_exactly_the_same_batches(images):
    straight = collect(images, 0, 15)
    for start in (3, 5, 11):
        resumed = collect(images, start, 15)
        for a, b in zip(straight[start:], resumed):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def test_flip_mirrors_about_half_the_real_images_the_same_way_on_resume(images):
    plain, flipped = collect(images, 0, 10), collect(images, 0, 10, flip=True)
    mirrored = 0
    for a, b in zip(plain, flipped):
        assert sorted(b) == sorted(a)  # the mirror's draws stay in the pipeline
        np.testing.assert_array_equal(a["z"], b["z"])  # no other draw moves
        for image, seen in zip(a["real"], b["real"]):
            if np.array_equal(seen, image[:, ::-1]) and not np.array_equal(seen, image):
                mirrored += 1
            else:
                np.testing.assert_array_equal(seen, image)
    assert 10 <= mirrored <= 30  # of 40 images, each mirrored with probability ½
    for a, b in zip(flipped[4:], collect(images, 4, 10, flip=True)):
        np.testing.assert_array_equal(a["real"], b["real"])


def test_each_epoch_is_a_fresh_permutation(images):
    full = collect(images, 0, 10, steps_per_epoch=12, batch_size=4, image_size=12)
    epoch0 = np.concatenate([b["real"] for b in full[:10]])
    rows = {row.tobytes() for row in epoch0}
    assert len(rows) == 40  # no image twice within an epoch
    e0 = collect(images, 0, 2, steps_per_epoch=2, image_size=12)
    e1 = collect(images, 2, 4, steps_per_epoch=2, image_size=12)
    assert not np.array_equal(e0[0]["real"], e1[0]["real"])
    assert not np.array_equal(e0[0]["z"], e0[1]["z"])


def test_other_seed_other_draws(images):
    a = collect(images, 0, 1)[0]
    b = collect(images, 0, 1, seed=10)[0]
    assert not np.array_equal(a["z"], b["z"])


def test_resize_is_antialiased_and_scaled():
    checker = (np.indices((16, 16)).sum(axis=0) % 2 * 255).astype(np.uint8)
    batch = np.repeat(checker[None, ..., None], 3, axis=-1)
    out = to_model_range(tf.constant(batch), 8).numpy()
    assert np.abs(out).max() < 0.2  # averaged to grey, not aliased to black/white
    same = to_model_range(tf.constant(batch), 16).numpy()
    assert same.min() == -1.0 and same.max() == 1.0


def test_load_split_small_and_lazy(small_dataset):
    dataset = PreparedDataset(small_dataset)
    in_memory = load_split(dataset, "train")
    lazy = load_split(dataset, "train", cache_bytes=0)
    positions = np.array([5, 1, 150, 7])
    np.testing.assert_array_equal(in_memory[positions], lazy[positions])
    assert len(lazy) == len(in_memory) == 160


def test_an_in_ram_split_costs_its_own_size_in_memory_not_twice(tmp_path):
    """Read through the dataset's memory map, the file's pages counted as the process's
    memory for the whole run, on top of the split's copy (a 265 MB split cost ~580 MB)."""
    import subprocess
    import sys

    from helpers import python_env

    from kgan.data.dataset import ImageWriter

    folder = tmp_path / "data"
    folder.mkdir()
    writer = ImageWriter(folder / "images.npy", 64)
    rng = np.random.default_rng(0)
    for index in range(8000):  # 98 MB
        writer.add(f"{index:05d}", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    writer.close()
    writer.finish(source="test", seed=0, val=None, test=None)
    probe = (
        "import sys, numpy as np\n"
        "from kgan.data.dataset import PreparedDataset\n"
        "from kgan.data.pipeline import load_split\n"
        "def rss():\n"
        "    line = [l for l in open('/proc/self/status') if l.startswith('VmRSS')][0]\n"
        "    return int(line.split()[1]) * 1024\n"
        "dataset = PreparedDataset(sys.argv[1])\n"
        "before = rss()\n"
        "split = load_split(dataset, 'train')\n"
        "lazy = load_split(dataset, 'train', cache_bytes=0)\n"
        "for start in range(0, len(lazy), 500):\n"
        "    lazy[np.arange(start, min(start + 500, len(lazy)))]\n"
        "print(split.nbytes, rss() - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(folder)], capture_output=True, text=True, env=python_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    split_bytes, grown = map(int, done.stdout.split())
    assert split_bytes == 6400 * 64 * 64 * 3
    assert grown < 1.15 * split_bytes, f"memory grew {grown / 1e6:.0f} MB for a {split_bytes / 1e6:.0f} MB split"


def test_an_iterator_of_the_pipeline_is_freed_at_once():
    """tf.data's autotuning thread can hold the thread freeing an iterator until its next
    tuning (they come 10 ms · 2^k apart, later up to a minute), so a run would sit after its
    last epoch. Each iterator here lives 0.16 s of steps, then is freed; with autotuning on,
    some of them wait for the tuning at 0.30 s."""
    faces = np.random.default_rng(1).integers(0, 256, (2000, 32, 32, 3), dtype=np.uint8)
    conv = keras.layers.Conv2D(32, 3)
    step = tf.function(lambda real: tf.reduce_mean(conv(real) ** 2))  # keeps the cores busy, as training does
    waits = []
    for seed in range(40):
        options = dict(image_size=32, batch_size=64, z_dim=8, seed=seed, steps_per_epoch=30)
        batches = iter(training_dataset(faces, start_step=0, end_step=10**6, **options))
        began = time.perf_counter()
        while time.perf_counter() - began < 0.16:
            step(next(batches)["real"]).numpy()
        freeing = time.perf_counter()
        del batches
        waits.append(time.perf_counter() - freeing)
    waited = [round(wait, 2) for wait in waits if wait >= 0.07]  # a free takes ~0.005 s
    assert len(waited) <= 1, f"{len(waited)} of 40 frees waited: {waited} s"  # one: a hiccup of the machine


def test_a_model_ready_split_gives_the_same_batches_in_less_memory(small_dataset):
    """A model at most half the stored size trains from the split resized once: the same
    values, bit for bit, as resizing each batch, in no more bytes than the stored pixels."""
    dataset = PreparedDataset(small_dataset)
    stored = load_split(dataset, "train")
    size = dataset.image_size // 2
    ready = load_split(dataset, "train", image_size=size)
    assert ready.dtype == np.float32 and ready.shape == (len(stored), size, size, 3)
    assert ready.nbytes <= stored.nbytes  # equal at exactly half the size
    assert load_split(dataset, "train", image_size=size + 1).dtype == np.uint8  # not worth it
    options = dict(image_size=size, batch_size=16, z_dim=3, seed=4, steps_per_epoch=5, n_critic=2)
    each_batch = list(training_dataset(stored, start_step=3, end_step=12, **options).as_numpy_iterator())
    resized_once = list(training_dataset(ready, start_step=3, end_step=12, **options).as_numpy_iterator())
    for a, b in zip(each_batch, resized_once, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    with pytest.raises(ValueError, match="model-ready"):
        training_dataset(ready, start_step=0, end_step=1, **{**options, "image_size": size * 2})

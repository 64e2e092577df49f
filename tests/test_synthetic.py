import csv

import numpy as np

from kgan.data import synthetic
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


def test_compiled_drawing_gives_the_numpy_statements_bytes_even_at_the_jitters_extremes():
    """`render_compiled` (the layers compiled by numba, used by every command) must draw what
    `render` (numpy, the readable statement of the drawing) draws, byte for byte: over every
    attribute value, at all 64 combinations of the jitter's extremes, in a batch and alone."""
    import itertools

    from kgan.data.synthetic import BANGS, MOUTHS, draw_attributes, render, render_compiled

    attrs = [draw_attributes(9, i) for i in range(320)]
    extremes = itertools.product((-0.04, 0.04), (-0.03, 0.04), (0.9, 1.08), (-0.14, 0.14), (0.85, 1.15), (0.105, 0.125))
    for a, (dx, dy, scale, tilt, eye_size, eye_gap) in zip(attrs[256:], extremes):
        a.update(dx=dx, dy=dy, scale=scale, tilt=tilt, eye_size=eye_size, eye_gap=eye_gap)
    for key, options in [("hair_style", HAIR_STYLES), ("bangs", BANGS), ("mouth", MOUTHS), ("accessory", ACCESSORIES)]:
        assert {a[key] for a in attrs} == set(options), key
    expected = np.concatenate([render(attrs[start : start + 32]) for start in range(0, len(attrs), 32)])
    drawn = render_compiled(attrs)
    assert drawn.shape == expected.shape and drawn.dtype == np.uint8
    differ = np.flatnonzero((drawn != expected).any(axis=(1, 2, 3)))
    assert differ.size == 0, f"avatars {differ[:10]} differ"
    for a in attrs[256::9]:  # alone: the tightest windows
        assert np.array_equal(render_compiled([a]), render([a], windowed=False))


def test_jitter_is_what_generator_uniform_draws():
    """`draw_attributes` computes uniform draws itself (numpy's overhead per call was a fifth of
    the drawing's time); the values must be Generator.uniform's exactly, or every avatar moves."""
    from kgan.data import synthetic

    # The choices drawn before the jitter, in draw_attributes' order, either side of the blush.
    picks_before = [
        synthetic.HAIR_COLOURS,
        HAIR_STYLES,
        synthetic.BANGS,
        EYE_COLOURS,
        synthetic.SKIN_TONES,
        synthetic.MOUTHS,
    ]
    picks_after = [ACCESSORIES, synthetic.BACKGROUNDS, synthetic.ACCENTS]
    keys = ("dx", "dy", "scale", "tilt", "eye_size", "eye_gap", "bang_phase")
    ranges = ((-0.04, 0.04), (-0.03, 0.04), (0.9, 1.08), (-0.14, 0.14), (0.85, 1.15), (0.105, 0.125), (0, 1))
    for index in range(3000):
        rng = np.random.default_rng([4, index])
        for options in picks_before:
            rng.integers(len(options))
        rng.random()  # blush
        for options in picks_after:
            rng.integers(len(options))
        attrs = synthetic.draw_attributes(4, index)
        assert [attrs[key] for key in keys] == [rng.uniform(low, high) for low, high in ranges], index
        assert np.array_equal(attrs["colour_jitter"], rng.uniform(-18, 18, size=3)), index


def test_drawing_on_workers_gives_the_same_avatars_as_one_thread():
    from kgan.data.synthetic import BATCH

    count = 4 * BATCH + 7  # enough batches for two workers, and a short last one
    assert np.array_equal(generate(count, seed=5, workers=2)[0], generate(count, seed=5, workers=1)[0])


def test_face_pixels_left_to_the_approximate_power_are_exactly_the_saturated_ones():
    """The compiled drawing asks numpy for `below ** 1.5` only where the face's two layers
    cover a pixel partly (and 0 < below < 1: 0 and 1 to any power are exact); elsewhere it
    keeps a float64 approximation. Checked against numpy's exact power: every pixel left
    out must be covered fully or not at all by both layers (so the approximation's last bit
    cannot matter), and some must be asked for."""
    from kgan.data import avatar_kernel as kernel
    from kgan.data.synthetic import BOXES, _Canvas, _columns, _cover, _ellipse, _face_width, draw_attributes

    attrs = [draw_attributes(2, i) for i in range(48)]
    canvas, frames = _Canvas(attrs), _Canvas(attrs, pixels=False).frames
    kinds = np.zeros((len(attrs), len(kernel.KINDS)), np.int64)
    windows = canvas.spans(*(BOXES[name] for name in kernel.WINDOWS))
    area = ((windows[..., 1] - windows[..., 0]) * (windows[..., 3] - windows[..., 2])).sum(0)
    face, crown = kernel.WINDOWS.index("face"), kernel.WINDOWS.index("crown")
    widths, chin = np.empty(area[face], np.float32), np.empty(area[face], np.float32)
    chin_at = np.empty(area[face], np.int64)
    waves, glows = np.empty(area[crown], np.float32), np.empty(0, np.float32)  # kinds 0: no blush
    params = np.concatenate(_columns(attrs, kernel.PARAMS), axis=2)[:, 0]
    chins, _, _ = kernel.arguments(frames, kinds, params, windows, widths, chin, chin_at, waves, glows)
    asked = np.zeros(area[face], bool)
    asked[chin_at[:chins]] = True
    assert 0 < chins < area[face] // 4
    offset = 0
    for i, (r0, r1, c0, c1) in enumerate(windows[:, face]):
        u, v = canvas.u[i, r0:r1, c0:c1], canvas.v[i, r0:r1, c0:c1]
        distance = _ellipse(u, v, 0.5, 0.52, _face_width(v), 0.28)
        below = np.clip((v - 0.52) / 0.28, 0.0, 1.0)
        partial = np.zeros(u.shape, bool)
        for alpha in (_cover(distance), _cover(distance + 0.01)):
            partial |= (alpha > 0) & (alpha < 1) & (below > 0) & (below < 1)
        here = asked[offset : offset + u.size].reshape(u.shape)
        offset += u.size
        assert not (partial & ~here).any(), f"avatar {i}: a partly covered pixel kept the approximation"


def test_the_first_drawing_says_it_compiles_and_the_next_loads_it_silently(tmp_path):
    """With an empty numba cache the command says why nothing moves for a while; the compiled
    drawing is cached there, and the second command draws the same avatars without the note."""
    from helpers import kgan

    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first = kgan("data", "synthetic", "--out", "a", "--count", "10", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "compiling the avatar drawing" in first.stdout
    second = kgan("data", "synthetic", "--out", "b", "--count", "10", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "compiling" not in second.stdout and "drew 10 avatars" in second.stdout
    assert any((tmp_path / "numba").rglob("*.nbi"))
    images = np.asarray(PreparedDataset(tmp_path / "a").images)
    assert np.array_equal(images, np.asarray(PreparedDataset(tmp_path / "b").images))
    assert np.array_equal(images, generate(10, seed=0)[0])


def test_two_processes_drawing_the_default_avatars_at_once_both_get_them_whole(tmp_path):
    """Two `kgan train` started together on the default data both need it drawn: one draws, the
    other waits for it, and neither tidies away the other's half-drawn folder."""
    import subprocess
    import sys

    from helpers import python_env

    script = (
        "import kgan.data.default as d; d.DEFAULT_COUNT = 300; "
        "ds = d.resolve_dataset('synthetic'); print(ds.manifest['count'], ds.split_id)"
    )
    env = python_env(KGAN_CACHE_DIR=str(tmp_path / "cache"))
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    children = [subprocess.Popen([sys.executable, "-c", script], env=env, **pipes) for _ in range(2)]
    answers = [child.communicate(timeout=240) for child in children]
    for child, (_, err) in zip(children, answers):
        assert child.returncode == 0, err[-600:]
    assert answers[0][0] == answers[1][0] and answers[0][0].split()[0] == "300"
    folder = tmp_path / "cache" / f"synthetic-300-seed0-v{synthetic.GENERATOR_VERSION}"
    assert PreparedDataset(folder).manifest["count"] == 300
    assert not list(folder.parent.glob(f".{folder.name}.*.tmp"))


def test_a_default_avatar_cache_cut_short_is_drawn_again(tmp_path):
    """A cached copy with a manifest and no images.npy (a drawing cut short) is kgan's own cache:
    drawn again, not refused with advice meant for users' data."""
    import subprocess
    import sys

    from helpers import python_env

    broken = tmp_path / "cache" / f"synthetic-300-seed0-v{synthetic.GENERATOR_VERSION}"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{}\n")
    script = (
        "import kgan.data.default as d; d.DEFAULT_COUNT = 300; print(d.resolve_dataset('synthetic').manifest['count'])"
    )
    env = python_env(KGAN_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-600:]
    assert done.stdout.split()[-1] == "300"
    assert PreparedDataset(broken).manifest["count"] == 300


def test_default_avatars_drawn_by_an_older_drawing_are_not_used(tmp_path, monkeypatch):
    """The default data's cache is keyed on GENERATOR_VERSION: after the drawing changes, a run
    draws today's avatars (the ones the shipped classifier reads) rather than use the copy an older
    kgan drew, and leaves that copy alone."""
    import kgan.data.default as default

    monkeypatch.setenv("KGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(default, "DEFAULT_COUNT", 20)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION - 1)
    older = default.resolve_dataset("synthetic")
    (older.folder / "older").write_text("left alone\n")
    monkeypatch.undo()
    monkeypatch.setenv("KGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(default, "DEFAULT_COUNT", 20)
    assert default.must_draw("synthetic")
    current = default.resolve_dataset("synthetic")
    assert current.folder != older.folder and (older.folder / "older").is_file()
    assert current.manifest["count"] == 20
    assert current.manifest["synthetic"]["generator_version"] == synthetic.GENERATOR_VERSION  # which drawing made them

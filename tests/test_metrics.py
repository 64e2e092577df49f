"""FID/KID through TF-GAN: the import workaround, and the numbers against numpy/scipy."""

import numpy as np
import pytest
from scipy import linalg

from kgan.errors import KganError
from kgan.metrics import Statistics, fid, fid_from_statistics, kid
from kgan.metrics.tfgan import classifier_metrics, tfgan_eval


def numpy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


@pytest.fixture(scope="module")
def activations():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(32, 32))
    real = rng.normal(size=(400, 32)) @ mixing
    generated = rng.normal(size=(300, 32)) @ (mixing * 1.2) + 0.3
    return real, generated


def test_tfgan_eval_imports_on_this_tensorflow():
    module = tfgan_eval()
    for name in ("frechet_classifier_distance_from_activations", "kernel_classifier_distance_and_std_from_activations"):
        assert callable(getattr(module, name)), name
    assert callable(classifier_metrics().trace_sqrt_product)


def test_fid_matches_numpy_scipy(activations):
    real, generated = activations
    expected = numpy_fid(real, generated)
    assert expected > 1.0
    assert fid(real, generated) == pytest.approx(expected, rel=1e-6)


def test_identical_sets_give_zero(activations):
    real, _ = activations
    assert abs(fid(real, real)) < 1e-6


def test_cached_statistics_path_equals_activations_path(activations):
    real, generated = activations
    direct = fid(real, generated)
    assert fid_from_statistics(Statistics.of(real), Statistics.of(generated)) == pytest.approx(direct, rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_positive_otherwise(activations):
    real, generated = activations
    rng = np.random.default_rng(1)
    same_a, same_b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    value, std = kid(same_a, same_b)
    assert abs(value) < 3 * std + 1e-3
    far, _ = kid(real, generated)
    assert far > 0.1


def test_bad_activations_are_errors():
    with pytest.raises(KganError, match="widths differ"):
        fid(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(KganError, match="NaN"):
        fid(np.full((5, 3), np.nan), np.zeros((5, 3)))
    with pytest.raises(KganError, match="N >= 2"):
        fid(np.zeros((1, 3)), np.zeros((5, 3)))


def brute_force_precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """The definition, one pair at a time (Kynkäänniemi et al. 2019)."""

    def radius(vector, own):
        return sorted(np.linalg.norm(vector - other) for other in own)[k]  # [0] is the vector itself

    def share_inside(points, centres):
        radii = [radius(centre, centres) for centre in centres]
        inside = [any(np.linalg.norm(p - c) <= r for c, r in zip(centres, radii)) for p in points]
        return sum(inside) / len(points)

    return share_inside(generated, real), share_inside(real, generated)


def test_precision_recall_follow_the_definition_and_tell_blurry_from_collapsed(activations):
    from kgan.metrics.precision_recall import precision_recall

    rng = np.random.default_rng(1)
    real, generated = activations[0][:60], activations[1][:50]
    assert precision_recall(real, generated) == pytest.approx(brute_force_precision_recall(real, generated))
    assert precision_recall(real, real) == (1.0, 1.0)
    collapsed = real[:1] + rng.normal(scale=1e-3, size=(40, real.shape[1]))  # every sample near one real image
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.2
    far = real + 1e3  # another place altogether
    assert precision_recall(real, far) == (0.0, 0.0)
    with pytest.raises(ValueError, match="k = 3"):
        precision_recall(real[:3], generated)


def _pytorch_fid_distance():
    """pytorch-fid's own `calculate_frechet_distance`, read from its source so that its module's
    torch/torchvision imports are not needed (CI installs pytorch-fid without them)."""
    import ast
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("pytorch_fid")
    if spec is None:
        pytest.skip("pytorch-fid is not installed (pip install --no-deps pytorch-fid)")
    source = (Path(spec.submodule_search_locations[0]) / "fid_score.py").read_text()
    (function,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == "calculate_frechet_distance"
    ]
    namespace = {"np": np, "linalg": linalg}
    exec(compile(ast.Module([function], []), "pytorch_fid/fid_score.py", "exec"), namespace)
    return namespace["calculate_frechet_distance"]


def test_statistics_files_round_trip_and_match_pytorch_fid(activations, tmp_path):
    from kgan.metrics.stats_file import load_statistics, save_statistics

    real, generated = activations
    save_statistics(tmp_path / "real.npz", Statistics.of(real), "tiny-features")
    save_statistics(tmp_path / "generated.npz", Statistics.of(generated), "tiny-features")
    loaded, features = load_statistics(tmp_path / "real.npz")
    assert features == "tiny-features" and loaded.count == len(real)
    np.testing.assert_array_equal(loaded.cov, np.cov(real, rowvar=False))
    kgan_value = fid(real, generated)
    assert fid_from_statistics(loaded, Statistics.of(generated)) == pytest.approx(kgan_value, rel=1e-9)

    distance = _pytorch_fid_distance()
    with np.load(tmp_path / "real.npz") as a, np.load(tmp_path / "generated.npz") as b:  # as pytorch-fid reads
        theirs = distance(a["mu"][:], a["sigma"][:], b["mu"][:], b["sigma"][:])
    assert theirs == pytest.approx(kgan_value, rel=1e-4)


def test_bad_statistics_files_are_one_clear_error(tmp_path):
    from kgan.metrics.stats_file import load_statistics

    with pytest.raises(KganError, match="does not exist"):
        load_statistics(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(KganError, match="not an FID statistics file"):
        load_statistics(tmp_path / "text.npz")
    np.savez(tmp_path / "nomu.npz", sigma=np.eye(3))
    with pytest.raises(KganError, match="mu and sigma"):
        load_statistics(tmp_path / "nomu.npz")
    np.savez(tmp_path / "shapes.npz", mu=np.zeros(3), sigma=np.eye(4))
    with pytest.raises(KganError, match=r"sigma \[D, D\]"):
        load_statistics(tmp_path / "shapes.npz")

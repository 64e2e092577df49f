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

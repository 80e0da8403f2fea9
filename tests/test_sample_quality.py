"""Part VII, sample quality: the Frechet distance against closed forms, the Frechet digits
distance and k-NN precision/recall on real and degraded digits, bad input."""
import numpy as np
import pytest
from scipy import linalg

from companion import data
from companion import sample_quality as sq


def _rng(seed=0):
    return np.random.default_rng(seed)


def _random_cov(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T + (0.0 if rank else 0.1) * np.eye(d)


# ---------------------------------------------------------------- the formula

def test_equal_covariances_give_the_squared_mean_distance():
    rng = _rng()
    mu1, mu2, cov = rng.normal(size=5), rng.normal(size=5), _random_cov(rng, 5)
    assert sq.frechet_distance_gaussians(mu1, cov, mu2, cov) == pytest.approx(
        float(np.sum((mu1 - mu2) ** 2)), rel=1e-9, abs=1e-9)


def test_diagonal_covariances_give_the_sum_of_squared_root_differences():
    rng = _rng(1)
    a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert sq.frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, rel=1e-9)


def test_one_dimension_is_the_wasserstein_distance_of_two_normals():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    assert sq.frechet_distance_gaussians([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(
        9.0 + 1.5 ** 2)


def test_general_covariances_match_scipy_sqrtm_and_are_symmetric():
    rng = _rng(2)
    for _ in range(5):
        mu1, mu2 = rng.normal(size=7), rng.normal(size=7)
        c1, c2 = _random_cov(rng, 7), _random_cov(rng, 7)
        root = linalg.sqrtm(c1 @ c2).real
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * root)
        d12 = sq.frechet_distance_gaussians(mu1, c1, mu2, c2)
        assert d12 == pytest.approx(ref, rel=1e-7)
        assert d12 == pytest.approx(sq.frechet_distance_gaussians(mu2, c2, mu1, c1), rel=1e-9)
        assert d12 > 0


def test_singular_covariances_stay_real_and_non_negative():
    rng = _rng(3)
    c1, c2 = _random_cov(rng, 6, rank=2), _random_cov(rng, 6, rank=3)
    d = sq.frechet_distance_gaussians(np.zeros(6), c1, np.zeros(6), c2)
    assert np.isfinite(d) and d > 0
    assert sq.frechet_distance_gaussians(np.zeros(6), c1, np.zeros(6), c1) == pytest.approx(
        0.0, abs=1e-9)


def test_sample_version_is_zero_for_identical_sets_and_symmetric():
    rng = _rng(4)
    a = rng.normal(size=(300, 4))
    b = rng.normal(size=(200, 4)) * [1.0, 2.0, 0.5, 1.0] + 0.3
    assert sq.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    assert sq.frechet_distance(a, b) == pytest.approx(sq.frechet_distance(b, a), rel=1e-9)
    # from samples it estimates the closed form of the two generating Gaussians
    truth = 4 * 0.3 ** 2 + (1 - 2) ** 2 + (1 - 0.5) ** 2
    assert sq.frechet_distance(rng.normal(size=(20000, 4)),
                               rng.normal(size=(20000, 4)) * [1.0, 2.0, 0.5, 1.0] + 0.3
                               ) == pytest.approx(truth, rel=0.05)


def test_finite_samples_are_biased_upwards_and_the_bias_falls_with_size():
    rng = _rng(5)
    small = np.mean([sq.frechet_distance(rng.normal(size=(50, 8)), rng.normal(size=(50, 8)))
                     for _ in range(5)])
    large = np.mean([sq.frechet_distance(rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8)))
                     for _ in range(5)])
    assert small > 5 * large > 0


# ---------------------------------------------------------------- on real digits

@pytest.fixture(scope="module")
def digit_sets():
    d = data.digits()
    x_held = np.concatenate([d.x_val, d.x_test])
    y_held = np.concatenate([d.y_val, d.y_test])
    n = len(d.x_test)
    return {
        "train": d.x_train,
        "real": d.x_test,
        "blurred": sq.blur_digits(d.x_test, 0.5),
        "noised": data.gaussian_noise(d.x_test, 0.5, rng=1),
        "mode-dropped": sq.drop_classes(x_held, y_held, keep=range(5), n=n),
    }, d


def test_classifier_is_accurate_cached_and_checks_its_input(digit_sets):
    _, d = digit_sets
    clf = sq.digits_classifier()
    assert clf is sq.digits_classifier()
    assert clf.test_accuracy > 0.93
    assert np.mean(clf.predict(d.x_test) == d.y_test) == pytest.approx(clf.test_accuracy)
    f = clf.features(d.x_test[:5])
    assert f.shape == (5, clf.feature_dim) and np.all(f >= 0)
    images = d.x_test[:5].reshape(5, 8, 8)
    for shaped in (images, images[:, None], images[..., None]):
        np.testing.assert_allclose(clf.features(shaped), f)
    for bad in (np.zeros((5, 63)), np.zeros((5, 2, 8, 8)), np.zeros(64)):
        with pytest.raises(ValueError, match=r"\(N, 64\)"):
            clf.features(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.predict(d.x_test[:5] * 16)          # raw 0..16 pixels
    with pytest.raises(ValueError, match="finite"):
        clf.features(np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="numeric"):
        clf.features(np.array([["a"] * 64]))


def test_digits_fd_ranks_real_blurred_noised_mode_dropped(digit_sets):
    sets, _ = digit_sets
    fd = {name: sq.digits_fd(sets["train"], x) for name, x in sets.items() if name != "train"}
    assert fd["real"] < 2.0                       # near the floor set by 360 samples
    assert fd["real"] < fd["blurred"] < fd["noised"] < fd["mode-dropped"]
    assert fd["blurred"] > 3 * fd["real"]
    # more corruption, further away
    assert sq.digits_fd(sets["train"], sq.blur_digits(sets["real"], 1.0)) > fd["blurred"]
    assert sq.digits_fd(sets["train"], data.gaussian_noise(sets["real"], 0.2, rng=1)) \
        < fd["noised"]
    assert sq.digits_fd(sets["real"], sets["noised"]) == pytest.approx(
        sq.digits_fd(sets["noised"], sets["real"]))


def test_precision_recall_separate_looking_real_from_covering_the_data(digit_sets):
    sets, _ = digit_sets
    clf = sq.digits_classifier()
    ref = clf.features(sets["train"])
    pr = {name: sq.precision_recall(ref, clf.features(x), k=3)
          for name, x in sets.items() if name != "train"}
    p_real, r_real = pr["real"]
    assert p_real > 0.8 and r_real > 0.8
    p_drop, r_drop = pr["mode-dropped"]
    assert p_drop > p_real - 0.05 and r_drop < r_real - 0.25    # looks real, covers half
    p_noise, _ = pr["noised"]
    assert p_noise < p_real - 0.3                               # does not look real
    assert sq.precision_recall(ref, ref, k=3) == (1.0, 1.0)


def test_precision_recall_on_two_gaussians():
    rng = _rng(6)
    real = rng.normal(size=(500, 2))
    same = rng.normal(size=(500, 2))
    narrow = 0.2 * rng.normal(size=(500, 2))
    p, r = sq.precision_recall(real, same)
    assert p > 0.9 and r > 0.9
    p, r = sq.precision_recall(real, narrow)     # every fake sample is plausible; few covered
    assert p > 0.95 and r < 0.5


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_value_errors_naming_what_was_expected():
    rng = _rng(7)
    a = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        sq.frechet_distance(a, rng.normal(size=(20, 4)))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        sq.frechet_distance(a[:, 0], a)
    with pytest.raises(ValueError, match="at least 2"):
        sq.frechet_distance(a[:1], a)
    with pytest.raises(ValueError, match="NaN"):
        sq.frechet_distance(np.where(a > 1, np.nan, a), a)
    with pytest.raises(ValueError, match=r"\(d, d\)"):
        sq.frechet_distance_gaussians(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="symmetric"):
        sq.frechet_distance_gaussians(np.zeros(2), [[1.0, 0.5], [0.0, 1.0]], np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="same dimension"):
        sq.frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    for k in (0, 2.5, True, 20):
        with pytest.raises(ValueError, match="k must be"):
            sq.precision_recall(a, a, k=k)
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        sq.digits_fd(np.zeros((4, 7, 7)), np.zeros((4, 64)))
    with pytest.raises(ValueError, match="sigma"):
        sq.blur_digits(np.zeros((2, 64)), -1.0)
    with pytest.raises(ValueError, match="no image"):
        sq.drop_classes(np.zeros((2, 64)), np.array([0, 1]), keep=[7])
    with pytest.raises(ValueError, match="one label per image"):
        sq.drop_classes(np.zeros((2, 64)), np.array([0, 1, 2]), keep=[0])

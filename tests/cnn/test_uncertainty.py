"""The measurement half: metrics against references, and the non-digit drawings themselves."""

from __future__ import annotations

import numpy as np
import pytest

from cnn.nondigits import NONDIGIT_SETS, drawn_digits, nondigit_sets
from cnn.uncertainty import auroc, brier, ece, nll


def test_auroc_matches_scikit_learn(rng):
    from sklearn.metrics import roc_auc_score

    pos, neg = rng.normal(1, 1, 300), rng.normal(0, 1, 200)
    expected = roc_auc_score(np.r_[np.ones(300), np.zeros(200)], np.r_[pos, neg])
    assert auroc(pos, neg) == pytest.approx(expected, abs=1e-12)
    assert auroc(np.ones(5), np.ones(5)) == 0.5  # ties count half


def test_ece_brier_nll_on_hand_worked_cases():
    # Two images at confidence 0.9 (one right), two at 0.6 (both right): bins 0.9 and 0.6,
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4 = 0.4.
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 1, 0, 1])
    assert ece(p, y) == pytest.approx(0.4)
    assert brier(p, y) == pytest.approx(np.mean([0.02, 1.62, 0.32, 0.32]))
    assert nll(p, y) == pytest.approx(-np.mean(np.log([0.9, 0.1, 0.6, 0.6])))
    perfect = np.eye(2)[y]
    assert ece(perfect, y) == 0 and brier(perfect, y) == 0


def test_nondigit_sets_go_through_the_app_preprocessing(mnist_test):
    sets = nondigit_sets(mnist_test.images, mnist_test.labels, count=6, seed=0)
    assert tuple(sets) == NONDIGIT_SETS
    for name, s in sets.items():
        assert len(s.labels) + s.rejected == 6, name
        assert len(s.labels) >= 4, f"{name}: preprocessing rejected {s.rejected} of 6"
        assert s.pixels.dtype == np.float32 and s.pixels.shape[1:] == (28, 28)
        assert (s.labels == -1).all()
        # MNIST form: ink in [0, 1], centred by mass near (14, 14).
        assert s.pixels.max() <= 1 and s.pixels.min() >= 0
    again = nondigit_sets(mnist_test.images, mnist_test.labels, count=6, seed=0)
    np.testing.assert_array_equal(again["scribbles"].pixels, sets["scribbles"].pixels)


def test_drawn_digits_keep_their_labels(mnist_test):
    drawn = drawn_digits(mnist_test.images, mnist_test.labels, count=30, seed=1)
    assert drawn.rejected == 0 and len(drawn.labels) == 30
    assert set(drawn.labels) <= set(range(10))


def test_the_drawing_cache_is_data_not_code(tmp_path, monkeypatch):
    """build_sets caches an .npz read without pickle; a second call returns equal sets."""
    from cnn import uncertainty
    from cnn.nondigits import DrawnSet

    def drawn(n: int, label: int) -> DrawnSet:
        return DrawnSet(np.full((n, 28, 28), 0.5, np.float32), np.full(n, label), n % 3)

    sets = uncertainty.Sets(
        np.zeros((4, 28, 28), np.float32), np.arange(4), np.ones((2, 28, 28), np.float32),
        np.arange(2), drawn(3, 1), drawn(5, 2), {"letters": drawn(2, -1), "noise": drawn(1, -1)},
    )  # fmt: skip
    calls = []
    monkeypatch.setattr(uncertainty, "_draw_sets", lambda config: calls.append(1) or sets)
    config = uncertainty.UncertaintyConfig(cache=tmp_path)
    first, second = uncertainty.build_sets(config), uncertainty.build_sets(config)
    assert calls == [1]  # the second came from the cache
    (cached,) = tmp_path.glob("sets-*.npz")
    np.load(cached, allow_pickle=False).close()  # plain arrays: loads with pickling refused
    assert list(second.nondigits) == ["letters", "noise"]
    for a, b in zip(first.named().values(), second.named().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.drawn_test.rejected == sets.drawn_test.rejected == 2
    assert second.nondigits["letters"].labels.tolist() == [-1, -1]

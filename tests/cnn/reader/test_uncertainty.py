"""The measurement half: metrics against references, and the non-digit drawings themselves."""

from __future__ import annotations

import numpy as np
import pytest

from cnn.reader.nondigits import NONDIGIT_SETS, drawn_digits, nondigit_sets
from cnn.reader.uncertainty import auroc, brier, ece, nll


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
    from cnn.reader import uncertainty
    from cnn.reader.nondigits import DrawnSet

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


def test_predictive_sweep_trades_digit_nll_for_nondigit_confidence(rng):
    """The sweep's rows are the served probit at each setting: checked against the formula
    written out here (and, for the prior knob, against the variance refitted at that
    precision); a larger T or a smaller prior precision never gives more non-digits >= 99%;
    "shown" counts only the non-digits the gate answers on."""
    from scipy.special import softmax

    from cnn.reader.uncertainty import predictive_sweep

    def probit(logits, variance, t=1.0):  # softmax(mu / (T sqrt(1 + pi/8 var)))
        return softmax(logits / (t * np.sqrt(1 + np.pi / 8 * variance)), axis=1)

    w, b = rng.normal(0, 1, (10, 16)), rng.normal(0, 0.1, 10)
    feats = {k: np.abs(rng.normal(0, 2, (200, 16))) for k in ("val", "test", "nd_a", "nd_b")}
    labels = {k: (feats[k] @ w.T + b).argmax(1) for k in ("val", "test")}
    labels["test"][:10] = (labels["test"][:10] + 1) % 10  # a few wrong, so NLL is not ~0
    ggn_w, ggn_b = np.abs(rng.normal(0, 50, (16, 10))), np.full(10, 30.0)
    prior = 4.0
    fit = {
        "weight_var": 1 / (ggn_w + prior),
        "bias_var": 1 / (ggn_b + prior),
        "prior_precision": prior,
        "temperature": 0.7,
    }
    abstain = {"nd_a": np.arange(200) % 2 == 0, "nd_b": np.zeros(200, bool)}
    sweep = predictive_sweep(
        fit,
        (w, b),
        feats,
        labels,
        abstain,
        temperatures=(0.5, 1.0, 2.0),
        prior_factors=(0.5, 1.0, 4.0),
    )
    by_t = [r for r in sweep if r["knob"] == "T"]
    assert [r["value"] for r in by_t] == [0.5, 0.7, 1.0, 2.0]
    assert [r["fitted"] for r in by_t] == [False, True, False, False]
    conf99 = [r["nondigit_conf99"] for r in by_t]
    assert conf99 == sorted(conf99, reverse=True) and conf99[0] > conf99[-1]
    x = feats["test"]
    direct = probit(x @ w.T + b, x**2 @ fit["weight_var"] + fit["bias_var"], 0.7)
    assert by_t[1]["test_nll"] == pytest.approx(nll(direct, labels["test"]), rel=1e-9)
    assert by_t[1]["test_ece"] == pytest.approx(ece(direct, labels["test"]), rel=1e-9)
    nd_conf = {
        k: probit(feats[k] @ w.T + b, feats[k] ** 2 @ fit["weight_var"] + fit["bias_var"], 0.7).max(
            1
        )
        for k in ("nd_a", "nd_b")
    }
    shown = np.r_[(nd_conf["nd_a"] >= 0.99) & ~abstain["nd_a"], nd_conf["nd_b"] >= 0.99]
    assert by_t[1]["nondigit_shown99"] == pytest.approx(shown.mean(), abs=1e-12)
    assert 0 < by_t[1]["nondigit_shown99"] < by_t[1]["nondigit_conf99"]

    by_prior = [r for r in sweep if r["knob"] == "prior"]
    assert [r["value"] for r in by_prior] == [2.0, 4.0, 16.0]
    # At 4x the prior precision the variance is 1 / (GGN + 16), the Laplace refitted there.
    refit = probit(x @ w.T + b, x**2 @ (1 / (ggn_w + 16)) + 1 / (ggn_b + 16))
    assert by_prior[2]["test_nll"] == pytest.approx(nll(refit, labels["test"]), rel=1e-9)
    conf99 = [r["nondigit_conf99"] for r in by_prior]
    assert conf99 == sorted(conf99)


def test_paired_bootstrap_interval(rng):
    """Same predictions: difference 0 and a zero-width interval; a model that is right where the
    other is unsure: the whole interval lies below 0."""
    from cnn.reader.uncertainty import paired_bootstrap

    labels = rng.integers(0, 10, 500)
    sharp = np.full((500, 10), 0.01)
    sharp[np.arange(500), labels] = 0.91
    unsure = np.full((500, 10), 0.1)
    assert paired_bootstrap(nll, sharp, sharp, labels, resamples=50) == (0.0, 0.0, 0.0)
    diff, low, high = paired_bootstrap(nll, sharp, unsure, labels, resamples=200)
    assert diff == pytest.approx(np.log(0.1) - np.log(0.91))
    assert low <= diff <= high < 0


def test_shown_counts_answered_nondigits_and_auroc_subtracts_one_when_abstaining():
    """Hand-worked: 'shown at >= 99%' needs both >= 99% and no abstention; the AUROC is of
    "confidence, minus 1 when abstaining" (an abstained non-digit ranks below every answer)."""
    from cnn.reader.uncertainty import shown_and_abstained

    def probs(conf):
        p = np.full((len(conf), 10), 0.0)
        p[:, 0] = conf
        p[:, 1] = 1 - np.asarray(conf)
        return p

    out = {
        "digits": (probs([0.999, 0.95, 0.999]), None),
        "nd_a": (probs([0.999, 0.999, 0.5, 0.995]), None),
        "nd_b": (probs([0.999, 0.6]), None),
    }
    abstain = {
        "digits": np.array([False, False, True]),
        "nd_a": np.array([True, False, False, True]),
        "nd_b": np.array([False, True]),
    }
    r = shown_and_abstained(out, abstain, ["nd_a", "nd_b"], "digits")
    assert r["shown99"] == pytest.approx(2 / 6)  # nd_a[1], nd_b[0]
    assert r["abstained"] == pytest.approx(3 / 6)
    assert r["conf99"] == pytest.approx(4 / 6)
    assert r["per_set_shown99"] == {"nd_a": 0.25, "nd_b": 0.5}
    digit_scores = np.array([0.999, 0.95, 0.999 - 1])
    nondigit_scores = np.array([0.999 - 1, 0.999, 0.5, 0.995 - 1, 0.999, 0.6 - 1])
    assert r["auroc"] == pytest.approx(auroc(digit_scores, nondigit_scores))


def test_gate_comparison_pairs_calibration_scores_digit_by_digit(rng):
    """Two anti-correlated scores: Fisher's threshold must come from each calibration digit's
    own pair of p-values (sorting each score on its own would pair the extremes together and
    move the threshold); the calibration digits then abstain at the rate asked for."""
    from cnn.reader.nondigits import DrawnSet
    from cnn.reader.uncertainty import Sets, gate_comparison

    n, rate = 1000, 0.1
    res = rng.normal(size=n)
    calibration = {"residual": res, "oe": -res + 0.3 * rng.normal(size=n)}
    calibration |= {"density": rng.normal(size=n), "conv2": rng.normal(size=n)}

    def drawn(count: int) -> DrawnSet:
        return DrawnSet(np.zeros((count, 28, 28), np.float32), np.zeros(count, np.int64), 0)

    sets = Sets(
        np.zeros((50, 28, 28), np.float32), np.zeros(50, np.int64), np.zeros((1, 28, 28)),
        np.zeros(1, np.int64), drawn(n), drawn(n), {"a": drawn(50)},
    )  # fmt: skip
    probs = np.eye(10)[np.zeros(n, int)]
    outputs = {k: (probs[: len(x)], None) for k, x in sets.named().items()}
    scores = {
        name: {k: values[: len(x)] for k, x in sets.named().items()}
        for name, values in calibration.items()
    }
    rows = gate_comparison(scores, calibration, outputs, sets, rate)
    paired = next(r for r in rows if r["gate"] == "OE + residual (Fisher)")
    assert paired["val_drawn_abstained"] == pytest.approx(rate, abs=0.01)

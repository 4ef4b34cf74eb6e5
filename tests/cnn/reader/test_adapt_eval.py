"""cnn adapt-eval end to end on a small setting: the rows it reports are what the graphs say."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from cnn.reader import adapt_eval as E
from serving import adapt as A
from serving.session import DEFAULT_MODEL


def test_eval_writers_flag_their_ones_and_are_reproducible():
    first, again = E.eval_writers(2), E.eval_writers(2)
    assert [k for k, _ in first] == [k for k, _ in again]
    assert all(style.one_flag for _, style in first) and first[0][1] == again[0][1]


def test_finetune_without_prior_fits_the_examples_alone():
    """No prior: the examples' cross-entropy only, so they end up read as labelled."""
    base = onnx.load(str(DEFAULT_MODEL))
    spec = A.read_head(base)
    prior = A.read_prior(base, spec)
    _, style = E.eval_writers(1)[0]
    pixels, labels = E.writer_pixels(style, 2, seed=3)
    feats = A.features_of(base, spec, pixels).astype(np.float64)
    tuned = E.finetune(prior, feats, labels, iterations=100)
    assert (tuned.logits(feats).argmax(1) == labels).all()
    assert np.array_equal(tuned.weight_var, prior.weight_var)  # variances untouched


@pytest.mark.slow
def test_adapt_eval_small_run(tmp_path):
    config = E.AdaptEvalConfig(
        writers=1, new_per_digit=3, counts=(1,), timing=False, figure=tmp_path / "a.png",
        nondigits_per_set=5,
    )  # fmt: skip
    result = E.run_adapt_eval(config, progress=lambda _: None)
    rows = result["rows"]
    assert [r["method"] for r in rows] == ["none", "bayes", "bayes-loo", "fine-tune"]
    none, bayes = rows[0], rows[1]
    assert none["mnist_scores"]["accuracy"] > 0.99 and bayes["weight"] == 1
    # the update cannot make the gate stricter: min(base, writer)
    assert bayes["writer_scores"]["abstained"] <= none["writer_scores"]["abstained"]
    assert bayes["nondigits_accepted"] >= none["nondigits_accepted"]
    assert (tmp_path / "a.png").stat().st_size > 10_000
    table = E.markdown_table(rows)
    assert table.count("\n") == len(rows) + 1 and "| bayes | 1 |" in table

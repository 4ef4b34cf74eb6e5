"""The held-out number evaluation's drawings are what it says (canvases, gap classes, 2-4 digits,
reproducible, writers of its own); they are not read here: tests never use evaluation drawings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cnn.reader import number_eval
from cnn.reader.number_eval import NumberEvalConfig, drawings, format_table


def test_drawings_cover_both_canvases_and_every_gap_class_reproducibly():
    config = NumberEvalConfig(count=8, seed=5)
    made = list(drawings(config))
    assert len(made) == 16
    assert Counter(d.canvas for d in made) == {"560x280": 8, "280x280": 8}
    assert Counter(d.gaps for d in made) == {"spaced": 8, "close": 4, "touching": 4}
    for d in made:
        height, width = d.image.shape
        assert f"{width}x{height}" == d.canvas and d.image.dtype == np.uint8
        assert 2 <= len(d.truth) <= 4 and d.truth.isdigit() and d.image.max() == 255
    again = list(drawings(config))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(made, again, strict=True))
    other = next(drawings(NumberEvalConfig(count=8, seed=6)))
    assert not np.array_equal(other.image, made[0].image)


def test_writers_have_a_tag_of_their_own():
    from cnn.reader import heldout

    assert number_eval.NUMBER_TAG != heldout.HELDOUT_TAG


def test_table_and_config_checks():
    row = {"canvas": "all", "gaps": "all", "numbers": 4, "exact": 0.75, "wrong": 0.0, "null": 0.25}
    table = format_table({"rows": [], "pooled": row})
    assert table.splitlines()[-1] == "| all | all | 4 | 75.0% | 0.0% | 25.0% |"
    with pytest.raises(ValueError, match="count"):
        NumberEvalConfig(count=0)


def test_development_writers_are_not_the_evaluation_writers():
    """The splitter is tuned on the development tag's writers: none of them is an evaluation's."""
    assert number_eval.DEVELOPMENT_TAG != number_eval.NUMBER_TAG
    evaluation = list(drawings(NumberEvalConfig(count=4)))
    development = list(drawings(NumberEvalConfig(count=4, development=True)))
    assert [d.canvas for d in development] == [d.canvas for d in evaluation]
    assert [d.gaps for d in development] == [d.gaps for d in evaluation]
    assert not any(
        np.array_equal(a.image, b.image) for a, b in zip(evaluation, development, strict=True)
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "argument --count: must be a positive integer, got 0"),
        (["--count", "2", "--model", "no.onnx"], "error: model file no.onnx does not exist"),
        (["--count", "2", "--model", "junk.onnx"], "is not a readable ONNX model"),
    ],
)
def test_bad_arguments_are_one_clear_line(args, message, tmp_path, capsys):
    from cnn.__main__ import main

    (tmp_path / "junk.onnx").write_bytes(b"junk")
    args = [str(tmp_path / a) if a.endswith(".onnx") else a for a in args]
    try:
        code = main(["number-eval", *args])
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message.replace("no.onnx", str(tmp_path / "no.onnx")) in err and "Traceback" not in err

"""The user's own CSV: every bad input is one clear error (no PyMC needed), caps on n, --out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bayes.__main__ import main
from bayes.data import MAX_N, DataConfig, DataError, make_data
from bayes.userdata import dataset_from_frame, load_csv


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory):
    """The course's data moved and scaled, as a user would have it: hours -> score."""
    d = make_data(DataConfig(n=40, seed=3))
    path = tmp_path_factory.mktemp("csv") / "scores.csv"
    pd.DataFrame({"hours": d.x * 5 + 10, "score": d.y * 3 + 50}).to_csv(path, index=False)
    return path


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_csv_becomes_a_dataset_with_unknown_sigma(good_csv):
    data = load_csv(good_csv, "hours", "score")
    assert len(data.x) == 40 and data.sigma is None and data.truth is None
    assert data.x_range == (data.x.min(), data.x.max())
    assert (data.source, data.x_label, data.y_label) == ("scores.csv", "hours", "score")


@pytest.mark.parametrize(
    "text,x,y,sep,message",
    [
        ("a,b\n1,2\n2,3\n3,5\n", "a", "c", ",", "no column 'c' for y (columns: a, b)"),
        ("a,b\n1,2\n2,oops\n3,5\n4,1\n", "a", "b", ",", "non-numeric values ('oops') on lines 3"),
        ("a,b\n1,2\n2,3\n,5\n4,1\n", "a", "b", ",", "empty, NaN or infinite values on lines 4"),
        ("a,b\n1,2\n2,inf\n3,nan\n4,1\n", "a", "b", ",", "on lines 3, 4"),
        ("a,b\n1,2\n2,3\n", "a", "b", ",", "need at least 3 points"),
        ("a,b\n1,2\n1,3\n1,5\n", "a", "b", ",", "column 'a' is constant"),
        ("a;b\n1;2\n2;3\n3;5\n", "a", "b", ",", "is the separator ';' or a tab? pass --sep"),
        ("", "a", "b", ",", "is empty"),
    ],
)
def test_bad_csv_is_one_clear_error(tmp_path, text, x, y, sep, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_csv(path, x, y, sep)
    assert message in str(info.value)


def test_separator_option_reads_semicolons(tmp_path):
    data = load_csv(write(tmp_path, "a;b\n1;2\n2;3\n3;5\n"), "a", "b", ";")
    np.testing.assert_array_equal(data.y, [2, 3, 5])


def test_missing_file_and_too_many_rows(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_csv(tmp_path / "nope.csv", "x", "y")
    big = pd.DataFrame({"x": np.arange(MAX_N + 1.0), "y": 0.0})
    with pytest.raises(DataError, match="more than the 10,000"):
        dataset_from_frame(big, "x", "y")


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    path = write(tmp_path, "a,b\n1,2\n2,x\n3,5\n")
    for command in ("fit", "compare", "select"):
        assert main([command, "--csv", str(path), "--x", "a", "--y", "b"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "non-numeric" in err and "Traceback" not in err
    assert main(["compare", "--n", "100000000"]) == 2  # would exhaust memory: refused at once
    assert "n must be <= 10,000" in capsys.readouterr().err
    assert main(["select", "--max-degree", "31"]) == 2
    assert "degree must be <= 30" in capsys.readouterr().err


def test_fit_checks_out_before_sampling(tmp_path, capsys, monkeypatch):
    import bayes.analysis

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled before checking --out")

    monkeypatch.setattr(bayes.analysis, "posterior", no_sampling)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["fit", "--out", str(blocker / "run"), "--quiet"]) == 2
    assert "cannot write to --out" in capsys.readouterr().err


def test_select_on_a_csv_learns_sigma(good_csv, capsys):
    args = ["select", "--csv", str(good_csv), "--x", "hours", "--y", "score", "--json"]
    assert main([*args, "--max-degree", "8"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["sigma_known"] is False
    # the data are the course's (noise 1) scaled by 3: the true degree and noise come back
    assert res["chosen_degree"] == 5
    assert 2.4 < res["sigma_estimate"][5] < 3.6
    assert main([*args, "--max-degree", "8", "--sigma", "3"]) == 0
    fixed = json.loads(capsys.readouterr().out)
    assert fixed["sigma_known"] and fixed["sigma"] == 3.0


def test_help_shows_every_default(capsys):
    for command in ("compare", "fit", "select", "overfit", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "(default: " in out, command
        options = [line for line in out.splitlines() if line.strip().startswith("--")]
        assert all(len(line.split()) > 1 for line in options), (command, options)

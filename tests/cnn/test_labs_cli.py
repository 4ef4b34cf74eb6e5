"""``python -m cnn <lab>``: every lab runs from the shell, prints JSON, writes PNGs + JSON."""

from __future__ import annotations

import json

import pytest

from cnn.__main__ import build_parser, main
from cnn.labs.cli import LAB_COMMANDS


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_labs_are_registered_with_helpful_help(capsys):
    assert LAB_COMMANDS == ("init-lab", "optim-lab", "reg-lab", "conv-lab")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in LAB_COMMANDS:
        lab = sub.choices[command]
        assert lab.description
        for action in lab._actions:
            if action.dest != "help":  # every option has help text that shows its default
                assert action.help and "%(default)" not in action.help, action.dest
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "--json" in text and "--out DIR" in text
        assert text.count("(default:") == len(lab._actions) - 1


def test_init_lab_cli(tmp_path, capsys):
    code, out, _ = _run(capsys, "init-lab", "--activation", "sigmoid", "--init", "normal-0.01",
                        "--seeds", "2", "--train-epochs", "1", "--json", "--out", str(tmp_path),
                        "--quiet")  # fmt: skip
    assert code == 0
    numbers = json.loads(out)
    assert numbers["course_claims"]["sigmoid_normal0.01_vanishing_gradients"]["holds"]
    assert (tmp_path / "init_sigmoid_normal-0.01.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "init-lab.json").read_text()) == numbers


def test_init_lab_human_summary_and_the_readme_spelling(capsys):
    # the README's --init glorot_normal (Keras' spelling) works as well as glorot-normal
    code, out, _ = _run(capsys, "init-lab", "--activation", "tanh", "--init", "glorot_normal",
                        "--seeds", "3", "--train-epochs", "1", "--quiet")  # fmt: skip
    assert code == 0 and "tanh" in out
    assert "tanh_glorot-normal_keeps_activations (line 356): the course says" in out
    # a claim the measurement does not reproduce reads as a sentence, not as a failure
    twenty = next(line for line in out.splitlines() if "gradients_20x_below_weights" in line)
    assert 'the course says "gradients about 20x smaller than the weights"' in twenty
    assert "measured weights / one sample's gradient" in twenty
    assert twenty.endswith("-- not reproduced, see docs/LABS.md")
    assert "[differs]" not in out and "[holds]" not in out
    assert "does it train? tanh     glorot-normal" in out


def test_optim_lab_cli(tmp_path, capsys):
    code, out, _ = _run(capsys, "optim-lab", "--ball-steps", "3", "--function-steps", "10",
                        "--optimizers", "sgd", "rprop", "--functions", "beale", "--seeds", "1",
                        "--lrs", "0.01", "0.1", "--rprop-epochs", "1", "--json",
                        "--out", str(tmp_path), "--quiet")  # fmt: skip
    assert code == 0
    numbers = json.loads(out)
    assert set(numbers) == {"ball", "beale", "rprop_batches"}
    assert set(numbers["ball"]) == {"sgd", "rprop"}
    assert numbers["ball"]["sgd"]["best_lr"] in (0.01, 0.1)
    assert {p.name for p in tmp_path.iterdir()} == {
        "optim_ball_race.png", "optim_rprop_batches.png", "optim_beale.png", "optim-lab.json"
    }  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(["optim-lab", "--lrs", "0", "--quiet"])
    assert exit_info.value.code == 2
    assert "--lrs: must be a positive number, got 0" in capsys.readouterr().err


def test_reg_lab_cli_and_bad_input(capsys):
    code, out, _ = _run(capsys, "reg-lab", "--steps", "5", "--noise-features", "3",
                        "--path-steps", "2", "--seeds", "1", "--json", "--quiet")  # fmt: skip
    assert code == 0
    assert json.loads(out)["feature_selection"]["noise_features"] == 3
    code, _, err = _run(capsys, "reg-lab", "--l1", "-0.5", "--quiet")
    assert code == 2 and "--l1 must be >= 0" in err


def test_conv_lab_cli_without_checkpoint(tmp_path, capsys):
    code, out, err = _run(capsys, "conv-lab", "--checkpoint", str(tmp_path / "none.pt"),
                          "--out", str(tmp_path / "out"))  # fmt: skip
    assert code == 0
    assert "worked examples matching the course: 8/8" in out
    # inputs counted from 1, as in the course's figure and the app
    assert "drops inputs 12, 13, counted from 1" in out
    assert "No trained CNN" in out and "python -m cnn train" in err
    assert (tmp_path / "out" / "conv_feature_maps_missing.png").exists()
    code, _, err = _run(capsys, "conv-lab", "--digit-index", "-1")
    assert code == 2 and "--digit-index must be in 0..9999" in err

"""The few lines a person reads after a lab on the command line (``--json`` has everything)."""

from __future__ import annotations

from cnn.labs.labels import MEASURES, _number


def _init_summary(numbers: dict) -> list[str]:
    lines = [f"{'activation':8s} {'init':15s} activation std h1..h5    signal std h1..h5 "
             f"(medians over {numbers['profiles'][0]['seeds']} seeds)"]  # fmt: skip
    for r in numbers["profiles"]:
        a = " ".join(f"{v:7.1e}" for v in r["activation_std"]["median"])
        g = " ".join(f"{v:7.1e}" for v in r["signal_std"]["median"])
        lines.append(f"{r['activation']:8s} {r['init']:15s} {a}   {g}")
    if numbers["course_claims"]:
        lines.append("the course's claims (line: where its handout says so; measured: median "
                     "over the seeds):")  # fmt: skip
    for key, c in numbers["course_claims"].items():
        measure, value = next(
            (k, v) for k, v in c.items() if isinstance(v, float) and k != "handout_line"
        )
        verdict = "reproduced" if c["holds"] else "not reproduced, see docs/LABS.md"
        lines.append(f"  {key} (line {c['handout_line']}): the course says \"{c['says']}\"; "
                     f"measured {MEASURES.get(measure, measure)} {_number(measure, value)} "
                     f"-- {verdict}")  # fmt: skip
    for r in numbers.get("training", []):
        end = "diverged" if r["diverged"] else f"{r['final_loss']:.3f}"
        start = r["loss_per_epoch"][0]
        lines.append(f"does it train? {r['activation']:8s} {r['init']:15s} BCE "
                     f"{start:.3f} -> {end} after {r['epochs']} epochs")  # fmt: skip
    return lines


def _optim_summary(numbers: dict) -> list[str]:
    lines = ["ball data, each optimizer at its best learning rate (median over seeds):"]
    for k, v in numbers["ball"].items():
        lo, hi = v["test_accuracy_range"]
        lines.append(f"  {k:9s} lr {v['best_lr']:<7g} test accuracy {v['test_accuracy']:.3f} "
                     f"({lo:.3f}-{hi:.3f}), training BCE {v['final_loss']:.2e}")  # fmt: skip
    rb = numbers.get("rprop_batches")
    if rb:
        for name in (k for k, v in rb.items() if isinstance(v, dict)):
            f, m = rb[name]["full_batch"], rb[name]["mini_batch"]
            lines.append(f"{name} full batch vs mini-batches of {rb['batch_size']} "
                         f"({rb['epochs']} epochs): BCE {f['final_loss']:.3f} vs "
                         f"{m['final_loss']:.3f}, test accuracy {f['test_accuracy']:.3f} vs "
                         f"{m['test_accuracy']:.3f}")  # fmt: skip
    if "adam_early_steps" in numbers:
        early = numbers["adam_early_steps"]
        lines.append(f"{early['sentence']} {early['at_best_rates']}")
    for fn, rows in numbers.items():
        if fn in FUNCTION_KEYS:
            lines.append(f"{fn}, final distance to the minimum: " + ", ".join(
                f"{k} {v['final_distance']:.1e}" for k, v in rows.items()))  # fmt: skip
    return lines


def _reg_summary(numbers: dict) -> list[str]:
    fs, drop = numbers["feature_selection"], numbers["dropout"]
    lines = [
        f"{k:4s}: {v['noise_weights_near_zero']:.0%} of noise-feature weights near 0, noise "
        f"features kept {v['noise_features_kept']}/{fs['noise_features']}, "
        f"test accuracy {v['test_accuracy']:.3f}"
        for k, v in fs.items() if isinstance(v, dict)
    ]  # fmt: skip
    for m, r in numbers.get("lambda_path", {}).items():
        best = max(range(len(r["lambdas"])), key=lambda i: r["test_accuracy"][i])
        lines.append(f"{m:14s} best lambda {r['lambdas'][best]:g}: test accuracy "
                     f"{r['test_accuracy'][best]:.3f}, exactly-zero input weights "
                     f"{r['zero_noise_input_weights'][best]:.0f} noise / "
                     f"{r['zero_signal_input_weights'][best]:.0f} signal")  # fmt: skip
    lines.append(f"dropout p={drop['p']}: train zeroes {drop['train_fraction_zeroed']:.1%}, "
                 f"keeps x{drop['train_kept_value']:.2f}; eval identity: "
                 f"{drop['eval_identical']}")  # fmt: skip
    return lines


def _conv_summary(numbers: dict) -> list[str]:
    ok = sum(e["matches"] for e in numbers["worked_examples"])
    p1 = numbers["padding_1d"]
    fm = numbers["feature_maps"]
    dropped = ", ".join(str(i) for i in p1["valid_dropped_positions"]) or "none"
    return [
        f"worked examples matching the course: {ok}/{len(numbers['worked_examples'])}",
        f"1-D: width {p1['input_width']}, filter {p1['filter_width']}, stride {p1['stride']}: "
        f"VALID {p1['valid_outputs']} outputs (drops inputs {dropped}, counted from 1), "
        f"SAME {p1['same_outputs']}",
        fm.get("missing") or f"feature maps from {fm['checkpoint']}: shapes {fm['shapes']}",
    ]


FUNCTION_KEYS = ("rosenbrock", "beale")


def summary(name: str, numbers: dict) -> list[str]:
    """A few lines a person reads; --json has everything."""
    return {"init-lab": _init_summary, "optim-lab": _optim_summary, "reg-lab": _reg_summary,
            "conv-lab": _conv_summary}[name](numbers)  # fmt: skip

"""``python -m cnn adapt-eval``: does teaching the reader a writer's handwriting work, and at what
cost on MNIST? (``serving.adapt``; docs/BENCHMARKS.md "Teaching the reader your handwriting").

Two held-out writers (``cnn.reader.pen`` styles seeded with this module's own tag, so no other
code draws them; the first two such writers who flag their 1s, the hard case) each draw a pool of
labelled examples and, separately, new drawings (a different seed). For 1, 2, 5 and 10 examples
per digit three readers are compared on the *new* drawings (accuracy, abstained) and on MNIST's
10,000 test images (accuracy, abstained):

- ``none``: the shipped graph;
- ``bayes``: ``serving.adapt`` as shipped (the Laplace update with likelihood weight 1, and the
  writer's gate); ``bayes-loo``: the same with the weight chosen by leave-one-out on the examples;
- ``fine-tune``: the last layer refitted on the examples alone, no prior: L-BFGS on their
  cross-entropy from the MAP weights (100 iterations), the base variances and gate kept.

Also measured: the share of held-out non-digits (``cnn.reader.heldout``) each reader accepts
(uncertainty < 1): the writer's gate must not open the door to them.

Nothing is chosen on the new drawings or on MNIST test. MNIST numbers come from the base graph's
features and the adapted last layer in numpy (the trunk is unchanged; one adapted graph is
checked against ONNX Runtime on 1,000 test images); MNIST abstentions from the adapted graph.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from cnn.reader.configs import ADAPT_COUNTS as COUNTS  # noqa: F401 (re-exported)
from cnn.reader.configs import AdaptEvalConfig  # defined in configs.py (light, for --help)
from serving import adapt as A

ADAPT_TAG = 0xADA9  # seeds the writers of this evaluation only
METHODS = ("none", "bayes", "bayes-loo", "fine-tune")


def eval_writers(count: int, seed: int = 0) -> list:
    """The first ``count`` writers of this module's seed sequence who write 1 with a flag."""
    from cnn.reader import pen

    found, k = [], 0
    while len(found) < count:
        style = pen.random_writer(np.random.default_rng([seed, ADAPT_TAG, k]))
        if style.one_flag:
            found.append((k, style))
        k += 1
    return found


def writer_pixels(style, per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_digit`` drawings of each digit by ``style``, through the app's preprocessing,
    ordered digit-major by repetition: the first 10 k items hold k of every digit."""
    from cnn.reader import pen
    from cnn.reader.nondigits import to_pixels

    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10), per_digit)
    drawn = to_pixels((pen.pen_digit(int(d), style, rng) for d in labels), labels)
    if drawn.rejected:
        raise ValueError(f"{drawn.rejected} pen drawings read as empty: the pen module changed")
    return drawn.pixels, drawn.labels


def finetune(prior: A.LastLayer, feats: np.ndarray, labels: np.ndarray, iterations: int):
    """The last layer refitted on the examples' cross-entropy alone (no prior), from the MAP."""
    from scipy.optimize import minimize

    classes = len(prior.bias)
    onehot = np.eye(classes)[labels]
    x = np.concatenate([feats, np.ones((len(feats), 1))], axis=1)

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = flat.reshape(classes, -1)
        z = x @ theta.T
        log_p = z - A._logsumexp(z)
        return -float((onehot * log_p).sum()), ((np.exp(log_p) - onehot).T @ x).ravel()

    from threadpoolctl import threadpool_limits

    start = np.concatenate([prior.weight, prior.bias[:, None]], axis=1).ravel()
    # One BLAS thread: without a prior the problem has no minimum (separable examples), so where
    # 100 iterations stop depends on rounding; one thread makes it the same on every run.
    with threadpool_limits(1):
        result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": iterations})
    theta = result.x.reshape(classes, -1)
    return A.LastLayer(theta[:, :-1], theta[:, -1], prior.weight_var, prior.bias_var)


def _scores(probabilities, uncertainty, labels) -> dict[str, float]:
    return {
        "accuracy": float((probabilities.argmax(1) == labels).mean()),
        "abstained": float((uncertainty >= 1).mean()),
        "correct_not_abstained": float(
            ((probabilities.argmax(1) == labels) & (uncertainty < 1)).mean()
        ),
    }


def run_adapt_eval(config: AdaptEvalConfig = AdaptEvalConfig(), progress=print) -> dict:
    from cnn.data import load_mnist

    base = onnx.load(str(config.model))
    spec = A.read_head(base, str(config.model))
    prior = A.read_prior(base, spec)
    test = load_mnist("test")
    test_pixels = test.images.astype(np.float32) / 255
    mnist = A.run_graph(A.feature_graph(base, spec), test_pixels, [spec.features, "uncertainty"])
    test_feats = mnist[spec.features].astype(np.float64)
    test_u = mnist["uncertainty"]
    progress(f"MNIST test features: {len(test_feats)}")
    from cnn.reader.heldout import heldout_nondigit_sets

    sets = heldout_nondigit_sets(config.nondigits_per_set, config.seed + 7)
    nondigits = np.concatenate([s.pixels for s in sets.values()])
    progress(f"held-out non-digits: {len(nondigits)} ({', '.join(sets)})")
    rows, checked = [], False
    for index, (k, style) in enumerate(eval_writers(config.writers, config.seed)):
        pool, pool_labels = writer_pixels(style, max(config.counts), config.seed + 10 * k + 1)
        new, new_labels = writer_pixels(style, config.new_per_digit, config.seed + 10 * k + 2)
        progress(f"writer {index + 1} (seed {k}): {len(pool)} examples, {len(new)} new drawings")
        base_out = A.run_graph(base, new)
        row = {"writer": index + 1, "writer_seed": k, "examples_per_digit": 0, "method": "none"}
        row["writer_scores"] = _scores(
            base_out["probabilities"], base_out["uncertainty"], new_labels
        )
        row["ones_accuracy"] = float(
            (base_out["probabilities"].argmax(1) == 1)[new_labels == 1].mean()
        )
        probs = prior.predictive(test_feats, spec.temperature)
        row["mnist_scores"] = _scores(probs, test_u, test.labels)
        row["nondigits_accepted"] = float((A.run_graph(base, nondigits)["uncertainty"] < 1).mean())
        rows.append(row)
        pool_feats = A.features_of(base, spec, pool).astype(np.float64)
        for count in config.counts:
            pixels, labels = pool[: 10 * count], pool_labels[: 10 * count]
            adapted = A.adapt_model(base, pixels, labels, A.AdaptConfig(), config.model.name)
            chosen = A.adapt_model(base, pixels, labels, A.AdaptConfig(weight=None))
            tuned = finetune(prior, pool_feats[: 10 * count], labels, config.finetune_iterations)
            tuned_model = A.write_graph(base, spec, prior, tuned, None, {})
            for method, run, model, post, gate in (
                ("bayes", adapted, adapted.model, adapted.posterior, adapted.gate),
                ("bayes-loo", chosen, chosen.model, chosen.posterior, chosen.gate),
                ("fine-tune", None, tuned_model, tuned, None),
            ):
                out = A.run_graph(model, new)
                mnist_probs = post.predictive(test_feats, spec.temperature)
                # the gate changed only where a writer gate was added: run that graph on MNIST
                mnist_u = test_u
                if gate is not None:
                    mnist_u = np.concatenate(
                        [
                            A.run_graph(model, test_pixels[i : i + 2000])["uncertainty"]
                            for i in range(0, len(test_pixels), 2000)
                        ]
                    )
                if not checked:
                    _parity(model, test_pixels[:1000], mnist_probs[:1000])
                    checked = True
                rows.append(
                    {
                        "writer": index + 1,
                        "writer_seed": k,
                        "examples_per_digit": count,
                        "method": method,
                        "weight": None if run is None else run.weight,
                        "adapt_seconds": None if run is None else run.seconds,
                        "writer_scores": _scores(
                            out["probabilities"], out["uncertainty"], new_labels
                        ),
                        "ones_accuracy": float(
                            (out["probabilities"].argmax(1) == 1)[new_labels == 1].mean()
                        ),
                        "mnist_scores": _scores(mnist_probs, mnist_u, test.labels),
                        "nondigits_accepted": float(
                            (A.run_graph(model, nondigits)["uncertainty"] < 1).mean()
                        ),
                    }
                )
                r = rows[-1]
                progress(
                    f"  {count:2d}/digit {method:9s} writer {r['writer_scores']['accuracy']:.3f} "
                    f"(abstained {r['writer_scores']['abstained']:.3f}, 1s "
                    f"{r['ones_accuracy']:.2f}); MNIST {r['mnist_scores']['accuracy']:.4f}"
                )
    result = {"rows": rows, "config": {k: str(v) for k, v in config.__dict__.items()}}
    if config.timing:
        style = eval_writers(1, config.seed)[0][1]
        result["cold_adapt_seconds"] = {
            weight: time_cold_adapt(config, style, weight) for weight in ("1", "auto")
        }
        progress(
            "cold `python -m serving adapt` on 50 examples: "
            + ", ".join(f"--weight {w}: {t:.1f} s" for w, t in result["cold_adapt_seconds"].items())
        )
    if config.figure is not None:
        result["figure"] = str(adapt_figure(rows, config.figure))
    return result


def _parity(model: onnx.ModelProto, pixels, probs) -> None:
    """The numpy path used for MNIST's probabilities agrees with the adapted graph."""
    out = A.run_graph(model, pixels)
    diff = float(np.abs(out["probabilities"] - probs).max())
    if diff > 1e-3:
        raise AssertionError(f"adapted graph vs numpy on MNIST test: max difference {diff:.2e}")


def time_cold_adapt(config: AdaptEvalConfig, style, weight: str = "1") -> float:
    """Wall seconds of a fresh `python -m serving adapt` process on 5 drawings per digit."""
    from PIL import Image

    from cnn.reader import pen

    rng = np.random.default_rng(config.seed + 99)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "examples"
        folder.mkdir()
        for i, d in enumerate(np.tile(np.arange(10), 5)):
            Image.fromarray(pen.pen_digit(int(d), style, rng)).save(folder / f"{d}_{i:03d}.png")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "serving", "adapt", "--examples", str(folder), "--out",
             str(Path(tmp) / "adapted.onnx"), "--model", str(config.model), "--weight", weight],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return time.perf_counter() - start


def adapt_figure(rows: list[dict], out: Path) -> Path:
    """Writer accuracy, writer abstentions and MNIST test accuracy vs examples per digit; the
    issue's targets dotted (>= 98%, <= 2%, >= 99.4%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    looks = {
        "bayes": ("C0", "o", "Bayesian update (weight 1)"),
        "bayes-loo": ("C2", "s", "Bayesian, weight by leave-one-out"),
        "fine-tune": ("C3", "^", "fine-tune the last layer, no prior"),
    }
    panels = (
        ("writer_scores", "accuracy", "writer's new drawings: accuracy", 0.98),
        ("writer_scores", "abstained", "writer's new drawings: abstained", 0.02),
        ("mnist_scores", "accuracy", "MNIST test accuracy", 0.994),
    )
    writers = sorted({r["writer"] for r in rows})
    for ax, (group, key, title, target) in zip(axes, panels, strict=True):
        for writer, line in zip(writers, ("-", "--"), strict=False):
            base = next(r for r in rows if r["writer"] == writer and r["method"] == "none")
            ax.axhline(base[group][key], ls=line, color="0.55", lw=1)
            for method, (colour, marker, _) in looks.items():
                pts = [r for r in rows if r["writer"] == writer and r["method"] == method]
                ax.plot([r["examples_per_digit"] for r in pts], [r[group][key] for r in pts],
                        line, marker=marker, color=colour, mfc="none" if method == "bayes-loo"
                        else colour, ms=7 if method == "bayes-loo" else 5)  # fmt: skip
        ax.axhline(target, ls=":", color="k", lw=1)
        ax.set_xscale("log")
        ax.set_xticks([1, 2, 5, 10], ["1", "2", "5", "10"])
        ax.set_xlabel("labelled drawings per digit")
        ax.set_title(title)
    handles = [
        plt.Line2D([], [], color=c, marker=m, label=name) for c, m, name in looks.values()
    ] + [
        plt.Line2D([], [], color="0.55", label="no update"),
        plt.Line2D([], [], color="k", ls=":", label="target"),
        plt.Line2D([], [], color="k", ls="-", label="writer 1"),
        plt.Line2D([], [], color="k", ls="--", label="writer 2"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| writer | per digit | method | weight | writer accuracy | abstained | flagged 1s | "
        "MNIST test accuracy | MNIST abstained | non-digits accepted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        w, m = r["writer_scores"], r["mnist_scores"]
        weight = "" if r.get("weight") is None else f"{r['weight']:g}"
        lines.append(
            f"| {r['writer']} | {r['examples_per_digit']} | {r['method']} | {weight} | "
            f"{w['accuracy']:.1%} | {w['abstained']:.1%} | {r['ones_accuracy']:.0%} | "
            f"{m['accuracy']:.2%} | {m['abstained']:.2%} | {r['nondigits_accepted']:.1%} |"
        )
    return "\n".join(lines)


def main_json(result: dict) -> str:
    return json.dumps(result, indent=1)

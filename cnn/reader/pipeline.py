"""``python -m cnn posterior``: fit the last-layer posterior and the abstain gate's scores on
MNIST's 55,000 training images (the outlier-exposure head also on generated non-digit proxies),
choose T on the 5,000 validation images and calibrate the gate on them drawn like the app's
canvas, and write the reader's ONNX graph (checked against PyTorch and laplace-torch).

No evaluation drawing (cnn.reader.nondigits' non-digit sets, cnn.reader.heldout) is seen here:
the abstain threshold abstains on ``abstain_rate`` of the drawn validation digits.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from cnn.data import load_mnist
from cnn.files import atomic_write, sha256_of
from cnn.reader.configs import PosteriorConfig  # defined in configs.py (light, for --help)
from cnn.reader.gate import (
    COMBINERS,
    SCORE_ORDER,
    OutlierExposure,
    Residual,
    TiedMahalanobis,
    Trunk,
    abstain_threshold,
    loo_p_values,
    oe_inputs,
    trunk_features,
)
from cnn.reader.graph import OUTPUT_NAMES, ReaderGraph
from cnn.reader.posterior import (
    ClassGaussians,
    diag_variances,
    fit_last_layer_laplace,
    fit_temperature,
    head_model,
)
from cnn.splits import train_validation_indices

PARITY_TOLERANCE = 1e-5
METHOD = (
    "last-layer Laplace (diag GGN, laplace-torch) + probit; abstain gate: conformal p-values "
    "against drawn validation digits of feature scores (class-conditional density, ViM residual, "
    "conv2 tied Mahalanobis, outlier-exposure digit head), combined"
)


@dataclass
class FeatureData:
    """fc1 features and labels of the training part, the validation part and the test set, and
    the training part's conv2 features (float16 in the cache: they only fit the gate)."""

    train: np.ndarray
    train_labels: np.ndarray
    val: np.ndarray
    val_labels: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    train_conv2: np.ndarray

    def train_trunk(self) -> Trunk:
        return Trunk(self.train_conv2, self.train)


def mnist_features(model, model_path: Path, cache: Path | None, limit: int | None = None):
    """Trunk features of all MNIST images (cached per model file: ~1 min on two quiet cores)."""
    tag = sha256_of(model_path)[:16]
    path = None if cache is None else Path(cache) / f"trunk-{tag}-{limit or 'all'}.npz"
    train, test = load_mnist("train"), load_mnist("test")
    train_idx, val_idx = train_validation_indices()
    if limit is not None:
        train_idx = train_idx[:limit]
    stored = None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                stored = {k: z[k] for k in ("train", "val", "test", "train_conv2")}
        except (OSError, ValueError, KeyError):
            stored = None  # torn or foreign: compute again and replace it
    if stored is None:
        scale = np.float32(1 / 255)
        trunk = trunk_features(model, train.images[train_idx] * scale)
        stored = {
            "train": trunk.fc1,
            "train_conv2": trunk.conv2.astype(np.float16),
            "val": trunk_features(model, train.images[val_idx] * scale).fc1,
            "test": trunk_features(model, test.images * scale).fc1,
        }
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: np.savez(f, **stored))
    return FeatureData(
        stored["train"],
        train.labels[train_idx].astype(np.int64),
        stored["val"],
        train.labels[val_idx].astype(np.int64),
        stored["test"],
        test.labels.astype(np.int64),
        stored["train_conv2"].astype(np.float32),
    )


def feature_loader(feats: np.ndarray, labels: np.ndarray, batch: int = 1000):
    data = torch.utils.data.TensorDataset(torch.from_numpy(feats), torch.from_numpy(labels))
    return torch.utils.data.DataLoader(data, batch_size=batch)


def density_dims(feats: np.ndarray, share: float) -> int:
    """The fewest principal directions holding ``share`` of the features' variance."""
    values = np.sort(np.linalg.eigvalsh(np.cov(np.asarray(feats, np.float64), rowvar=False)))
    cumulative = np.cumsum(values[::-1]) / values.sum()
    return int(np.searchsorted(cumulative, share) + 1)


def drawn_pixels(part: str, count: int, seed: int) -> np.ndarray:
    """MNIST ``part`` ("train" or "validation") digits drawn like the canvas (the app's
    preprocessing)."""
    from cnn.reader.nondigits import drawn_digits

    train = load_mnist("train")
    train_idx, val_idx = train_validation_indices()
    idx = val_idx if part == "validation" else train_idx
    return drawn_digits(train.images[idx], train.labels[idx], count, seed).pixels


def proxy_pixels(count: int, seed: int) -> tuple[np.ndarray, str]:
    """Generated non-digit proxies for outlier exposure, and where they came from.

    ``cnn.reader.proxies`` (generators and fonts no evaluation set uses) when present; else a
    stand-in made from MNIST training digits alone: patch-shuffled digits, two digits overlaid,
    straight polylines."""
    try:
        from cnn.reader.proxies import proxy_pixels as generated
    except ImportError:
        return standin_proxies(count, seed), "stand-in: patch-shuffled/overlaid digits, polylines"
    return np.asarray(generated(count, seed), np.float32), "cnn.reader.proxies"


def standin_proxies(count: int, seed: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    from serving.preprocess import to_mnist

    train = load_mnist("train")
    images = train.images[train_validation_indices()[0]]
    rng = np.random.default_rng([seed, 0x0E])
    out: list[np.ndarray] = []
    while len(out) < count:
        kind = int(rng.integers(3))
        if kind == 0:  # a digit's 7x7 patches shuffled: strokes without a digit's layout
            patches = images[rng.integers(len(images))].reshape(4, 7, 4, 7).transpose(0, 2, 1, 3)
            patches = patches.reshape(16, 7, 7)[rng.permutation(16)].reshape(4, 4, 7, 7)
            drawing = patches.transpose(0, 2, 1, 3).reshape(28, 28)
        elif kind == 1:  # two digits on top of each other
            a, b = images[rng.integers(len(images), size=2)]
            drawing = np.maximum(a, np.roll(b, tuple(rng.integers(-4, 5, 2)), axis=(0, 1)))
        else:  # a straight polyline of 1-4 segments
            image = Image.new("L", (280, 280))
            points = [tuple(p) for p in rng.uniform(30, 250, (int(rng.integers(2, 6)), 2))]
            ImageDraw.Draw(image).line(points, fill=255, width=int(rng.integers(10, 30)))
            drawing = np.asarray(image)
        x = to_mnist(np.ascontiguousarray(drawing))
        if x is not None:
            out.append(x)
    return np.stack(out).astype(np.float32)


def fit_posterior(
    model, model_path: Path, config: PosteriorConfig, progress=print, drawn=None
) -> dict:
    """Everything the served graph needs, fitted on MNIST train, chosen on MNIST validation.

    ``drawn``: pixels of the drawn validation digits (the calibration set) if already drawn."""
    import time

    start = time.perf_counter()

    def say(text: str) -> None:
        progress(f"[{time.perf_counter() - start:5.0f} s] {text}")

    if config.combine not in COMBINERS:
        raise ValueError(f"combine must be one of {', '.join(COMBINERS)}, got {config.combine}")
    unknown = [name for name in config.gate if name not in SCORE_ORDER]
    if unknown or not config.gate:
        raise ValueError(f"gate scores must be among {', '.join(SCORE_ORDER)}, got {config.gate}")
    say("trunk features of MNIST (cached per model file) ...")
    data = mnist_features(model, model_path, config.cache, config.limit)
    say(f"features: {len(data.train)} train, {len(data.val)} validation, {len(data.test)} test")
    la = fit_last_layer_laplace(
        head_model(model), feature_loader(data.train, data.train_labels), config.structure
    )
    weight_var, bias_var = diag_variances(la)
    prior = float(la.prior_precision.reshape(-1)[0])
    say(f"last-layer Laplace ({config.structure}): prior precision {prior:.3g} (marglik)")
    w, b = (p.detach().double().numpy() for p in (model.fc2.weight, model.fc2.bias))
    val_logits = data.val @ w.T + b
    kappa = 1 / np.sqrt(
        1 + math.pi / 8 * ((data.val.astype(np.float64) ** 2) @ weight_var + bias_var)
    )
    temperature = fit_temperature(val_logits, data.val_labels, kappa) if config.temperature else 1.0
    say(f"predictive temperature {temperature:.3f} (validation NLL)")
    parts = fit_gate_parts(model, data, config, say)
    if drawn is None:
        say(f"drawing {config.drawn_validation} validation digits (the calibration set) ...")
        drawn = drawn_pixels("validation", config.drawn_validation, config.seed)
    fit = {
        "la": la,
        "data": data,
        "weight_var": weight_var,
        "bias_var": bias_var,
        "prior_precision": prior,
        "temperature": temperature,
        "parts": parts,
    }
    module = build_module(model, fit, config)
    calibration = calibrate(module, drawn, config.abstain_rate)
    fit.update(calibration)
    say(
        f"gate ({config.combine} of {', '.join(module.names)}): abstain above surprise "
        f"{calibration['surprise_threshold']:.2f} ({config.abstain_rate:.1%} of {len(drawn)} "
        "drawn validation digits)"
    )
    return fit


def fit_gate_parts(model, data: FeatureData, config: PosteriorConfig, say) -> dict:
    """The gate's scores, each fitted on MNIST training features (the OE head also on proxies)."""
    needed = set(config.gate) | ({"residual", "conv2"} if "oe" in config.gate else set())
    parts = {}
    if "density" in needed:
        dims = density_dims(data.train, config.density_variance)
        parts["density"] = ClassGaussians(dims=dims).fit(
            data.train, data.train_labels, data.val, data.val_labels
        )
        say(f"feature density: {dims} PCA dims, ridge {parts['density'].ridge_:g}")
    if "residual" in needed:
        parts["residual"] = Residual(config.residual_dims).fit(data.train)
        say(f"ViM residual: off the top {config.residual_dims} fc1 directions")
    if "conv2" in needed:
        parts["conv2"] = TiedMahalanobis(config.conv2_dims).fit(data.train_conv2, data.train_labels)
        say(f"conv2 tied Mahalanobis: {config.conv2_dims} PCA dims")
    if "oe" in needed:
        proxies, source = proxy_pixels(config.proxies, config.seed)
        say(f"{len(proxies)} non-digit proxies ({source}); drawing {config.drawn_train} digits")
        drawn = drawn_pixels("train", config.drawn_train, config.seed + 1)
        residual, conv2 = parts["residual"], parts["conv2"]
        digits = np.concatenate(
            [
                oe_inputs(data.train_trunk(), residual, conv2),
                oe_inputs(trunk_features(model, drawn), residual, conv2),
            ]
        )
        others = oe_inputs(trunk_features(model, proxies), residual, conv2)
        parts["oe"] = OutlierExposure(seed=config.seed).fit(digits, others)
        parts["oe_source"] = source
        say(f"outlier-exposure head: {len(digits)} digits vs {len(others)} proxies")
    return parts


def build_module(model, fit: dict, config: PosteriorConfig) -> ReaderGraph:
    """The graph module; calibrated when ``fit`` holds the calibration (else placeholders)."""
    module = ReaderGraph(
        model,
        fit["weight_var"],
        fit["bias_var"],
        fit["temperature"],
        fit["parts"],
        config.gate,
        config.combine,
    ).eval()
    if "calibration" in fit:
        module.set_calibration(
            fit["calibration"], fit["surprise_median"], fit["surprise_threshold"]
        )
    return module


@torch.inference_mode()
def module_scores(module: ReaderGraph, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's own gate scores (float32 torch, the ops ONNX runs) of these pixels."""
    from cnn.reader.gate import trunk_forward

    x = torch.from_numpy(np.asarray(pixels, np.float32).reshape(-1, 1, 28, 28))
    columns = [
        module.scores(*trunk_forward(module.cnn, x[i : i + 1000])) for i in range(0, len(x), 1000)
    ]
    return {
        name: torch.cat([c[k] for c in columns]).double().numpy()
        for k, name in enumerate(module.names)
    }


def calibrate(module: ReaderGraph, drawn: np.ndarray, rate: float) -> dict:
    """Calibration scores (sorted), median and threshold of the combined surprise: each drawn
    validation digit judged against the other n - 1 (what a new digit would get)."""
    scores = module_scores(module, drawn)
    loo = np.stack([loo_p_values(scores[name]) for name in module.names], axis=1)
    surprise = COMBINERS[module.combine](loo)
    result = {
        "calibration": {name: np.sort(v) for name, v in scores.items()},
        "calibration_scores": scores,  # unsorted: row i of every score is the same digit
        "surprise_median": float(np.median(surprise)),
        "surprise_threshold": abstain_threshold(surprise, rate),
        "calibration_size": len(drawn),
    }
    module.set_calibration(
        result["calibration"], result["surprise_median"], result["surprise_threshold"]
    )
    return result


def onnx_bytes(module: torch.nn.Module) -> bytes:
    """torch.onnx (dynamo) export with the three named outputs and a dynamic batch axis."""
    from cnn.export import INPUT_NAME

    batch = torch.export.Dim("batch", min=1, max=65536)
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(
            module,
            (torch.rand(2, 1, 28, 28),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={"x": {0: batch}},
            dynamo=True,
            external_data=False,
            verbose=False,
            opset_version=18,
        )
        return path.read_bytes()


def laplace_reference(la, feats: np.ndarray, temperature: float) -> np.ndarray:
    """laplace-torch's own probit predictive on these features (tempered by T like the graph)."""
    x = torch.from_numpy(np.asarray(feats, np.float32))
    if temperature == 1.0:
        return la(x, pred_type="glm", link_approx="probit").detach().numpy()
    f_mu, f_var = la._glm_predictive_distribution(x)
    kappa = 1 / torch.sqrt(1 + math.pi / 8 * f_var.diagonal(dim1=1, dim2=2))
    return torch.softmax(kappa * f_mu / temperature, dim=-1).detach().numpy()


def metadata(model_path: Path, fit: dict, config: PosteriorConfig, extra: dict) -> dict[str, str]:
    source = onnx.load(str(model_path), load_external_data=False)
    props = {p.key: p.value for p in source.metadata_props}
    parts = fit["parts"]
    settings = {"combine": config.combine, "scores": list(fit["calibration"])}
    if "density" in parts:
        density = parts["density"]
        settings["density"] = {"pca_dims": density.projection_.shape[1], "ridge": density.ridge_}
    if "residual" in parts:
        settings["residual"] = {"dims": config.residual_dims, "features": "fc1"}
    if "conv2" in parts:
        settings["conv2"] = {
            "pca_dims": config.conv2_dims,
            "covariance": "tied",
            "to": "nearest class",
        }
    if "oe" in parts:
        settings["oe"] = {
            "hidden": parts["oe"].hidden,
            "members": parts["oe"].members,
            "epochs": parts["oe"].epochs,
            "proxies": config.proxies,
            "proxy_source": parts["oe_source"],
            "drawn_train_digits": config.drawn_train,
        }
    props.update(
        {
            "posterior_method": METHOD,
            "posterior_structure": config.structure,
            "prior_precision": f"{fit['prior_precision']:.6g}",
            "prior_precision_choice": "marginal likelihood (laplace-torch, marglik)",
            "temperature": f"{fit['temperature']:.6g}",
            "abstain_threshold": "1.0",
            "abstain_rate": f"{config.abstain_rate:g}",
            "uncertainty": (
                "max(0, (S - median) / (threshold - median)), S the combined surprise of the "
                "gate's conformal p-values p = (1 + #{calibration >= s}) / (n + 1) against drawn "
                "validation digits: 0 = at least as typical as their median, 1 = abstain"
            ),
            "gate": json.dumps(settings),
            "gate_calibration": json.dumps(
                {
                    "set": f"{fit['calibration_size']} MNIST validation digits drawn like the "
                    f"canvas (seed {config.seed})",
                    "surprise_median": fit["surprise_median"],
                    "surprise_threshold": fit["surprise_threshold"],
                    "rate": config.abstain_rate,
                }
            ),
            "map_sha256": sha256_of(model_path),
            "posterior_config": json.dumps({k: str(v) for k, v in asdict(config).items()}),
            **extra,
        }
    )
    return props


def run_posterior(config: PosteriorConfig = PosteriorConfig(), progress=print) -> dict[str, Any]:
    """Fit, export, check parity (ONNX vs PyTorch vs laplace-torch), write ``config.out``."""
    import onnxruntime as ort

    from cnn.export import INPUT_NAME, model_from_onnx

    if not Path(config.model).is_file():
        raise FileNotFoundError(
            f"model file {config.model} does not exist: export the trained CNN first "
            "(`python -m cnn export`) or pass --model"
        )
    if config.structure != "diag":
        raise ValueError("only --structure diag can be served (kron is measured by `uncertainty`)")
    model = model_from_onnx(config.model)
    fit = fit_posterior(model, Path(config.model), config, progress)
    module = build_module(model, fit, config)
    progress("exporting the graph and checking it against PyTorch and laplace-torch ...")
    proto = onnx.load_from_string(onnx_bytes(module))

    test = load_mnist("test")
    x = test.images[: config.check_images, None].astype(np.float32) / 255
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, probabilities, uncertainty = session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
    with torch.no_grad():
        expected = [t.numpy() for t in module(torch.from_numpy(x))]
    reference = laplace_reference(fit["la"], fit["data"].test[: len(x)], fit["temperature"])
    diffs = {
        "logits_vs_torch": float(np.abs(logits - expected[0]).max()),
        "probabilities_vs_laplace_torch": float(np.abs(probabilities - reference).max()),
        "uncertainty_vs_torch": float(np.abs(uncertainty - expected[2]).max()),
    }
    if diffs["probabilities_vs_laplace_torch"] > PARITY_TOLERANCE:
        raise ValueError(
            f"ONNX probabilities differ from laplace-torch's predictive by "
            f"{diffs['probabilities_vs_laplace_torch']:.2e} > {PARITY_TOLERANCE}"
        )
    all_test = test.images[:, None].astype(np.float32) / 255
    outputs = [
        session.run(list(OUTPUT_NAMES), {INPUT_NAME: all_test[i : i + 1000]})
        for i in range(0, 10_000, 1000)
    ]
    probs = np.concatenate([o[1] for o in outputs])
    unc = np.concatenate([o[2] for o in outputs])
    accuracy = float((probs.argmax(1) == test.labels).mean())
    extra = {
        "test_accuracy": f"{accuracy:.4f}",
        "test_abstained": f"{float((unc >= 1).mean()):.4f}",
        "parity": json.dumps(diffs),
    }
    onnx.helper.set_model_props(proto, metadata(Path(config.model), fit, config, extra))
    proto.doc_string = (
        "The course's MNIST digit CNN with a last-layer Laplace posterior and an abstain gate "
        "(bayes-cnn-lab); initializer names: cnn/reader/graph.py"
    )
    onnx.checker.check_model(proto, full_check=True)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(proto.SerializeToString()))
    return {
        "out": str(out),
        "prior_precision": fit["prior_precision"],
        "temperature": fit["temperature"],
        "test_accuracy": accuracy,
        "test_abstained": float((unc >= 1).mean()),
        "parity": diffs,
        "gate": list(module.names),
    }

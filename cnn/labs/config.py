"""The labs' settings and names, without torch or matplotlib.

The CLI's ``--help`` shows these defaults without importing torch; the labs, their plot modules
and the app pages all import the names from here (no lab module imports its plot module's
constants back, nor the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# cnn/labs/block.py: the activations and initializers (the functions behind these names).
ACTIVATION_NAMES: tuple[str, ...] = ("sigmoid", "tanh", "relu")
INITIALIZER_NAMES: tuple[str, ...] = (
    "normal-0.01", "normal-0.1", "normal-1.0", "glorot-normal", "glorot-uniform",
    "he-normal", "he-uniform",
)  # fmt: skip
INIT_TITLES = {  # as in the course's figure titles
    "normal-0.01": "Normal σ = 0.01",
    "normal-0.1": "Normal σ = 0.10",
    "normal-1.0": "Normal σ = 1.00",
    "glorot-normal": "Glorot Normal",
    "glorot-uniform": "Glorot Uniform",
    "he-normal": "He Normal",
    "he-uniform": "He Uniform",
}
# cnn/labs/init.py: what is measured per layer, and how the figures call it.
PROFILE = ("activation_std", "signal_std", "weight_grad_std", "grad_to_weight")
PROFILE_EXTRA = ("per_sample_grad_to_weight", "cancellation")
PROFILE_TITLES = {
    "activation_std": "activations (std)",
    "signal_std": "per-sample signal dL/dh (std)",
    "weight_grad_std": "weight gradients dL/dW (std)",
    "grad_to_weight": "gradient / weight (std ratio)",
    "per_sample_grad_to_weight": "per-sample gradient / weight (std ratio)",
    "cancellation": "batch / per-sample gradient (std ratio)",
}
# cnn/labs/optim_race.py: the racers (FACTORIES holds their update rules) and test functions.
RACERS: tuple[str, ...] = (
    "sgd", "momentum", "nesterov", "adagrad", "adadelta", "rprop", "adam", "adam-bc",
)  # fmt: skip
# Display names, short enough for a table column (pages, plot legends).
NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "Adagrad",
         "adadelta": "Adadelta", "rprop": "RProp", "adam": "Adam (course's)",
         "adam-bc": "Adam (bias-corrected)"}  # fmt: skip
FUNCTION_NAMES: tuple[str, ...] = ("rosenbrock", "beale")
# log-spaced 10^-3.5 .. 10^0.5 in half decades, two significant digits
LR_GRID: tuple[float, ...] = tuple(float(f"{10 ** (e / 2):.2g}") for e in range(-7, 2))
# The shipped model: its weights rebuild the PyTorch net, so no training run is needed.
DEFAULT_CHECKPOINT = str(Path(__file__).resolve().parents[2] / "models" / "mnist_cnn.onnx")


@dataclass(frozen=True)
class InitLabConfig:
    activation: str = "all"  # one of ACTIVATION_NAMES or "all"
    init: str = "all"  # one of INITIALIZER_NAMES or "all"
    seed: int = 0
    seeds: int = 10  # seeds behind the medians and bands
    train_epochs: int = 5  # the "does it train?" run; 0 skips it
    train_seeds: int = 1


@dataclass(frozen=True)
class OptimLabConfig:
    ball_steps: int = 100  # full-batch steps per run on the ball data
    function_steps: int = 2000
    functions: tuple[str, ...] = FUNCTION_NAMES
    optimizers: tuple[str, ...] = RACERS
    seed: int = 0  # the ball data's seed and the first weight seed
    seeds: int = 3  # weight seeds per learning rate
    lrs: tuple[float, ...] = LR_GRID
    rprop_epochs: int = 30  # the RProp full- vs mini-batch demonstration; 0 skips it


@dataclass(frozen=True)
class ConvLabConfig:
    checkpoint: str = DEFAULT_CHECKPOINT
    digit_index: int = 0  # index into the MNIST test set


@dataclass(frozen=True)
class RegLabConfig:
    noise_features: int = 10  # pure-noise inputs appended to the 10 real ones
    l1: float = 3e-3
    l2: float = 3e-3
    steps: int = 800  # full-batch Adam steps, lr decaying linearly to 0
    lr: float = 0.01
    units: int = 32
    hidden: int = 2
    near_zero: float = 0.01  # |w| below this counts as "near zero"
    keep_fraction: float = 0.1  # a feature is kept while its weight norm is >= 10% of the largest
    dropout_p: float = 0.5
    seed: int = 0
    path_steps: int = 300  # steps per run of the lambda path (reg_path); 0 skips it
    path_seeds: int = 3

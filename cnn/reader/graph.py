"""The served reader as one torch module, exported to ONNX: posterior predictive + abstain gate.

Outputs (the contract of README's "The Bayesian reader"; ``serving/session.py`` checks them):
``logits`` (the MAP logits), ``probabilities`` (the probit posterior predictive of the last-layer
Laplace, tempered by T) and ``uncertainty`` (>= 0; 0 = a drawn digit at least as typical as the
median calibration digit, >= 1 = abstain). The gate's scores read the trunk's conv2 and fc1
features; each becomes a conformal p-value by comparison with its sorted calibration scores
(drawn validation digits): a [batch, n] comparison and a sum.

Initializer names are stable (``serving adapt`` rewrites some of them; see cnn.reader.gate):

=============================  ===============  ================================================
initializer                    shape            holds
=============================  ===============  ================================================
``cnn.fc2.weight/.bias``       [10,1024], [10]  the last layer's MAP weights (the posterior mean)
``posterior_weight_var``       [1024, 10]       posterior variance of fc2.weight, transposed
``posterior_bias_var``         [10]             posterior variance of fc2.bias
``posterior_temperature``      []               T of the predictive softmax(kappa logits / T)
``density_projection``         [1024, d]        PCA directions of the class-conditional Gaussians
``density_whiten``             [d, 10 d]        per-class whitening / sqrt 2, side by side
``density_offsets``            [10 d]           folded feature mean and class means
``density_log_norm``           [10]             log prior - log det / 2 - d log(2 pi) / 2
``gate_residual_mean/_basis``  [1024], [1024,k] ViM residual: mean and top-k directions
``gate_conv2_transform``       [3136, d]        conv2 PCA + tied whitening, one matrix
``gate_conv2_offset/centres``  [d], [10, d]     whitened mean, whitened class means
``gate_oe_*``                  ...              the outlier-exposure head (mean, inv_scale,
                                                hidden_weight/bias, out_weight/bias)
``gate_calibration``           [K, n]           sorted calibration scores (drawn val digits),
                                                one row per gate score in metadata's order
``gate_surprise_median``       []               median combined surprise of calibration digits
``gate_surprise_threshold``    []               the abstain line (uncertainty 1)
=============================  ===============  ================================================
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cnn.model import DigitCNN
from cnn.reader.gate import SCORE_ORDER, trunk_forward

OUTPUT_NAMES = ("logits", "probabilities", "uncertainty")


def _f32(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


class ReaderGraph(nn.Module):
    """DigitCNN + its last-layer posterior predictive + the p-value gate; see the module doc."""

    def __init__(
        self,
        model: DigitCNN,
        weight_var: np.ndarray,
        bias_var: np.ndarray,
        temperature: float,
        parts: dict,
        names: tuple[str, ...] = SCORE_ORDER,
        combine: str = "min-p",
    ) -> None:
        """``parts``: the fitted gate parts (``density``: ClassGaussians, ``residual``: Residual,
        ``conv2``: TiedMahalanobis, ``oe``: OutlierExposure, which reads the other two's
        coordinates); ``names``: the scores whose p-values enter the gate. The calibration and
        the threshold are set afterwards by ``set_calibration``."""
        super().__init__()
        self.cnn = model.eval()
        self.register_buffer("posterior_weight_var", _f32(weight_var))
        self.register_buffer("posterior_bias_var", _f32(bias_var))
        self.register_buffer("posterior_temperature", _f32(temperature))
        self.names = [name for name in SCORE_ORDER if name in names]
        self.combine = combine
        needed = set(self.names) | ({"residual", "conv2"} if "oe" in self.names else set())
        if "density" in needed:
            self._add_density(parts["density"])
        if "residual" in needed:
            self.register_buffer("gate_residual_mean", _f32(parts["residual"].mean_))
            self.register_buffer("gate_residual_basis", _f32(parts["residual"].basis_))
        if "conv2" in needed:
            m = parts["conv2"]
            self.register_buffer("gate_conv2_transform", _f32(m.transform_))
            self.register_buffer("gate_conv2_offset", _f32(m.offset_))
            self.register_buffer("gate_conv2_centres", _f32(m.centres_))
        if "oe" in needed:
            head = parts["oe"].head_
            self.register_buffer("gate_oe_mean", head.mean.detach().clone())
            self.register_buffer("gate_oe_inv_scale", head.inv_scale.detach().clone())
            self.register_buffer("gate_oe_hidden_weight", head.hidden.weight.detach().T.clone())
            self.register_buffer("gate_oe_hidden_bias", head.hidden.bias.detach().clone())
            self.register_buffer("gate_oe_out_weight", head.out.weight.detach()[0].clone())
            self.register_buffer("gate_oe_out_bias", head.out.bias.detach()[0].clone())
        # One row of calibration scores per gate score (placeholders until set_calibration).
        self.register_buffer("gate_calibration", torch.zeros(len(self.names), 1))
        self.register_buffer("gate_surprise_median", _f32(0.0))
        self.register_buffer("gate_surprise_threshold", _f32(1.0))

    def _add_density(self, density) -> None:
        # Half the Mahalanobis distance to every class at once: with z = (phi P) W_all / sqrt 2
        # minus the folded offsets (feature mean, class means), sum of z^2 per class.
        classes, d, _ = density.whiten_.shape
        whiten_all = np.concatenate(list(density.whiten_), axis=1) / math.sqrt(2)  # [d, C*d]
        means = np.concatenate(
            [density.class_means_[c] @ density.whiten_[c] for c in range(classes)]
        )
        offsets = density.mean_ @ density.projection_ @ whiten_all + means / math.sqrt(2)
        self.register_buffer("density_projection", _f32(density.projection_))
        self.register_buffer("density_whiten", _f32(whiten_all))
        self.register_buffer("density_offsets", _f32(offsets))
        self.register_buffer("density_log_norm", _f32(density.log_norm_))
        self.density_shape = (classes, d)

    def set_calibration(self, calibration: dict[str, np.ndarray], median: float, threshold: float):
        self.gate_calibration = _f32(np.stack([np.sort(calibration[k]) for k in self.names]))
        self.gate_surprise_median = _f32(median)
        self.gate_surprise_threshold = _f32(threshold)
        return self

    # --- pieces -----------------------------------------------------------------------------

    def scores(self, conv2: torch.Tensor, phi: torch.Tensor) -> list[torch.Tensor]:
        """Each gate score, [B] each, in ``self.names`` order (higher = more unusual)."""
        shared: dict[str, torch.Tensor] = {}
        if hasattr(self, "gate_residual_basis"):
            c = phi - self.gate_residual_mean
            shared["coords"] = c @ self.gate_residual_basis
            r = c - shared["coords"] @ self.gate_residual_basis.T
            shared["residual"] = torch.sqrt((r * r).sum(1))
        if hasattr(self, "gate_conv2_transform"):
            shared["z"] = z = conv2 @ self.gate_conv2_transform - self.gate_conv2_offset
        if "conv2" in self.names:  # the distance only when it is a score (z may feed OE only)
            centres = self.gate_conv2_centres
            d2 = (z * z).sum(1, keepdim=True) - 2 * z @ centres.T + (centres * centres).sum(1)
            shared["conv2"] = d2.min(1).values
        if "density" in self.names:
            shared["density"] = self._density(phi)
        if "oe" in self.names:
            shared["oe"] = self._oe(shared)
        return [shared[name] for name in self.names]

    def _density(self, phi: torch.Tensor) -> torch.Tensor:
        classes, d = self.density_shape
        z = (phi @ self.density_projection) @ self.density_whiten - self.density_offsets
        half_maha = (z * z).reshape(-1, classes, d).sum(-1)
        return -torch.logsumexp(self.density_log_norm - half_maha, dim=1)

    def _oe(self, shared: dict[str, torch.Tensor]) -> torch.Tensor:
        """The digit head on (fc1 coordinates, whitened conv2, log(1 + residual)): oe_inputs."""
        x = torch.cat([shared["coords"], shared["z"], torch.log1p(shared["residual"])[:, None]], 1)
        x = (x - self.gate_oe_mean) * self.gate_oe_inv_scale
        hidden = torch.relu(x @ self.gate_oe_hidden_weight + self.gate_oe_hidden_bias)
        return hidden @ self.gate_oe_out_weight + self.gate_oe_out_bias

    def p_values(self, scores: list[torch.Tensor]) -> torch.Tensor:
        """[B, K] conformal p-values (1 + #{calibration >= s}) / (n + 1): one [B, K, n]
        comparison and a sum (few ops: at batch 1 each op costs more than its arithmetic)."""
        s = torch.stack(scores, dim=1)  # [B, K]
        above = (self.gate_calibration[None] >= s[:, :, None]).to(torch.float32).sum(2)
        return (1.0 + above) / (self.gate_calibration.shape[1] + 1.0)

    def surprise(self, p: torch.Tensor) -> torch.Tensor:
        if self.combine == "min-p":
            return -torch.log(p.min(1).values)
        return -2.0 * torch.log(p).sum(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        conv2, phi = trunk_forward(self.cnn, x)
        logits = self.cnn.fc2(phi)
        variance = (phi * phi) @ self.posterior_weight_var + self.posterior_bias_var
        t2 = self.posterior_temperature * self.posterior_temperature
        scale = torch.rsqrt((1.0 + (math.pi / 8) * variance) * t2)  # kappa / T
        probabilities = torch.softmax(scale * logits, dim=1)
        s = self.surprise(self.p_values(self.scores(conv2, phi)))
        median = self.gate_surprise_median
        uncertainty = torch.relu((s - median) / (self.gate_surprise_threshold - median))
        return logits, probabilities, uncertainty

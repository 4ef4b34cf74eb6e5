"""The evidence figure keeps every degree in view (the worst lie hundreds of nats down)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from bayes.plots import evidence_figure  # noqa: E402


def test_every_degree_of_the_evidence_figure_is_inside_its_axes():
    degrees = list(range(11))
    log_evidence = [-572, -558, -393, -257, -230, -100, -102, -104, -106, -107, -109]
    loo = [-580, -590, -420, -270, -240, -110, -111, -112, -113, -112, -115]
    fig = evidence_figure(degrees, log_evidence, loo, 5, [50, 40, 20, 10, 5, 0, 1, 1, 2, 1, 3], [5])
    shown = (np.array(log_evidence) - max(log_evidence), np.array(loo) - max(loo))
    for ax, values in zip(fig.axes, shown, strict=True):
        low, high = ax.get_ylim()
        assert low <= values.min() and values.max() <= high, (ax.get_title(), low, high)
        assert ax.get_yscale() == "symlog"

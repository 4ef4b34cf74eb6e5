"""`cnn train` prints this machine's own estimate after its first steps."""

from __future__ import annotations

import re
import time

from cnn.train import _print_estimate


def test_the_estimate_is_this_machines_rate_and_the_time_left(capsys):
    t0 = time.perf_counter() - 2.0  # 21 steps of 128 images took 2 s: ~1,344 images/s
    _print_estimate(21, 21 + 5_000, 128, t0)
    err = capsys.readouterr().err
    rate, minutes = re.search(
        r"([\d,]+) images/s on this machine so far: .* about (\d+) minutes", err
    ).groups()
    assert 1_200 <= int(rate.replace(",", "")) <= 1_344  # the clock ran on a little since t0
    assert 7 <= int(minutes) <= 8  # 5,000 steps x 128 images at that rate
    _print_estimate(21, 21 + 100, 128, time.perf_counter() - 2.0)
    assert re.search(r"about \d+ seconds more", capsys.readouterr().err)

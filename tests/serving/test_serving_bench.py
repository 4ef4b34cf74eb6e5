"""The benchmark runs all three engines on the same inputs and reports consistent ratios.

No timing is asserted here (timings belong to `python -m serving bench`, not to tests).
"""

from __future__ import annotations

import numpy as np
import pytest

from serving.bench import BenchConfig, format_table, onnx_runner, run_benchmark, torch_runner
from serving.session import DEFAULT_MODEL, INT8_MODEL


def test_engines_compute_the_same_function(mnist_test):
    # Weights differ between a fresh DigitCNN and the export, so compare ONNX fp32 with INT8
    # and check the eager runner's output shape.
    x = mnist_test.images[:16, None] / np.float32(255)
    fp32, int8 = onnx_runner(DEFAULT_MODEL, 1)(x), onnx_runner(INT8_MODEL, 1)(x)
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 15 / 16
    assert torch_runner(None, 1)(x).shape == (16, 10)


def test_benchmark_report():
    config = BenchConfig(
        latency_runs=5, throughput_runs=2, throughput_batch=8, warmup=1, settle_s=0.01
    )
    result = run_benchmark(config)
    engines = result["engines"]
    assert list(engines) == [
        "pytorch_eager",
        "onnxruntime_fp32",
        "onnxruntime_int8",
        "onnxruntime_fp32_map",  # the default fp32 graph is the Bayesian one: its MAP beside it
    ]
    for r in engines.values():
        assert 0 < r["batch1_p50_ms"] <= r["batch1_p99_ms"] and r["throughput_img_s"] > 0
    ratios = result["ratios"]
    assert ratios["int8_vs_fp32_throughput"] == pytest.approx(
        engines["onnxruntime_int8"]["throughput_img_s"]
        / engines["onnxruntime_fp32"]["throughput_img_s"]
    )
    assert ratios["fp32_vs_torch_batch1_p50"] == pytest.approx(
        engines["pytorch_eager"]["batch1_p50_ms"] / engines["onnxruntime_fp32"]["batch1_p50_ms"]
    )
    assert ratios["fp32_vs_map_batch1_p50_cost"] == pytest.approx(
        engines["onnxruntime_fp32"]["batch1_p50_ms"]
        / engines["onnxruntime_fp32_map"]["batch1_p50_ms"]
    )
    table = format_table(result)
    assert table.count("\n| ") == 5 and "int8_vs_fp32_throughput" in table
    assert result["machine"]["threads"] == "all"

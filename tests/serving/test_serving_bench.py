"""The benchmark runs every engine on the same inputs and reports consistent ratios.

No timing is asserted here (timings belong to `python -m serving bench` and
`python -m cnn bench-engines`, not to tests). The PyTorch engine lives in cnn/engine_bench.py:
serving never imports cnn.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnn.engine_bench import run_engine_benchmark, torch_runner
from serving.bench import BenchConfig, format_table, onnx_runner, run_benchmark
from serving.session import DEFAULT_MODEL, INT8_MODEL, MAP_MODEL


def test_engines_compute_the_same_function(mnist_test, tmp_path):
    """The eager runner on a checkpoint holding the shipped MAP model's weights returns the
    same logits, value by value, as ONNX Runtime on that file; INT8 the same digits."""
    from cnn.checkpoint import save_checkpoint
    from cnn.export import model_from_onnx

    checkpoint = tmp_path / "checkpoint.pt"
    config = {"epochs": 1, "seed": 0, "batch_size": 64, "lr": 1e-3, "dropout": 0.5}
    state = {k: v.clone() for k, v in model_from_onnx(MAP_MODEL).state_dict().items()}
    save_checkpoint(
        checkpoint,
        {"config": {**config, "augment": False, "command": "test"}, "epoch": 1, "history": [],
         "model": state},
    )  # fmt: skip
    x = mnist_test.images[:16, None] / np.float32(255)
    eager, onnx_map = torch_runner(checkpoint, 1)(x), onnx_runner(MAP_MODEL, 1)(x)
    assert eager.shape == onnx_map.shape == (16, 10)
    np.testing.assert_allclose(eager, onnx_map, rtol=1e-4, atol=1e-4)
    assert (eager.argmax(1) == mnist_test.labels[:16]).mean() >= 15 / 16  # trained weights
    fp32, int8 = onnx_runner(DEFAULT_MODEL, 1)(x), onnx_runner(INT8_MODEL, 1)(x)
    assert (fp32.argmax(1) == int8.argmax(1)).mean() >= 15 / 16
    assert torch_runner(None, 1)(x).shape == (16, 10)  # no checkpoint: a fresh DigitCNN


def test_benchmark_report():
    config = BenchConfig(
        latency_runs=5, throughput_runs=2, throughput_batch=8, warmup=1, settle_s=0.01
    )
    result = run_engine_benchmark(config)
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


def test_serving_alone_times_onnx_runtime_without_torch():
    """`python -m serving bench`: ONNX Runtime's engines only, ratios that need no PyTorch."""
    config = BenchConfig(
        latency_runs=3, throughput_runs=1, throughput_batch=4, warmup=1, rounds=1, settle_s=0
    )
    result = run_benchmark(config)
    assert list(result["engines"]) == [
        "onnxruntime_fp32",
        "onnxruntime_int8",
        "onnxruntime_fp32_map",
    ]
    assert set(result["ratios"]) == {
        "int8_vs_fp32_batch1_p50",
        "int8_vs_fp32_throughput",
        "fp32_vs_map_batch1_p50_cost",
    }
    table = format_table(result)
    assert "what the Bayesian graph costs per drawing over the plain (MAP) network" in table

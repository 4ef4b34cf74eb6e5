"""python -m serving loadtest: loopback only, bounded, and a real run (embedded vs bare)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from serving.loadtest import (
    LoadConfig,
    check_loopback,
    format_table,
    request_body,
    stage_costs,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:80", "http://127.0.0.2"]
)
def test_loopback_urls_are_accepted(url):
    check_loopback(url)


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.1:8000", "http://0.0.0.0:8000", "ftp://127.0.0.1"]
)
def test_other_hosts_are_refused(url):
    with pytest.raises(ValueError, match="loopback|http://"):
        LoadConfig(url=url)


def test_cli_refuses_a_remote_url_in_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "serving", "loadtest", "--url", "http://example.com:8000"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "loopback" in run.stderr
    assert run.stderr.count("\n") == 1


def test_bodies_are_the_example_digit():
    png, kind = request_body(LoadConfig(body="png"))
    assert kind == "image/png" and png.startswith(b"\x89PNG")
    pixels, kind = request_body(LoadConfig(body="pixels"))
    assert kind == "application/json" and len(json.loads(pixels)["pixels"]) == 28


@pytest.mark.slow
def test_spawned_comparison_embedded_vs_bare():
    run = subprocess.run(
        [
            sys.executable, "-m", "serving", "loadtest",
            "--spawn", "--engine embedded", "--spawn", "--engine bare",
            "--concurrency", "1,8", "--requests", "40", "--rounds", "2", "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["rounds"] == 2
    assert [r["server"] for r in result["runs"]] == ["--engine embedded", "--engine bare"]
    assert [r["engine"] for r in result["runs"]] == ["embedded", "bare"]
    for server in result["runs"]:
        assert [lv["concurrency"] for lv in server["levels"]] == [1, 8]
        for level in server["levels"]:
            assert level["ok"] == 40 and level["errors"] == 0
            assert 0 < level["p50_ms"] <= level["p95_ms"] <= level["p99_ms"]
        assert server["rss_before"] > 0 and server["rss_after"] > 0
    table = format_table(result)
    assert table.count("\n| --engine") == 4 and "1.00x" in table and "| vs first server |" in table
    # one server: the ratio is to its first level (how it scales), not to itself
    one = format_table({"runs": result["runs"][:1]})
    assert "| vs 1 client |" in one
    rows = [line.split("|") for line in one.splitlines() if line.startswith("| --engine")]
    levels = result["runs"][0]["levels"]
    assert rows[1][5].strip() == f"{levels[1]['throughput'] / levels[0]['throughput']:.2f}x"


def test_stage_costs_name_every_stage():
    costs = stage_costs(LoadConfig(), repeats=5)  # the CLI's --stages uses 300 per stage
    assert {"decode PNG", "preprocess (to_mnist)", "model, batch 1"} <= set(costs)
    assert all(ms > 0 for ms in costs.values())  # timings themselves go to BENCHMARKS.md

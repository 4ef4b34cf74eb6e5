"""How long POST /read-number takes beside POST /predict, on the embedded server, one client.

One run, side by side: the server (`python -m serving serve --engine embedded`, one ONNX Runtime
thread per request, as shipped) is started on a free loopback port, and one client sends, in
turns, a 4-digit drawing to /read-number, the same drawing to /predict, and a one-digit drawing
to /predict. Turns, not blocks: a busy machine slows all three alike. Medians of the client's
wall time per request (loopback HTTP included), and their ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx

from serving.loadtest import spawn_server
from serving.number_bench_config import EXAMPLES, NumberBenchConfig  # noqa: F401 (re-exported)


def run_bench(config: NumberBenchConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Median and p90 milliseconds per route, ratios against /predict, and what was read."""
    number, digit = config.number_image.read_bytes(), config.digit_image.read_bytes()
    cases = {
        "read-number, 4-digit drawing": ("/read-number", number),
        "predict, same drawing": ("/predict", number),
        "predict, 1-digit drawing": ("/predict", digit),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with spawn_server(list(config.server_args), progress) as url, httpx.Client() as client:
        read = client.post(f"{url}/read-number", content=number, headers=_png()).json()
        for k in range(config.warmup + config.requests):
            for name, (route, body) in cases.items():
                start = time.perf_counter()
                response = client.post(f"{url}{route}", content=body, headers=_png())
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                if k >= config.warmup:
                    times[name].append(elapsed)
    base = statistics.median(times["predict, 1-digit drawing"])
    return {
        "routes": {
            name: {
                "median_ms": 1e3 * statistics.median(t),
                "p90_ms": 1e3 * statistics.quantiles(t, n=10)[-1],
                "vs_predict_1_digit": statistics.median(t) / base,
            }
            for name, t in times.items()
        },
        "number_read": read.get("number"),
        "server_seconds_read_number": read.get("seconds"),
        "requests": config.requests,
    }


def _png() -> dict[str, str]:
    return {"content-type": "image/png"}


def format_table(result: dict) -> str:
    lines = [
        "| route | median ms | p90 ms | x /predict (1 digit) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in result["routes"].items():
        lines.append(
            f"| {name} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['vs_predict_1_digit']:.2f} |"
        )
    return "\n".join(lines)

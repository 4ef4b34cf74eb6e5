"""Load-test a digit server on this machine: throughput, latency percentiles, errors, memory.

Bounded on purpose: loopback URLs only, a fixed number of requests per concurrency level and a
time limit per level, so it can never become a flood against someone else's server. Also the
benchmark's baseline, ``bare_app``: FastAPI + ONNX Runtime with nothing else, to measure what
serving.http_app's checks and records cost.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import httpx
import numpy as np
from fastapi import FastAPI, HTTPException, Request

from serving.loadtest_config import EXAMPLE_IMAGE, LoadConfig, check_loopback  # noqa: F401
from serving.session import ROOT

START_TIMEOUT_S = 180.0  # a local Ray takes tens of seconds on 2 busy cores


def request_body(config: LoadConfig) -> tuple[bytes, str]:
    """The bytes sent each time and their content type."""
    from serving.images import read_image
    from serving.preprocess import to_mnist

    if config.body == "png":
        return config.image.read_bytes(), "image/png"
    pixels = to_mnist(read_image(config.image))
    if pixels is None:
        raise ValueError(f"{config.image}: no digit found to send as pixels; pick another image")
    return json.dumps({"pixels": np.round(pixels, 4).tolist()}).encode(), "application/json"


def run_loadtest(config: LoadConfig, progress: Callable[[str], None] | None = None) -> dict:
    """All concurrency levels against one server, with its memory before and after."""
    return _public(asyncio.run(_run_levels(config, progress)))


def _public(run: dict) -> dict:
    """Drops the raw samples kept for merging rounds."""
    levels = [{k: v for k, v in level.items() if k != "_raw"} for level in run["levels"]]
    return {**run, "levels": levels}


async def _run_levels(config: LoadConfig, progress: Callable[[str], None] | None) -> dict:
    body, kind = request_body(config)
    base = config.url.rstrip("/")
    # aiohttp, not httpx, as the load generator: on 2 shared cores the client's own CPU shows
    # up in the server's tail (8 clients, same server: p99 71-74 ms with httpx.AsyncClient,
    # 42-45 ms with aiohttp, which spends about a third less CPU per request).
    connector = aiohttp.TCPConnector(limit=max(config.concurrency))
    timeout = aiohttp.ClientTimeout(total=config.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        before = await _server_info(client, base)
        levels = []
        for n in config.concurrency:
            if progress:
                progress(f"{base}: {config.requests} requests, {n} concurrent ({config.body})")
            levels.append(await _level(client, base, body, kind, n, config))
        after = await _server_info(client, base)
    return {
        "url": base,
        "body": config.body,
        "engine": before.get("engine"),
        "config": {**asdict(config), "image": str(config.image)},
        "rss_before": before.get("process_rss_bytes"),
        "rss_after": after.get("process_rss_bytes"),
        # Ray Serve replicas report how full their batches were (None for other engines).
        "mean_batch_size": after.get("mean_batch_size"),
        "levels": levels,
    }


async def _server_info(client: aiohttp.ClientSession, base: str) -> dict:
    try:
        async with client.get(f"{base}/model") as response:
            return await response.json() if response.status == 200 else {}
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return {}


async def _level(
    client: aiohttp.ClientSession, base: str, body: bytes, kind: str, n: int, config: LoadConfig
) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    remaining = config.requests
    deadline = time.perf_counter() + config.max_seconds
    headers = {"content-type": kind}

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            try:
                async with client.post(f"{base}/predict", data=body, headers=headers) as response:
                    text = await response.read()
                    ok = response.status == 200
                    reason = f"HTTP {response.status}: {text[:200].decode(errors='replace')}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors.append(reason)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    return _summary(n, [latencies], [errors], [time.perf_counter() - start], remaining > 0)


def _summary(
    n: int,
    latencies: list[list[float]],
    errors: list[list[str]],
    seconds: list[float],
    stopped: bool,
) -> dict:
    """One level's numbers; the lists hold one entry per round (merged when interleaved)."""
    all_latencies = [x for part in latencies for x in part]
    all_errors = [x for part in errors for x in part]
    ms = np.asarray(all_latencies) * 1e3
    pct = np.percentile(ms, [50, 95, 99]) if len(ms) else [float("nan")] * 3
    elapsed = sum(seconds)
    return {
        "concurrency": n,
        "requests": len(all_latencies) + len(all_errors),
        "ok": len(all_latencies),
        "errors": len(all_errors),
        "first_error": all_errors[0] if all_errors else None,
        "seconds": elapsed,
        "throughput": len(all_latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(pct[0]),
        "p95_ms": float(pct[1]),
        "p99_ms": float(pct[2]),
        "stopped_by_time_limit": stopped,
        "_raw": (latencies, errors, seconds),
    }


def run_spawned(
    config: LoadConfig,
    serve_args: list[str],
    rounds: int = 1,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Start every server (free loopback ports), then load them in turns, ``rounds`` times.

    Interleaved on purpose: on a shared machine a busy minute slows every server alike, so the
    ratios between them hold even when the absolute numbers drift. Each round sends
    requests / rounds requests per level; the rounds are merged per server and level.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    share = LoadConfig(**{**asdict(config), "requests": max(1, config.requests // rounds)})
    with ExitStack() as servers:
        urls = [servers.enter_context(spawn_server(shlex.split(a), progress)) for a in serve_args]
        parts: list[list[dict]] = [[] for _ in urls]
        for _ in range(rounds):
            for url, runs in zip(urls, parts, strict=True):
                config_for = LoadConfig(**{**asdict(share), "url": url})
                runs.append(asyncio.run(_run_levels(config_for, progress)))
    merged = [_merge(spec, runs) for spec, runs in zip(serve_args, parts, strict=True)]
    return {"runs": merged, "rounds": rounds, "machine": f"{os.cpu_count()} cores, {sys.platform}"}


def _merge(spec: str, runs: list[dict]) -> dict:
    levels = []
    for i, level in enumerate(runs[0]["levels"]):
        raws = [run["levels"][i]["_raw"] for run in runs]
        stopped = any(run["levels"][i]["stopped_by_time_limit"] for run in runs)
        latencies, errors, seconds = ([x for raw in raws for x in raw[k]] for k in range(3))
        levels.append(_summary(level["concurrency"], latencies, errors, seconds, stopped))
    last = {"rss_after": runs[-1]["rss_after"], "mean_batch_size": runs[-1]["mean_batch_size"]}
    merged = {**runs[0], **last, "server": spec, "levels": levels}
    return _public(merged)


@contextmanager
def spawn_server(args: list[str], progress: Callable[[str], None] | None = None) -> Iterator[str]:
    """`python -m serving serve ARGS --port FREE` as a child process; yields its URL, stops it."""
    port = free_port()
    command = [sys.executable, "-m", "serving", "serve", *args, "--port", str(port)]
    if progress:
        progress(f"starting: {shlex.join(command[1:])}")
    # Its banner stays off our stdout (which may be --json); its errors still reach stderr.
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, START_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Poll GET /healthz until 200; RuntimeError if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before ready")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(process)
    raise RuntimeError(f"server at {url} not ready after {timeout_s:.0f} s")


def stop_server(process: subprocess.Popen | None, timeout_s: float = 60.0) -> None:
    """Ctrl-C (SIGINT) for a clean shutdown, then SIGKILL to the whole group if it hangs."""
    import signal

    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def format_table(result: dict) -> str:
    """A Markdown table: one row per server and concurrency. Throughput ratios: against the
    first server at the same concurrency when several servers are compared, else against the
    first concurrency level (how the one server scales; a ratio to itself would read 1.00x)."""
    runs = result["runs"]
    first = {lv["concurrency"]: lv["throughput"] for lv in runs[0]["levels"]}
    ratio = "vs first server"
    if len(runs) == 1:
        level = runs[0]["levels"][0]
        first = dict.fromkeys(first, level["throughput"])
        ratio = f"vs {level['concurrency']} client{'s' if level['concurrency'] != 1 else ''}"
    lines = [
        f"| server | body | clients | req/s | {ratio} | p50 ms | p95 ms | p99 ms | errors | "
        "RSS before -> after MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        memory = _memory(run["rss_before"], run["rss_after"])
        for lv in run["levels"]:
            base = first.get(lv["concurrency"]) or float("nan")
            lines.append(
                f"| {run.get('server', run['url'])} | {run['body']} | {lv['concurrency']} | "
                f"{lv['throughput']:.0f} | {lv['throughput'] / base:.2f}x | {lv['p50_ms']:.1f} | "
                f"{lv['p95_ms']:.1f} | {lv['p99_ms']:.1f} | {lv['errors']}/{lv['requests']} | "
                f"{memory} |"
            )
    errors = [lv["first_error"] for run in runs for lv in run["levels"] if lv["first_error"]]
    if errors:
        lines.append(f"\nfirst error: {errors[0]}")
    return "\n".join(lines)


def _memory(before: int | None, after: int | None) -> str:
    if not before or not after:
        return "n/a"
    return f"{before / 2**20:.0f} -> {after / 2**20:.0f} ({100 * (after / before - 1):+.1f}%)"


def stage_costs(config: LoadConfig, repeats: int = 300) -> dict[str, float]:
    """Milliseconds per request of each server-side stage, in this process (where time goes)."""
    from serving.http_app import pixels_array
    from serving.images import read_image
    from serving.predictor import Predictor, predict_pixels
    from serving.preprocess import to_mnist
    from serving.records import prediction_record

    pixels_body, _ = request_body(LoadConfig(body="pixels", image=config.image))
    png = config.image.read_bytes()
    predictor = Predictor(intra_op_threads=1, spinning=False)
    pixels = pixels_array(json.loads(pixels_body)["pixels"], batch=False)
    image = read_image(io.BytesIO(png), name="png")
    result = predict_pixels([pixels], predictor)[0]
    stages = {
        "parse + check JSON pixels": lambda: pixels_array(json.loads(pixels_body)["pixels"], False),
        "decode PNG": lambda: read_image(io.BytesIO(png), name="png"),
        "preprocess (to_mnist)": lambda: to_mnist(image),
        "model, batch 1": lambda: predict_pixels([pixels], predictor),
        "record (JSON dict)": lambda: prediction_record("x", result),
    }
    costs = {name: _ms(stage, repeats) for name, stage in stages.items()}
    for size in (8, 64):
        batch = [pixels] * size
        costs[f"model, batch {size}, per image"] = (
            _ms(lambda b=batch: predict_pixels(b, predictor), repeats // 4) / size
        )
    return costs


def _ms(stage: Callable[[], Any], repeats: int) -> float:
    stage()  # warm-up
    times = []
    for _ in range(max(repeats, 5)):
        start = time.perf_counter()
        stage()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def bare_app(model: Path, threads: int = 1) -> FastAPI:
    """The baseline: FastAPI + one ONNX Runtime session, JSON pixels in, digit out, no checks."""
    from serving.session import ModelError, open_session, run_session

    session = open_session(model, threads, spinning=False)
    name = session.get_inputs()[0].name
    app = FastAPI(title="bare FastAPI + ONNX Runtime (benchmark baseline)")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/model")
    def model_info() -> dict:
        from serving.http_app import process_rss_bytes

        return {"engine": "bare", "process_rss_bytes": process_rss_bytes()}

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        pixels = bare_pixels(await request.body())
        try:
            logits = await _in_thread(
                run_session, session, None, {name: pixels.reshape(1, 1, 28, 28)}, model
            )
        except ModelError as exc:
            raise HTTPException(500, str(exc)) from None
        z = logits[0][0].astype(np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        return {"digit": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}

    return app


def bare_pixels(body: bytes) -> np.ndarray:
    """JSON pixels checked as the embedded engine checks them (400/422 and one line: broken
    JSON, no "pixels", wrong shape, NaN, values outside 0..1); nothing else is read."""
    from serving.http_app import PIXELS_HINT, parse_json, pixels_array

    value = parse_json(body)
    if not isinstance(value, dict) or "pixels" not in value:
        raise HTTPException(422, f'JSON body needs a "pixels" field; {PIXELS_HINT}')
    return pixels_array(value["pixels"], batch=False)


async def _in_thread(func: Callable, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)

"""Load-test a digit server on this machine: throughput, latency percentiles, errors, memory.

Bounded on purpose: loopback URLs only, a fixed number of requests per concurrency level and a
time limit per level, so it can never become a flood against someone else's server. Also the
benchmark's baseline, ``bare_app``: FastAPI + ONNX Runtime with nothing else, to measure what
serving.http_app's checks and records cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import numpy as np
from fastapi import FastAPI, Request

from serving.session import ROOT

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
EXAMPLE_IMAGE = ROOT / "examples" / "digit_3.png"
START_TIMEOUT_S = 180.0  # a local Ray takes tens of seconds on 2 busy cores


@dataclass(frozen=True)
class LoadConfig:
    """One load test: each concurrency level sends ``requests`` requests (or stops at the limit)."""

    url: str = "http://127.0.0.1:8000"
    concurrency: tuple[int, ...] = (1, 8, 64)
    requests: int = 2000
    body: str = "pixels"  # "pixels": JSON 28x28; "png": the image file itself
    image: Path = EXAMPLE_IMAGE
    max_seconds: float = 60.0
    timeout_s: float = 30.0  # per request

    def __post_init__(self) -> None:
        check_loopback(self.url)
        if self.body not in ("pixels", "png"):
            raise ValueError(f"body must be pixels or png, got {self.body!r}")
        if self.requests < 1 or not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("requests and every concurrency level must be >= 1")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")


def check_loopback(url: str) -> None:
    """ValueError unless the URL points at this machine: the tool never loads anyone else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        raise ValueError(f"{url!r} is not an http:// URL; use e.g. http://127.0.0.1:8000")
    if parts.hostname not in LOOPBACK and not parts.hostname.startswith("127."):
        raise ValueError(
            f"{url!r} is not on this machine; the load test only targets loopback "
            "(127.0.0.1, localhost, ::1)"
        )


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
    return asyncio.run(_run_levels(config, progress))


async def _run_levels(config: LoadConfig, progress: Callable[[str], None] | None) -> dict:
    body, kind = request_body(config)
    base = config.url.rstrip("/")
    limits = httpx.Limits(max_connections=max(config.concurrency), max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=config.timeout_s, limits=limits) as client:
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
        "levels": levels,
    }


async def _server_info(client: httpx.AsyncClient, base: str) -> dict:
    try:
        response = await client.get(f"{base}/model")
        return response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


async def _level(
    client: httpx.AsyncClient, base: str, body: bytes, kind: str, n: int, config: LoadConfig
) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    remaining = config.requests
    deadline = time.perf_counter() + config.max_seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            try:
                response = await client.post(
                    f"{base}/predict", content=body, headers={"content-type": kind}
                )
                ok = response.status_code == 200
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors.append(reason)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(n)))
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1e3
    pct = np.percentile(ms, [50, 95, 99]) if len(ms) else [float("nan")] * 3
    return {
        "concurrency": n,
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "throughput": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(pct[0]),
        "p95_ms": float(pct[1]),
        "p99_ms": float(pct[2]),
        "stopped_by_time_limit": remaining > 0,
    }


def run_spawned(
    config: LoadConfig, serve_args: list[str], progress: Callable[[str], None] | None = None
) -> dict:
    """Start each server in turn (free loopback port), load it with ``config``, stop it."""
    runs = []
    for spec in serve_args:
        with spawn_server(shlex.split(spec), progress) as url:
            run = run_loadtest(LoadConfig(**{**asdict(config), "url": url}), progress)
        runs.append({"server": spec, **run})
    return {"runs": runs, "machine": f"{os.cpu_count()} cores, {sys.platform}"}


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
    """A Markdown table: one row per server and concurrency, ratios against the first server."""
    runs = result["runs"]
    first = {lv["concurrency"]: lv["throughput"] for lv in runs[0]["levels"]}
    lines = [
        "| server | body | clients | req/s | vs first | p50 ms | p95 ms | p99 ms | errors | "
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


def bare_app(model: Path, threads: int = 1) -> FastAPI:
    """The baseline: FastAPI + one ONNX Runtime session, JSON pixels in, digit out, no checks."""
    from serving.session import open_session

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
        pixels = np.asarray(json.loads(await request.body())["pixels"], np.float32)
        logits = await _in_thread(session.run, None, {name: pixels.reshape(1, 1, 28, 28)})
        z = logits[0][0].astype(np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        return {"digit": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]}

    return app


async def _in_thread(func: Callable, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(func, *args)

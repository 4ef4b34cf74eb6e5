"""Reliability benchmark: what hostile small images cost, alone and under HTTP load.

Two measurements in one run (``python -m serving loadtest --hostile 4``):

1. ``serving predict`` on each hostile image against a normal drawing: wall time and peak memory
   of the whole command (a fresh process each, the median of ``repeats``), so the difference is
   what one hostile upload costs over a drawing.
2. A server on loopback: a client sending the example drawing one request at a time, first
   alone (quiet), then beside ``clients`` clients that send the hostile images back to back;
   p50/p99 of the drawing's requests side by side, and the server's memory.

The images are the ones a hostile probe found (issue 19): a 1-pixel line on a 1024-pixel page
(3 KB), 1-bit noise (132 KB), and a 39-megapixel 16-bit PNG (~90 KB).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image, ImageDraw

from serving.session import ROOT

EXAMPLE = ROOT / "examples" / "digit_3.png"
HOSTILE_NAMES = ("line_1px_1024.png", "binary_noise_1mp.png", "gray16_39mp.png")


def write_images(folder: Path) -> dict[str, Path]:
    """The drawing (the example, and a 280x280 canvas stroke) and the three hostile images."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"drawing (examples/digit_3.png)": EXAMPLE}
    canvas = Image.new("L", (280, 280))
    ImageDraw.Draw(canvas).line([(140, 50), (140, 230)], fill=255, width=20)
    paths["canvas drawing 280x280"] = _save(canvas, folder / "canvas.png")
    page = Image.new("L", (1024, 1024), 255)
    ImageDraw.Draw(page).line([(100, 512), (924, 512)], fill=0, width=1)
    paths[HOSTILE_NAMES[0]] = _save(page, folder / HOSTILE_NAMES[0])
    noise = np.random.default_rng(0).random((1024, 1024)) > 0.5
    paths[HOSTILE_NAMES[1]] = _save(Image.fromarray(noise), folder / HOSTILE_NAMES[1])
    side = 6245  # 39.0 megapixels, under the 40 MP cap
    big = Image.new("I;16", (side, side), 65535)
    ImageDraw.Draw(big).line(
        [(side // 2, side // 5), (side // 2, 4 * side // 5)], fill=0, width=300
    )
    paths[HOSTILE_NAMES[2]] = _save(big, folder / HOSTILE_NAMES[2])
    return paths


def _save(image: Image.Image, path: Path) -> Path:
    if not path.exists():
        image.save(path, optimize=True)
    return path


def predict_costs(
    paths: dict[str, Path], model: Path | None, repeats: int = 3, log: Callable | None = None
) -> list[dict]:
    """Median wall time and CPU time (user + system: steadier than wall time on a busy machine)
    and the peak RSS of `python -m serving predict FILE` per image."""
    rows = []
    for name, path in paths.items():
        if log:
            log(f"serving predict {path.name} x{repeats}")
        runs = [_timed_predict(path, model) for _ in range(repeats)]
        rows.append(
            {
                "image": name,
                "bytes": path.stat().st_size,
                "seconds": float(np.median([r[0] for r in runs])),
                "cpu_seconds": float(np.median([r[3] for r in runs])),
                "peak_mb": max(r[1] for r in runs),
                "output": runs[-1][2],
            }
        )
    return rows


def _timed_predict(path: Path, model: Path | None) -> tuple[float, float, str, float]:
    command = [sys.executable, "-m", "serving", "predict", str(path)]
    command += ["--model", str(model)] if model else []
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
    seconds = time.perf_counter() - started
    line = output.strip().splitlines()[-1] if output.strip() else ""
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, line.replace(str(path), path.name)[:100], cpu


async def _drawing_latencies(
    client: aiohttp.ClientSession, url: str, body: bytes, count: int
) -> tuple[list[float], int]:
    latencies, errors = [], 0
    for _ in range(count):
        started = time.perf_counter()
        try:
            async with client.post(
                f"{url}/predict", data=body, headers={"content-type": "image/png"}
            ) as reply:
                await reply.read()
                ok = reply.status == 200
        except (TimeoutError, aiohttp.ClientError):
            ok = False
        latencies.append(time.perf_counter() - started)
        errors += not ok
    return latencies, errors


async def _attacker(
    client: aiohttp.ClientSession, url: str, bodies: list[bytes], stop: asyncio.Event, done: list
) -> None:
    i = 0
    while not stop.is_set():
        try:
            async with client.post(
                f"{url}/predict",
                data=bodies[i % len(bodies)],
                headers={"content-type": "image/png"},
            ) as reply:
                await reply.read()
            done.append(reply.status)
        except (TimeoutError, aiohttp.ClientError):
            done.append(None)
        i += 1


async def _rss(client: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with client.get(f"{url}/model") as reply:
            return (await reply.json()).get("process_rss_bytes")
    except (TimeoutError, aiohttp.ClientError, ValueError):
        return None


async def http_under_attack(
    url: str, paths: dict[str, Path], clients: int, requests: int, timeout_s: float = 60.0
) -> dict:
    """The drawing's latency alone, then beside ``clients`` hostile clients; server memory."""
    body = EXAMPLE.read_bytes()
    hostile = [paths[name].read_bytes() for name in HOSTILE_NAMES]
    connector = aiohttp.TCPConnector(limit=clients + 2)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        await _drawing_latencies(client, url, body, 10)  # warm-up
        rss_before = await _rss(client, url)
        quiet, quiet_errors = await _drawing_latencies(client, url, body, requests)
        stop, done = asyncio.Event(), []
        attackers = [
            asyncio.create_task(_attacker(client, url, hostile[i:] + hostile[:i], stop, done))
            for i in range(clients)
        ]
        await asyncio.sleep(1.0)  # let the attack fill the server first
        loud, loud_errors = await _drawing_latencies(client, url, body, requests)
        stop.set()
        await asyncio.gather(*attackers)
        rss_after = await _rss(client, url)
    q, a = (np.percentile(np.array(x) * 1e3, [50, 99]) for x in (quiet, loud))
    return {
        "clients": clients,
        "requests": requests,
        "quiet_p50_ms": float(q[0]),
        "quiet_p99_ms": float(q[1]),
        "attack_p50_ms": float(a[0]),
        "attack_p99_ms": float(a[1]),
        "p99_ratio": float(a[1] / q[1]),
        "drawing_errors": quiet_errors + loud_errors,
        "hostile_requests": len(done),
        "hostile_answered": sum(status is not None for status in done),
        "rss_before_mb": None if rss_before is None else rss_before / 2**20,
        "rss_after_mb": None if rss_after is None else rss_after / 2**20,
    }


def run_hostile(
    url: str | None,
    clients: int,
    requests: int = 200,
    serve_args: list[str] | None = None,
    model: Path | None = None,
    repeats: int = 3,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Both measurements; with ``serve_args`` (not None) a server is started for the HTTP part
    (`python -m serving serve SERVE_ARGS` on a free loopback port), else ``url`` is loaded."""
    from serving.loadtest import check_loopback, spawn_server

    folder = Path(tempfile.gettempdir()) / "serving-hostile-images"
    paths = write_images(folder)
    costs = predict_costs(paths, model, repeats, log)
    if serve_args is not None:
        with spawn_server(serve_args, log) as spawned:
            http = asyncio.run(http_under_attack(spawned, paths, clients, requests))
    else:
        check_loopback(url or "")
        http = asyncio.run(http_under_attack(url.rstrip("/"), paths, clients, requests))
    return {"predict": costs, "http": http, "machine": f"{os.cpu_count()} cores"}


def format_report(result: dict) -> str:
    """Two Markdown tables: predict's cost per image, the drawing's latency quiet/under attack."""
    costs = result["predict"]
    wall, cpu = costs[0]["seconds"], costs[0]["cpu_seconds"]
    lines = [
        "| image | bytes | `serving predict` wall s | CPU s | CPU over the drawing s | "
        "peak MB | answer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in costs:
        lines.append(
            f"| {row['image']} | {row['bytes']:,} | "
            f"{row['seconds']:.2f} ({row['seconds'] - wall:+.2f}) | "
            f"{row['cpu_seconds']:.2f} | {row['cpu_seconds'] - cpu:+.2f} | "
            f"{row['peak_mb']:.0f} | {row['output']} |"
        )
    h = result["http"]
    memory = (
        f"{h['rss_before_mb']:.0f} -> {h['rss_after_mb']:.0f} MB"
        if h["rss_before_mb"] and h["rss_after_mb"]
        else "n/a"
    )
    lines += [
        "",
        f"| drawing requests ({h['requests']} each) | p50 ms | p99 ms |",
        "| --- | ---: | ---: |",
        f"| quiet | {h['quiet_p50_ms']:.1f} | {h['quiet_p99_ms']:.1f} |",
        f"| beside {h['clients']} hostile clients | {h['attack_p50_ms']:.1f} | "
        f"{h['attack_p99_ms']:.1f} |",
        "",
        f"p99 under attack / quiet: {h['p99_ratio']:.1f}x (target <= 10x); drawing errors "
        f"{h['drawing_errors']}; hostile requests answered {h['hostile_answered']} of "
        f"{h['hostile_requests']}; server memory {memory}; machine: {result['machine']}",
    ]
    return "\n".join(lines)

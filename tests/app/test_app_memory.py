"""The app under load, in a real browser: `streamlit run app.py` as configured, 8 sessions at once.

Four sessions upload a 10000x10000 RGBA PNG (a few hundred KB that would decode to 400 MB), while
four others draw a digit. The server's resident memory is sampled from /proc the whole time: it
must stay within 500 MB of what it used idle, every drawing must get its prediction, and every
upload must get a friendly one-line refusal, not a traceback. The peak is written to
artifacts/e2e/memory.txt.

Needs Debian's Chromium at /usr/bin/chromium (`.ci/install-system-packages.sh`).
"""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
UPLOADS, DRAWINGS = 4, 4
SIDE = 10_000
BUDGET = 500 * 2**20  # bytes above idle

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: install Debian's with .ci/install-system-packages.sh",
    ),
]


def test_streamlit_config_keeps_the_app_private_and_small():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["maxUploadSize"] == 10
    assert config["client"]["showErrorDetails"] == "none"  # `false` would mean "stacktrace"
    assert config["client"]["toolbarMode"] == "minimal"  # no Deploy button


def huge_png(path: Path, side: int = SIDE) -> None:
    """side x side transparent RGBA pixels, compressed to a few hundred KB (a decompression
    bomb in all but intent), written without ever holding the pixels."""
    row = b"\x00" + bytes(4 * side)
    deflate = zlib.compressobj(9)
    rows_per_block = 250
    idat = (
        b"".join(
            deflate.compress(row * min(rows_per_block, side - start))
            for start in range(0, side, rows_per_block)
        )
        + deflate.flush()
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))  # fmt: skip


def rss(pid: int) -> int:
    """Resident memory of the process, in bytes (from /proc: no psutil needed)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class PeakSampler:
    """Samples a process's RSS every 10 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, rss(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss(self.pid))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`streamlit run app.py` with the repository's .streamlit/config.toml (no address given:
    the config's localhost applies)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "memory-server.log"
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.fileWatcherType", "none"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"streamlit not healthy:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield url, process, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def draw_a_one(page) -> None:
    from playwright.sync_api import expect

    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_have_count(1)
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for step in range(1, 13):
        page.mouse.move(x, box["y"] + (0.2 + 0.6 * step / 12) * box["height"])
    page.mouse.up()


def test_eight_sessions_uploading_and_drawing_stay_within_500_mb(server, tmp_path, capsys):
    from playwright.sync_api import expect, sync_playwright

    url, process, log = server
    image = tmp_path / "huge.png"
    huge_png(image)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            pages = []
            for _ in range(UPLOADS + DRAWINGS):
                page = browser.new_page(viewport={"width": 1200, "height": 1100})
                page.set_default_timeout(60_000)
                page.goto(url)
                pages.append(page)
            for page in pages:  # every session loaded: the model is in memory, caches warm
                expect(page.locator("canvas.upper-canvas")).to_have_count(1)
                expect(page.locator("input[type=file]")).to_have_count(1)
            time.sleep(1.0)
            idle = rss(process.pid)
            uploaders, drawers = pages[:UPLOADS], pages[UPLOADS:]
            with PeakSampler(process.pid) as sampler:
                for page in uploaders:  # all four in flight before any is waited on
                    page.locator("input[type=file]").set_input_files(str(image))
                for page in drawers:
                    draw_a_one(page)
                for page in drawers:
                    expect(page.get_by_text("Prediction: 1", exact=True)).to_be_visible()
                for page in uploaders:
                    refusal = page.get_by_text(re.compile(r"huge\.png: image too large"))
                    expect(refusal).to_be_visible()
                    expect(page.get_by_text("Traceback")).to_have_count(0)
            pages[0].screenshot(path=str(ARTIFACTS / "memory-upload.png"), full_page=True)
        finally:
            browser.close()

    above = sampler.peak - idle
    report = (
        f"{UPLOADS} concurrent {SIDE}x{SIDE} PNG uploads ({image.stat().st_size / 1e3:.0f} KB "
        f"each) + {DRAWINGS} drawing sessions: server RSS idle {idle / 2**20:.0f} MB, peak "
        f"{sampler.peak / 2**20:.0f} MB, {above / 2**20:.0f} MB above idle (budget 500 MB)"
    )
    (ARTIFACTS / "memory.txt").write_text(report + "\n")
    with capsys.disabled():
        print(f"\n[memory] {report}")
    server_log = log.read_text()
    assert "Network URL" not in server_log  # bound to localhost only (the config's address)
    assert above <= BUDGET, report

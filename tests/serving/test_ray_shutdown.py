"""Ctrl-C stops `python -m serving serve --engine ray` cleanly, even when the shell that started
it in the background left SIGINT ignored (then Python never raises KeyboardInterrupt).

A module of its own: it starts its own local Ray after test_ray_serve.py's has stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "ray.serve", reason="Ray Serve is not installed: pip install -e '.[ray]' (CI installs it)"
)

from serving.loadtest import START_TIMEOUT_S, free_port, wait_until_ready  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _ignore_sigint() -> None:  # what `cmd &` in a non-interactive shell does to its child
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_stops_ray_serve_even_with_sigint_inherited_as_ignored():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serving", "serve", "--engine", "ray", "--port", str(port)],
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=_ignore_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, START_TIMEOUT_S)
        start = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=90)
        seconds = time.monotonic() - start
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0
    assert f"on http://127.0.0.1:{port}" in out
    assert seconds < 60, f"shutdown took {seconds:.0f} s"

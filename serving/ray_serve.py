"""The same HTTP app on Ray Serve: replicas across machines, dynamic batching of the model call.

``DigitService`` is a Serve deployment whose ingress is serving.http_app's FastAPI app, built
per replica (``__serve_build_asgi_app__``) with the replica itself as the backend. Each replica
opens its own ONNX Runtime session (threads set explicitly, spinning off, so replicas sharing a
machine do not busy-wait on each other's cores). Requests preprocess their own image, then wait
in ``@serve.batch`` so one session.run serves many requests.

``app`` is what ``serve build serving.ray_serve:app`` turns into serving/serve_config.yaml and
what ``python -m serving serve --engine ray`` runs; ``build_app`` makes variants.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from ray import serve

from serving.http_app import ServerConfig, create_app
from serving.predictor import DigitResult, Predictor, predict_pixels
from serving.preprocess import NoDigit

APP_NAME = "digits"


@dataclass(frozen=True)
class BatchConfig:
    """Ray Serve's dynamic batching (the deployment's user_config: changeable while serving)."""

    batching: bool = True
    max_batch_size: int = 64
    batch_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")


@serve.deployment(name="DigitService")
@serve.ingress()
class DigitService:
    """One replica: one ONNX Runtime session and the FastAPI app over it."""

    engine = "ray"

    def __init__(self, server: dict[str, Any] | None = None) -> None:
        server = dict(server or {})
        if "model" in server:
            server["model"] = Path(server["model"])
        self.config = ServerConfig(**server)
        self.predictor = Predictor(self.config.model, self.config.threads, spinning=False)
        self.predictor.predict(np.zeros((1, 28, 28), np.float32))  # warm-up
        self.batch = BatchConfig()
        self.batch_sizes: Counter[int] = Counter()  # how many inputs each session.run saw
        # Model runs on at most one thread per core: every thread that ever runs the model keeps
        # its own malloc arena of outputs, so asyncio's default pool (cores + 4) only costs RAM.
        self.model_threads = ThreadPoolExecutor(os.cpu_count() or 1, "digit-model")

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve calls this with the deployment's user_config (at start and on every update)."""
        self.batch = BatchConfig(**user_config)
        self.run_batched.set_max_batch_size(self.batch.max_batch_size)
        self.run_batched.set_batch_wait_timeout_s(self.batch.batch_wait_ms / 1000)
        # Warm up at the largest batch: ONNX Runtime's memory arena grows to the biggest batch
        # it has run and keeps that (measured: +20 MB at 64), so allocate it before serving
        # instead of letting it surface as growth under load. Twice: the arena extends twice.
        if self.batch.batching:
            largest = np.zeros((self.batch.max_batch_size, 28, 28), np.float32)
            for _ in range(2):
                self.predictor.predict(largest)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(backend=self)

    async def run_model(self, pixels: Sequence[np.ndarray | NoDigit | None]) -> list[DigitResult]:
        """The backend call of serving.http_app: batched across requests, or one run each."""
        if not self.batch.batching:
            return await self._run(list(pixels))
        return list(await asyncio.gather(*(self.run_batched(p) for p in pixels)))

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def run_batched(self, pixels: list[np.ndarray | NoDigit | None]) -> list[DigitResult]:
        return await self._run(pixels)

    async def _run(self, pixels: list[np.ndarray | NoDigit | None]) -> list[DigitResult]:
        self.batch_sizes[len(pixels)] += 1
        # In a thread: the replica's event loop keeps collecting the next batch meanwhile.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.model_threads, predict_pixels, pixels, self.predictor
        )

    def stats(self) -> dict[str, Any]:
        """Extra fields for GET /model: the batching in force and the batch sizes seen."""
        runs = sum(self.batch_sizes.values())
        inputs = sum(size * n for size, n in self.batch_sizes.items())
        return {
            "batching": asdict(self.batch),
            "model_runs": runs,
            "mean_batch_size": inputs / runs if runs else None,
            "max_batch_size_seen": max(self.batch_sizes, default=None),
            "replica_pid": os.getpid(),
        }


def build_app(
    server: ServerConfig | None = None,
    batch: BatchConfig | None = None,
    replicas: int | str = 1,
) -> serve.Application:
    """The Serve application; ``replicas="auto"`` autoscales between 1 and the CPU count."""
    server = server or ServerConfig()
    options = deployment_options(server, batch or BatchConfig(), replicas)
    return DigitService.options(**options).bind(_server_args(server))


def deployment_options(server: ServerConfig, batch: BatchConfig, replicas: int | str) -> dict:
    """Serve deployment options (what `serve build` writes into serving/serve_config.yaml)."""
    # A replica takes at most max_ongoing_requests requests at once; Serve's default (5) would
    # silently cap every batch at 5, so leave room for one full batch running, one filling.
    options: dict[str, Any] = {
        "max_ongoing_requests": max(2 * batch.max_batch_size, 16),
        "user_config": asdict(batch),
        "ray_actor_options": {"num_cpus": server.threads},
    }
    if replicas == "auto":
        options["autoscaling_config"] = {
            "min_replicas": 1,
            "max_replicas": max(1, os.cpu_count() or 1),
            "target_ongoing_requests": max(1, batch.max_batch_size // 2),
        }
    else:
        options["num_replicas"] = int(replicas)
    return options


def _server_args(server: ServerConfig) -> dict[str, Any]:
    """ServerConfig as init args, leaving defaults out (the config file stays machine-neutral)."""
    default = ServerConfig()
    args = {}
    for field in fields(ServerConfig):
        value = getattr(server, field.name)
        if value != getattr(default, field.name):
            args[field.name] = str(value) if isinstance(value, Path) else value
    return args


# serve build serving.ray_serve:app -o serving/serve_config.yaml; serve run serving.ray_serve:app
app = build_app()


def run(
    application: serve.Application,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    on_ready: Any = None,
) -> None:
    """Start (or join, with ``address``) Ray, serve until Ctrl-C / SIGTERM, then shut down."""
    import ray

    stop = threading.Event()
    ray.init(
        address=address,
        include_dashboard=False,
        logging_level="warning",
        log_to_driver=False,
        configure_logging=True,
    )
    # After ray.init (Ray installs its own SIGTERM handler), and for SIGINT too: a server started
    # in the background by a shell inherits SIGINT as *ignored*, and then Python never raises
    # KeyboardInterrupt. Explicit handlers stop it either way, as uvicorn's do for the embedded one.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(application, name=APP_NAME, route_prefix="/")
        if on_ready is not None:
            on_ready()
        while not stop.wait(0.5):
            pass
    finally:
        if address is None:
            serve.shutdown()  # our own local Ray: stop everything
        else:
            serve.delete(APP_NAME)  # someone's cluster: remove only this app
        ray.shutdown()

"""`python -m serving serve` and `loadtest`: the model over HTTP, and the load put on it."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from serving.cli_groups import Command
from serving.cli_groups import positive as _positive

ENGINES = ("embedded", "ray", "bare")


def _serve_options(p: argparse.ArgumentParser) -> None:
    from serving.paths import DEFAULT_MODEL, INT8_MODEL
    from serving.server_config import ServerConfig

    d = ServerConfig()
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="ONNX model file")
    group.add_argument(
        "--int8", action="store_const", dest="model", const=INT8_MODEL, help="serve the INT8 model"
    )
    p.add_argument("--engine", choices=ENGINES, default="embedded", help="what serves the app")
    p.add_argument(
        "--threads",
        type=_positive,
        default=d.threads,
        help="ONNX Runtime threads per session (per Ray replica)",
    )
    p.add_argument(
        "--max-body-mb", type=float, default=d.max_body_bytes / 2**20, help="largest request body"
    )
    p.add_argument(
        "--max-batch-items", type=_positive, default=d.max_batch_items, help="inputs per batch call"
    )
    ray = p.add_argument_group("Ray Serve (--engine ray)")
    ray.add_argument(
        "--replicas", default="1", type=_replicas, help="replicas: a number, or auto (autoscale)"
    )
    ray.add_argument(
        "--max-batch-size", type=_positive, default=64, help="most inputs per batched model run"
    )
    ray.add_argument(
        "--batch-wait-ms", type=float, default=5.0, help="how long a batch waits to fill up"
    )
    ray.add_argument(
        "--no-batching", action="store_true", help="one model run per request (no @serve.batch)"
    )
    ray.add_argument(
        "--address", default=None, help="join this Ray cluster (e.g. HEAD:6379) instead of a local"
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.http_app import ServerConfig

    if args.max_body_mb <= 0:
        raise ValueError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    config = ServerConfig(
        model=args.model,
        threads=args.threads,
        max_body_bytes=int(args.max_body_mb * 2**20),
        max_batch_items=args.max_batch_items,
    )
    url = f"http://{args.host}:{args.port}"
    ready = lambda: print(f"serving {args.model.name} on {url} (docs: {url}/docs)", flush=True)  # noqa: E731
    if args.engine == "ray":
        return _serve_ray(args, config, ready)
    import uvicorn

    if args.engine == "bare":
        from serving.loadtest import bare_app

        app = bare_app(config.model, config.threads)
    else:
        from serving.http_app import LocalBackend, create_app

        app = create_app(backend=LocalBackend(config))  # load (and fail) before listening
    ready()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _serve_ray(args: argparse.Namespace, config, ready) -> int:
    try:
        from serving import ray_serve
    except ImportError as exc:
        raise ValueError(
            f"--engine ray needs Ray Serve ({exc.name} is not installed): pip install -e '.[ray]'"
        ) from exc
    from serving.session import open_session

    open_session(config.model)  # a bad --model fails here, not inside a replica
    batch = ray_serve.BatchConfig(not args.no_batching, args.max_batch_size, args.batch_wait_ms)
    application = ray_serve.build_app(config, batch, args.replicas)
    ray_serve.run(application, args.host, args.port, args.address, on_ready=ready)
    return 0


def _loadtest_options(p: argparse.ArgumentParser) -> None:
    from serving.loadtest_config import LoadConfig

    d = LoadConfig()
    p.add_argument("--url", default=d.url, help="server to load (loopback only)")
    p.add_argument(
        "--concurrency",
        type=_int_list,
        default=",".join(map(str, d.concurrency)),
        help="comma-separated numbers of concurrent clients",
    )
    p.add_argument("--requests", type=_positive, default=d.requests, help="requests per level")
    p.add_argument(
        "--body", choices=("pixels", "png"), default=d.body, help="what each request sends"
    )
    p.add_argument("--image", type=Path, default=d.image, help="the digit image sent")
    p.add_argument(
        "--max-seconds", type=float, default=d.max_seconds, help="time limit per level (and round)"
    )
    p.add_argument(
        "--spawn",
        action="append",
        metavar="SERVE_ARGS",
        help="start `python -m serving serve SERVE_ARGS --port FREE` and load it; repeat to "
        "compare (e.g. --spawn '--engine embedded' --spawn '--engine bare'); all run at once, "
        "loaded in turns; --url is ignored",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        default=1,
        help="with --spawn: load the servers in turns this many times (a busy machine then "
        "slows all alike)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="instead: time each server-side stage in this process (no server needed)",
    )
    p.add_argument(
        "--hostile",
        type=_positive,
        default=None,
        metavar="N",
        help="instead: the reliability benchmark: `serving predict` on three hostile images "
        "(1-px line on a 1024-px page, binary noise, 39 MP 16-bit PNG) against a drawing, then "
        "the drawing's p50/p99 over --requests requests, quiet and beside N clients sending "
        "the hostile images (server: --url, or one --spawn)",
    )
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=cmd_loadtest)


def cmd_loadtest(args: argparse.Namespace) -> int:
    from serving.loadtest import LoadConfig, format_table, run_loadtest, run_spawned, stage_costs

    config = LoadConfig(
        url=args.url,
        concurrency=tuple(args.concurrency),
        requests=args.requests,
        body=args.body,
        image=args.image,
        max_seconds=args.max_seconds,
    )
    if args.stages:
        costs = stage_costs(config)
        print(json.dumps(costs, indent=2) if args.json else _stages_table(costs))
        return 0
    log = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    if args.hostile:
        return _hostile(args, log)
    if args.spawn:
        result = run_spawned(config, args.spawn, args.rounds, progress=log)
    else:
        result = {"runs": [run_loadtest(config, progress=log)]}
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    errors = sum(level["errors"] for run in result["runs"] for level in run["levels"])
    return 1 if errors else 0


def _hostile(args: argparse.Namespace, log) -> int:
    from serving.hostile import format_report, run_hostile

    if args.spawn and len(args.spawn) > 1:
        raise ValueError("--hostile loads one server: pass at most one --spawn")
    serve_args = shlex.split(args.spawn[0]) if args.spawn else None
    result = run_hostile(args.url, args.hostile, args.requests, serve_args, log=log)
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 1 if result["http"]["drawing_errors"] else 0


def _stages_table(costs: dict[str, float]) -> str:
    rows = [f"| {name} | {ms:.3f} |" for name, ms in costs.items()]
    return "\n".join(["| server-side stage (median) | ms |", "| --- | ---: |", *rows])


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a TCP port lies in 1..65535, got {value}")
    return value


def _replicas(text: str) -> int | str:
    return "auto" if text == "auto" else _positive(text)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,8,64, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1 like 1,8,64, got {text!r}")
    return values


COMMANDS = {
    "serve": Command(
        "serve the model over HTTP (embedded uvicorn, or Ray Serve)",
        "Serve POST /predict, POST /predict/batch, GET /healthz, GET /model and the "
        "OpenAPI docs at /docs. --engine embedded (default) runs uvicorn in this process; "
        "--engine ray serves the same app on Ray Serve (pip install -e '.[ray]'), starting a "
        "local Ray unless --address joins a cluster; --engine bare is the load test's baseline "
        "(FastAPI + ONNX Runtime, JSON pixels only, no checks). Ctrl-C stops it.",
        _serve_options,
    ),
    "loadtest": Command(
        "load-test a server on this machine (loopback only)",
        "Send --requests requests at each concurrency level to a server on "
        "127.0.0.1/localhost (never further), bounded by --max-seconds per level; report "
        "throughput, p50/p95/p99 latency, errors and the server's memory before/after. "
        "With --spawn it starts the servers itself (all at once, on free ports), loads them in "
        "turns and compares them in one run.",
        _loadtest_options,
    ),
}

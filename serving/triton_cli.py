"""`python -m serving export-triton`: a Triton Inference Server model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from serving.cli_groups import Command
from serving.cli_groups import positive as _positive


def _options(p: argparse.ArgumentParser) -> None:
    from serving.triton_config import TritonConfig

    d = TritonConfig()
    p.add_argument("--model", type=Path, default=d.model, help="ONNX model to export")
    p.add_argument("--out", type=Path, default=d.out, help="model repository folder")
    p.add_argument("--name", default=d.name, help="model name in the repository")
    p.add_argument(
        "--max-batch-size", type=_positive, default=d.max_batch_size, help="Triton's batch cap"
    )
    p.add_argument(
        "--queue-delay-us",
        type=int,
        default=d.queue_delay_us,
        help="how long dynamic batching waits to fill a batch (microseconds)",
    )
    p.add_argument(
        "--kind",
        choices=("KIND_GPU", "KIND_CPU", "KIND_AUTO"),
        default=d.kind,
        help="where Triton runs the model instances",
    )
    p.set_defaults(func=cmd_export_triton)


def cmd_export_triton(args: argparse.Namespace) -> int:
    from serving.triton import TritonConfig, export_triton

    config = TritonConfig(
        model=args.model,
        out=args.out,
        name=args.name,
        max_batch_size=args.max_batch_size,
        queue_delay_us=args.queue_delay_us,
        kind=args.kind,
    )
    folder = export_triton(config)
    print(f"wrote {folder / 'config.pbtxt'} and {folder / '1' / 'model.onnx'}")
    print(f"serve it with: tritonserver --model-repository {config.out}")
    return 0


COMMANDS = {
    "export-triton": Command(
        "write a Triton Inference Server model repository",
        "Write OUT/NAME/config.pbtxt (ONNX Runtime backend, dynamic batching; "
        "inputs and outputs read from the model's own signature) and OUT/NAME/1/model.onnx, "
        "the layout `tritonserver --model-repository OUT` loads.",
        _options,
    ),
}

"""Which nodes of the Bayesian ONNX graph are its posterior head (ONNX only, no torch).

INT8 quantization keeps the head in fp32: it is a few small products, and the variance and
density it computes are sums of squares that 8-bit rounding would distort far more than the
convolutions. Used by ``serving.quantize`` (``nodes_to_exclude``).
"""

from __future__ import annotations

import onnx

LOGITS = "logits"


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes downstream of the penultimate features, fc2 included; [] for a plain
    MAP export (no ``posterior_method`` in its metadata)."""
    if not any(p.key == "posterior_method" for p in model.metadata_props):
        return []
    producer = {out: node for node in model.graph.node for out in node.output}
    if LOGITS not in producer:
        return []
    features = producer[LOGITS].input[0]  # fc2's input: the 1,024 features
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    seen: dict[str, None] = {}
    frontier = [features]
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.name not in seen:
                seen[node.name] = None
                frontier.extend(node.output)
    return list(seen)

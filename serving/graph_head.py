"""Which nodes of the Bayesian ONNX graph are its posterior head (ONNX only, no torch).

INT8 quantization keeps the head in fp32: it is a few small products, and the variance and
gate scores it computes are sums of squares and comparisons with calibration scores that 8-bit
rounding would distort far more than the convolutions. The gate also reads the conv2 features
(fc1's input): the nodes that take a gate initializer (``gate_*``, see cnn/reader/graph.py)
stay fp32 too, and so does everything downstream of them. Used by ``serving.quantize``
(``nodes_to_exclude``).
"""

from __future__ import annotations

import onnx

LOGITS = "logits"
GATE_PREFIXES = ("gate_", "density_", "posterior_")  # the reader graph's own initializers


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes downstream of the penultimate features (fc2 included) or of a node that
    takes one of the reader's own initializers; [] for a plain MAP export (no
    ``posterior_method`` in its metadata)."""
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
    initializers = {i.name for i in model.graph.initializer}
    for node in model.graph.node:  # e.g. the gate's projection of the conv2 features
        if any(n in initializers and n.startswith(GATE_PREFIXES) for n in node.input):
            seen[node.name] = None
            frontier.extend(node.output)
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.name not in seen:
                seen[node.name] = None
                frontier.extend(node.output)
    return list(seen)

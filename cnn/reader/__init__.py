"""The Bayesian reader: the course's CNN as the trunk, a last-layer posterior, an abstain gate,
all baked into one ONNX graph (``python -m cnn posterior``), and the drawn digits and non-digits
it is judged on (``python -m cnn uncertainty``). ``cnn/`` keeps the course's network; ``serving/``
runs the graph this package writes and never imports it."""

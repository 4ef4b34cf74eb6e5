"""The course's experiments: weight initialization, optimizers, regularization, convolution."""

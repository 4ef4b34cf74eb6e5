"""The course's MNIST digit CNN: data, model, training, ONNX export and the course's labs."""

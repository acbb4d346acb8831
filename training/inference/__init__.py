"""Using a trained model: predicting your own photo pairs (registered first), exporting the
model as ONNX or TorchScript, and drawing store samples and predictions."""

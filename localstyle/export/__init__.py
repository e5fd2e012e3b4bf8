"""Inference-only predictor: FrozenBN folding, the traceable whole predictor, ONNX/TorchScript export, runtimes."""

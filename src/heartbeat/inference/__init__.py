"""Inference: the model folder and its record, the ONNX runtime, the operating point, R-peak detection, recordings."""

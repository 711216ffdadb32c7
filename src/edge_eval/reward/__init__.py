"""Reward models: bundle format, ONNX scorer, GGUF judge, distillation, preference model."""

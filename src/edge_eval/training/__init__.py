"""Training half of the reward models: build, distil, preference-train and checkpoint scorers.

Nothing here is needed to score: ``edge-eval score`` uses only the runtime half in
:mod:`edge_eval.reward` (bundle format, ONNX scorer, GGUF judge, encoding), and never imports this
package (``tests/reward/test_runtime_imports.py`` checks it).

- :mod:`~edge_eval.training.train`: ``bundle build`` (encoder + head, ONNX export, int8);
- :mod:`~edge_eval.training.distill`: a student distilled from a teacher scorer;
- :mod:`~edge_eval.training.preference`: a Bradley-Terry model on chosen/rejected pairs;
- :mod:`~edge_eval.training.checkpoint`: torch checkpoints ``export onnx --reward`` re-exports.
"""

"""Score assistant turns with an ONNX reward bundle through onnxruntime (CPU or CUDA).

The execution providers a session really uses are read back after it starts: asking for CUDA
where it is not available is an error, never a silent fallback to the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, MissingDependencyError, ScoringError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import BundleArtifact
from edge_eval.reward.encoding import Sequence3, TurnEncoder, batches

__all__ = ["Device", "OnnxRewardModel"]


class Device(str, Enum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - core dependency
        raise MissingDependencyError("onnxruntime", "gpu") from exc
    return onnxruntime


def start_session(
    model_path: str, device: Device | str, *, threads: int = 0
) -> tuple[Any, list[str]]:
    """An onnxruntime session on the asked device, and the providers it actually uses."""
    ort = _import_onnxruntime()
    device = Device(device)
    available = ort.get_available_providers()
    if device is Device.CUDA and "CUDAExecutionProvider" not in available:
        raise ConfigError(
            "--device cuda was asked for, but this onnxruntime has no CUDA provider",
            hint="Install edge-eval[gpu] (onnxruntime-gpu) on a machine with an NVIDIA GPU, "
            "or use --device cpu.",
        )
    want_cuda = device is Device.CUDA or (
        device is Device.AUTO and "CUDAExecutionProvider" in available
    )
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"] if want_cuda else ["CPUExecutionProvider"]
    )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model_path, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors  # noqa: BLE001
        raise ScoringError(
            f"onnxruntime could not start the reward model ({type(exc).__name__})",
            hint="Check that the bundle was made for this onnxruntime version.",
        ) from exc
    used = list(session.get_providers())
    if want_cuda and used[:1] != ["CUDAExecutionProvider"]:
        if device is Device.CUDA:
            raise ConfigError(
                "--device cuda was asked for, but onnxruntime fell back to "
                f"{', '.join(used)} (CUDA libraries missing or no GPU visible)",
                hint="Check the CUDA/cuDNN install (onnxruntime-gpu extras) or use --device cpu.",
            )
        # auto: CUDA was offered but did not start; run on CPU openly, recorded as such.
        session = ort.InferenceSession(
            model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        used = list(session.get_providers())
    return session, used


class OnnxRewardModel:
    """A reward model from an ONNX bundle. Implements :class:`~edge_eval.reward.base.RewardModel`.

    Turns are batched after sorting them by token length, so padding stays small.
    """

    def __init__(
        self,
        bundle: BundleArtifact,
        *,
        device: Device | str = Device.AUTO,
        batch_size: int = 32,
        threads: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ConfigError("batch size must be at least 1")
        self.bundle = bundle
        self.batch_size = batch_size
        self.template = bundle.template
        self.encoder = TurnEncoder(bundle.tokenizer_file, bundle.template)
        self._session, self.providers = start_session(
            str(bundle.model_file), device, threads=threads
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._prototypes: np.ndarray | None = None
        if bundle.prototypes_file is not None:
            self._prototypes = np.load(bundle.prototypes_file, allow_pickle=False)

    # -- RewardModel protocol -------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.bundle.kind

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.bundle.kind,
            "name": self.bundle.name,
            "bundle_sha256": self.bundle.sha256,
            "files": dict(self.bundle.files),
            "providers": list(self.providers),
            "batch_size": self.batch_size,
            "max_length": self.template.max_length,
        }

    def score_turns(
        self, turns: Sequence[TurnInput], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Scores on the bundle's 1-5 scale, one per turn, in the order given."""
        if not turns:
            return np.zeros(0, dtype=np.float64)
        sequences = self.encoder.encode_turns(turns)
        raw, _ = self._run(sequences, progress=progress)
        return self._calibrate(raw)

    # -- recogniser support ---------------------------------------------------------------
    @property
    def prototypes(self) -> np.ndarray | None:
        """Unit-norm cluster prototypes (rows in ``bundle.clusters`` order), if any."""
        return self._prototypes

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings of plain texts (mean-pooled over all tokens)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        sequences = self.encoder.encode_texts(texts)
        _, embeddings = self._run(sequences)
        return embeddings

    # -- internals ------------------------------------------------------------------------
    def _run(
        self, sequences: list[Sequence3], *, progress: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.zeros(len(sequences), dtype=np.float64)
        embeddings: np.ndarray | None = None
        for feeds, rows in batches(sequences, self.batch_size, self.encoder.pad):
            feeds = {k: v for k, v in feeds.items() if k in self._input_names}
            try:
                score, embedding = self._session.run(["score", "embedding"], feeds)
            except RuntimeError as exc:  # onnxruntime's Fail/InvalidArgument derive from it
                raise ScoringError(
                    f"the reward model failed on a batch ({type(exc).__name__})"
                ) from exc
            if embeddings is None:
                embeddings = np.zeros((len(sequences), embedding.shape[1]), dtype=np.float32)
            scores[rows] = score.reshape(-1)
            embeddings[rows] = embedding
            if progress is not None:
                progress(len(rows))
        assert embeddings is not None
        return scores, embeddings

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        cal = self.bundle.calibration
        if cal.get("kind") == "linear":
            values = raw * float(cal.get("slope", 1.0)) + float(cal.get("intercept", 0.0))
        elif cal.get("kind") == "isotonic":
            values = np.interp(raw, np.asarray(cal["x"], float), np.asarray(cal["y"], float))
        else:
            raise ScoringError(f"unknown calibration kind {cal.get('kind')!r} in the bundle")
        low, high = self.bundle.output_scale
        return np.clip(values, low, high).astype(np.float64)

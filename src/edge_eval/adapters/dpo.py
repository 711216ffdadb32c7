"""The DPO objective (Rafailov et al., 2023), small and tested, on summed completion log-probs.

``loss = -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))`` averaged over pairs, where
``pi_*`` / ``ref_*`` are the summed log-probabilities of the chosen / rejected completion under
the policy (base + LoRA) and the frozen reference (the base).
"""

from __future__ import annotations

from typing import Any

__all__ = ["completion_logprobs", "dpo_loss", "logprobs_from_logits"]


def dpo_loss(
    policy_chosen: Any,
    policy_rejected: Any,
    reference_chosen: Any,
    reference_rejected: Any,
    *,
    beta: float,
) -> tuple[Any, Any]:
    """Mean DPO loss and the per-pair implicit reward margins (torch tensors of shape [B])."""
    import torch.nn.functional as F

    margins = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -F.logsigmoid(beta * margins).mean(), margins


def completion_logprobs(model: Any, input_ids: Any, attention_mask: Any, labels_mask: Any) -> Any:
    """Summed log-probability of the tokens where ``labels_mask`` is 1, per row ([B]).

    ``labels_mask[b, t] = 1`` marks token ``t`` of row ``b`` as part of the completion; each is
    predicted from the logits at ``t - 1``.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return logprobs_from_logits(logits, input_ids, labels_mask)


def logprobs_from_logits(logits: Any, input_ids: Any, labels_mask: Any) -> Any:
    """Summed log-probability of the masked tokens given full-sequence ``logits`` [B, T, V]."""
    import torch.nn.functional as F

    logits = logits[:, :-1, :]
    targets = input_ids[:, 1:]
    mask = labels_mask[:, 1:].to(logits.dtype)
    # cross_entropy is log_softmax + gather fused (one [B, T, vocab] buffer instead of two)
    token_logp = -F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")
    return (token_logp * mask).sum(dim=-1)

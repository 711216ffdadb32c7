"""Turning turns into token ids: one implementation shared by training and every runtime.

The input of a turn is ``[CLS] context [SEP] response [SEP]`` (see
:class:`~edge_eval.reward.bundle.InputTemplate`); ``token_type_ids`` are 0 over the context part
and 1 over the response; the response part is what gets pooled for the score.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from edge_eval.errors import ScoringError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.bundle import InputTemplate

__all__ = ["Batch", "Sequence3", "TurnEncoder", "batches"]

#: (input ids, token type ids, pool mask) of one sequence, unpadded.
Sequence3 = tuple[list[int], list[int], list[int]]
#: (input_ids, attention_mask, token_type_ids, pool_mask) padded arrays, and the row indices.
Batch = tuple[dict[str, np.ndarray], list[int]]


class TurnEncoder:
    """Tokenizes turns (with their context) and plain texts for a reward encoder."""

    def __init__(self, tokenizer_file: Path, template: InputTemplate) -> None:
        from tokenizers import Tokenizer

        self.template = template
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.cls = self._special("[CLS]", "<s>")
        self.sep = self._special("[SEP]", "</s>")
        self.pad = self._special("[PAD]", "<pad>")
        self._prefix = {
            role: self.encode([text])[0] for role, text in template.role_prefixes.items()
        }

    def _special(self, *candidates: str) -> int:
        for token in candidates:
            token_id = self._tokenizer.token_to_id(token)
            if token_id is not None:
                return int(token_id)
        raise ScoringError(f"the bundle's tokenizer has none of the tokens {candidates}")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens."""
        return [e.ids for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def encode_turns(self, turns: Sequence[TurnInput]) -> list[Sequence3]:
        """One sequence per turn: the response cut to fit, the context cut from the left."""
        # Encode every distinct text once: a conversation's turns share their context.
        index: dict[str, int] = {}
        for turn in turns:
            for _, content in turn.context:
                index.setdefault(content, len(index))
            index.setdefault(turn.response, len(index))
        encoded = self.encode(list(index))
        t = self.template
        out: list[Sequence3] = []
        for turn in turns:
            response = encoded[index[turn.response]][: t.max_response_tokens]
            budget = t.max_length - 3 - len(response)
            context: list[int] = []
            for role, content in reversed(turn.context):  # newest first, until full
                if len(context) >= budget:
                    break
                context = self._prefix.get(role, []) + encoded[index[content]] + context
            context = context[len(context) - budget :] if budget > 0 else []
            ids = [self.cls, *context, self.sep, *response, self.sep]
            types = [0] * (len(context) + 2) + [1] * (len(response) + 1)
            out.append((ids, types, types))
        return out

    def encode_texts(self, texts: Sequence[str]) -> list[Sequence3]:
        """One single-segment sequence per text, pooled over all its tokens."""
        limit = self.template.max_length - 2
        out: list[Sequence3] = []
        for ids in self.encode(texts):
            body = ids[:limit]
            n = len(body) + 2
            out.append(([self.cls, *body, self.sep], [0] * n, [1] * n))
        return out


def batches(sequences: Sequence[Sequence3], batch_size: int, pad_id: int) -> Iterator[Batch]:
    """Padded batches of sequences sorted by length (little padding); yields rows too."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i][0]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(sequences[i][0]) for i in rows)
        ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        pool = np.zeros((len(rows), width), dtype=np.float32)
        for r, i in enumerate(rows):
            seq_ids, seq_types, seq_pool = sequences[i]
            n = len(seq_ids)
            ids[r, :n] = seq_ids
            mask[r, :n] = 1
            types[r, :n] = seq_types
            pool[r, :n] = seq_pool
        feeds: dict[str, np.ndarray] = {
            "input_ids": ids,
            "attention_mask": mask,
            "token_type_ids": types,
            "pool_mask": pool,
        }
        yield feeds, rows

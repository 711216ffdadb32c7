"""Reply labels distilled into the encoder's top layers (the first step of bundle v8).

A behaviour level (1-5) per assistant reply, given by careful readers with the project's rubric
(``datasets/ieval-reply-labels``), tracks iEval's people better than any head on the frozen
encoder does (README). The encoder's top ``layers`` layers are trained to predict those levels
(MSE on the mean level of each reply; a linear head on the bundle's own features alongside, started
from a ridge; L2 towards the pretrained weights so general knowledge stays; dropout off; seeded).
The lower layers stay frozen and run once (:class:`FrozenStates`), so training a set of layers
costs a few minutes on 2 cores and the build can afford one per cross-validation fold: figures of
a fold come from layers that never saw its people's labels.

The trained layers replace the encoder's own; the head the bundle ships is then fitted on their
features by the build's ridge recipe, so the labels shape what the encoder reads and people's
ratings still set the scale.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval.errors import ConfigError, InputError
from edge_eval.reward.base import TurnInput
from edge_eval.reward.encoding import TurnEncoder
from edge_eval.training.head import fit_weighted_ridge
from edge_eval.training.human import RatedConversations
from edge_eval.training.train import _import_torch, cached_hidden_states, response_log_lengths

__all__ = [
    "PAIR_LEVEL",
    "REPLY_LABELS_SOURCE",
    "FrozenStates",
    "LabelDistillConfig",
    "derangement",
    "reply_levels",
    "swapped_contexts",
]

#: Provenance of the reply labels (bundle.json ``training.data``).
REPLY_LABELS_SOURCE: dict[str, str] = {
    "name": "ieval-reply-labels",
    "licence": "Apache-2.0 (the project's own labels, datasets/ieval-reply-labels; they describe "
    "iEval's replies, CC BY 4.0)",
    "attribution": (
        "levels 1-5 of the project's graded-replies rubric, given to every iEval reply twice by "
        "the project's AI-assisted labelling sessions (rounds agree at Spearman 0.86); iEval: E. "
        "Svikhnushina, A. Filippova, P. Pu, SIGDIAL 2022"
    ),
    "use": "mean level of each reply as the target of the encoder's top layers (distillation), "
    "before the head is fitted",
}


#: Context pairs are made of replies labelled this level or more (specific understanding, by the
#: rubric): a reply that answers its message well should lose its score after another one.
PAIR_LEVEL = 3.5


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelDistillConfig:
    """How the top layers are trained on the reply labels.

    Attributes:
        layers: encoder layers trained, counted from the top of the cut encoder.
        epochs: passes over the labelled replies.
        lr: Adam learning rate of the layers and the head.
        l2: weight of the squared distance of the layers' weights to their pretrained values.
        head_alpha: ridge strength of the head's starting point (and its L2 while training).
        batch_size: replies per step.
        seed: seed of the shuffles and of torch.
        pair_weight: weight of the context-pair hinge (0: none). With pairs given to
            :meth:`FrozenStates.distil` (a reply after its own context, the same reply after
            another conversation's), each step adds ``pair_weight`` times the mean of
            ``max(0, pair_margin - (score(own) - score(swapped)))`` over half a batch of pairs.
        pair_margin: how much higher, on the targets' scale, a reply should score after its own
            context than after another one.
    """

    layers: int = 2
    epochs: int = 3
    lr: float = 1e-4
    l2: float = 1e-2
    head_alpha: float = 1e-4
    batch_size: int = 32
    seed: int = 0
    pair_weight: float = 0.0
    pair_margin: float = 0.5

    def __post_init__(self) -> None:
        if self.layers < 1:
            raise ConfigError("distillation trains at least one encoder layer")
        if self.epochs < 0 or self.batch_size < 1:
            raise ConfigError("distillation needs epochs >= 0 and a batch size >= 1")
        if self.lr <= 0 or self.l2 < 0 or self.head_alpha <= 0:
            raise ConfigError("distillation needs lr > 0, l2 >= 0 and head_alpha > 0")
        if self.pair_weight < 0 or self.pair_margin < 0:
            raise ConfigError("distillation needs pair_weight >= 0 and pair_margin >= 0")


def reply_levels(path: Path, rated: RatedConversations) -> np.ndarray:
    """Mean label of each of ``rated``'s turns (NaN: its conversation has no label line).

    ``path``: JSON Lines, ``{"id": ..., "labels": [{"by": ..., "levels": [1-5 per reply]}]}``;
    lines are matched to ``rated``'s conversations by id. Errors name the file, line and field,
    never an id or a level.
    """
    path = Path(path)
    source = path.name
    try:
        raw_lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InputError("cannot read the reply labels file", source=source) from exc
    turns_of = np.bincount(rated.conversation_of_turn, minlength=len(rated.ratings))
    row_of = {cid: row for row, cid in enumerate(rated.ids) if cid}
    start = np.concatenate([[0], np.cumsum(turns_of)[:-1]])
    out = np.full(len(rated.turns), np.nan)
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError("not valid JSON", source=source, line=number) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise InputError("expected an object with a string id", source=source, line=number)
        labels = obj.get("labels")
        if not isinstance(labels, list) or not labels:
            raise InputError(
                "expected a non-empty list", source=source, line=number, field="labels"
            )
        row = row_of.get(obj["id"])
        levels = []
        for k, label in enumerate(labels):
            field = f"labels[{k}].levels"
            got = label.get("levels") if isinstance(label, dict) else None
            if not isinstance(got, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5 for v in got
            ):
                raise InputError(
                    "expected a list of levels 1-5", source=source, line=number, field=field
                )
            if row is not None and len(got) != turns_of[row]:
                raise InputError(
                    "one level per assistant reply expected; the rated conversation with this "
                    "id has a different number of replies",
                    source=source,
                    line=number,
                    field=field,
                )
            levels.append(got)
        if row is not None:
            out[start[row] : start[row] + turns_of[row]] = np.mean(levels, axis=0)
    if np.isnan(out).all():
        raise ConfigError(
            "no rated conversation has a line in the reply labels file",
            hint="Labels are matched by conversation id; give the labels of the --human file.",
        )
    return out


def derangement(n: int, rng: np.random.Generator, groups: np.ndarray | None = None) -> np.ndarray:
    """A donor for every item, never itself nor (with ``groups``) an item of its own group.

    Groups are laid out one after another in a seeded order, items shuffled within them, and each
    item's donor is the one a largest group's length further along (wrapping round).
    """
    groups = np.arange(n) if groups is None else np.asarray(groups)
    names = rng.permutation(np.unique(groups))
    layout = np.concatenate([rng.permutation(np.flatnonzero(groups == g)) for g in names])
    step = int(np.bincount(np.unique(groups, return_inverse=True)[1]).max())
    if step * 2 > n:
        raise ConfigError("a group holds more than half of the items: no derangement avoids it")
    donor = np.empty(n, dtype=np.int64)
    donor[layout] = layout[(np.arange(n) + step) % n]
    return donor


def swapped_contexts(
    rated: RatedConversations, seed: int = 0
) -> tuple[list[TurnInput], np.ndarray]:
    """Every rated turn's reply placed after another person's conversation (context pairs).

    Each conversation gets a donor conversation rated by another person (:func:`derangement`
    over the people, seeded); turn k's reply follows the donor's turn k context (its last when
    the donor is shorter). Returns the swapped turns, aligned with ``rated.turns``, and each
    turn's donor conversation, so a training can keep only pairs whose donor it may see.
    """
    donor = derangement(len(rated.ratings), np.random.default_rng(seed), rated.groups)
    rows: dict[int, list[int]] = {}
    for row, c in enumerate(rated.conversation_of_turn):
        rows.setdefault(int(c), []).append(row)
    swapped: list[TurnInput | None] = [None] * len(rated.turns)
    donor_of_turn = np.zeros(len(rated.turns), dtype=np.int64)
    for c, mine in rows.items():
        theirs = rows[int(donor[c])]
        for k, row in enumerate(mine):
            donor_of_turn[row] = donor[c]
            context = rated.turns[theirs[min(k, len(theirs) - 1)]].context
            swapped[row] = TurnInput(context=context, response=rated.turns[row].response)
    return [t for t in swapped if t is not None], donor_of_turn


class FrozenStates:
    """Turns run once through the encoder's frozen lower layers; the top layers train on them.

    ``encoder``: a (cut) Hugging Face BERT-style encoder; the last ``trained`` of its layers are
    the ones :meth:`distil` trains (copies: the encoder is not changed). ``pooled``: the hidden
    states the bundle's head reads (1 = the first layer's output); each must be one the trained
    layers produce or the frozen state below them. Features are the graph's: the response
    mean-pooled at each pooled layer, unit-norm, then ``log(1 + response tokens)``.
    """

    def __init__(
        self,
        encoder: Any,
        turn_encoder: TurnEncoder,
        turns: Sequence[TurnInput],
        *,
        pooled: Sequence[int],
        trained: int,
        batch_size: int = 64,
    ) -> None:
        torch = _import_torch()
        depth = len(encoder.encoder.layer)
        self.first = depth - trained
        if not 1 <= trained <= depth or self.first < 0:
            raise ConfigError(f"cannot train {trained} layers of an encoder with {depth}")
        self.pooled = tuple(int(p) for p in pooled)
        if not self.pooled or min(self.pooled) < self.first or max(self.pooled) > depth:
            raise ConfigError(
                f"the pooled layers must lie between {self.first} and {depth} when the top "
                f"{trained} layers are trained"
            )
        self.top = [encoder.encoder.layer[i] for i in range(self.first, depth)]
        self.hidden = int(encoder.config.hidden_size)
        sequences = turn_encoder.encode_turns(turns)
        self.log_lengths = response_log_lengths(sequences)
        hidden = cached_hidden_states(
            encoder,
            sequences,
            layer=self.first,
            batch_size=batch_size,
            pad_id=turn_encoder.pad,
            dtype="float32",
        )
        self.states = [
            (h, torch.tensor(seq[2], dtype=torch.float32))
            for h, seq in zip(hidden, sequences, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.states)

    def _run(self, layers: Sequence[Any], index: np.ndarray) -> Any:
        """Features (float64 tensor, length column last) of the turns ``index``, via ``layers``."""
        torch = _import_torch()
        items = [self.states[i] for i in index]
        width = max(h.shape[0] for h, _ in items)
        hidden = torch.zeros(len(items), width, self.hidden)
        mask = torch.zeros(len(items), width)
        pool = torch.zeros(len(items), width)
        for j, (h, p) in enumerate(items):
            n = h.shape[0]
            hidden[j, :n], mask[j, :n], pool[j, :n] = h, 1.0, p
        extended = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        outs = [hidden]
        for layer in layers:
            out = layer(outs[-1], attention_mask=extended)
            outs.append(out[0] if isinstance(out, tuple) else out)
        parts = []
        for p in self.pooled:
            h = outs[p - self.first]
            summed = (h * pool[..., None]).sum(1) / pool.sum(1, keepdim=True).clamp(min=1e-6)
            parts.append(torch.nn.functional.normalize(summed, dim=-1, eps=1e-6))
        lengths = torch.from_numpy(self.log_lengths[index])[:, None]
        return torch.cat([torch.cat(parts, -1).double(), lengths], -1)

    def features(
        self,
        layers: Sequence[Any] | None = None,
        index: np.ndarray | None = None,
        *,
        batch_size: int = 64,
    ) -> np.ndarray:
        """Head features of the turns ``index`` (all by default) through ``layers`` (default:
        the pretrained ones); similar lengths are batched together."""
        torch = _import_torch()
        layers = self.top if layers is None else layers
        index = np.arange(len(self.states)) if index is None else np.asarray(index)
        out = np.zeros((len(index), len(self.pooled) * self.hidden + 1))
        order = np.argsort([self.states[i][0].shape[0] for i in index], kind="stable")
        with torch.no_grad():
            for b in range(0, len(order), batch_size):
                part = order[b : b + batch_size]
                out[part] = self._run(layers, index[part]).numpy()
        return out

    def distil(
        self,
        index: np.ndarray,
        targets: np.ndarray,
        config: LabelDistillConfig,
        pairs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Any]:
        """Copies of the top layers trained to predict ``targets`` of the turns ``index``.

        ``pairs``: rows of the same reply after its own context and after another one; with
        ``config.pair_weight`` > 0 the layers also learn to score the first above the second.
        """
        torch = _import_torch()
        if config.layers != len(self.top):
            raise ConfigError("the distillation's layer count differs from the cached split")
        index = np.asarray(index)
        targets = np.asarray(targets, dtype=np.float64)
        if len(index) == 0 or len(index) != len(targets) or not np.isfinite(targets).all():
            raise ConfigError("distillation needs one finite target per labelled turn")
        torch.manual_seed(config.seed)
        layers = [copy.deepcopy(layer).train() for layer in self.top]
        for layer in layers:
            for module in layer.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
        params = [p for layer in layers for p in layer.parameters()]
        for p in params:
            p.requires_grad_(True)
        start = [p.detach().clone() for p in params]
        coef, bias = fit_weighted_ridge(
            self.features(layers, index), targets, config.head_alpha, np.ones(len(index))
        )
        head = torch.nn.Linear(len(coef), 1).double()
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(coef)[None])
            head.bias.fill_(float(bias))
        optimiser = torch.optim.Adam([*params, *head.parameters()], lr=config.lr)
        rng = np.random.default_rng(config.seed)
        target = torch.from_numpy(targets)
        own, swapped = (np.zeros(0, int), np.zeros(0, int)) if pairs is None else pairs
        if len(own) != len(swapped):
            raise ConfigError("context pairs need as many swapped rows as own ones")
        use_pairs = config.pair_weight > 0 and len(own) > 0
        pair_rows = rng.permutation(len(own)) if use_pairs else np.zeros(0, dtype=np.int64)
        half = max(1, config.batch_size // 2)
        step = 0
        for _ in range(config.epochs):
            order = rng.permutation(len(index))
            for b in range(0, len(order), config.batch_size):
                rows = order[b : b + config.batch_size]
                predicted = head(self._run(layers, index[rows])).squeeze(-1)
                loss = ((predicted - target[rows]) ** 2).mean()
                if use_pairs:
                    take = pair_rows[np.arange(step * half, (step + 1) * half) % len(own)]
                    both = head(self._run(layers, np.r_[own[take], swapped[take]])).squeeze(-1)
                    lift = both[: len(take)] - both[len(take) :]
                    loss = loss + config.pair_weight * torch.relu(config.pair_margin - lift).mean()
                    step += 1
                loss = loss + config.l2 * sum(
                    ((p - q) ** 2).sum() for p, q in zip(params, start, strict=True)
                )
                loss = loss + config.head_alpha * (head.weight**2).sum()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        for layer in layers:
            layer.eval()
            for p in layer.parameters():
                p.requires_grad_(False)
        return layers

    def install(self, encoder: Any, layers: Sequence[Any]) -> None:
        """Put trained ``layers`` in place of ``encoder``'s top ones (the encoder these states
        came from)."""
        if len(layers) != len(self.top) or len(encoder.encoder.layer) != self.first + len(layers):
            raise ConfigError("the trained layers do not fit this encoder")
        for k, layer in enumerate(layers):
            encoder.encoder.layer[self.first + k] = layer

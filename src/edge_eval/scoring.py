"""`score`: conversations in, per-cluster empathy-gap report out, all on this machine.

Flow (DESIGN.md §2): stream conversations → validate → recognise task → score assistant turns
with the reward model → per-conversation stats → aggregate → privacy gate → report. The result
keeps per-conversation and per-turn scores in memory for local Python callers; only
:func:`write_score_outputs` decides what is written, and it writes the report and manifest only.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_eval._io import atomic_directory, sha256_file
from edge_eval.conversations import (
    DEFAULT_MAX_LINE_BYTES,
    Category,
    Conversation,
    LoadStats,
    OnError,
    iter_conversations,
    turn_inputs,
)
from edge_eval.errors import ConfigError, InputError
from edge_eval.partial import PartialHeader, ScorePartial, partial_from_table
from edge_eval.privacy.dp import DPConfig
from edge_eval.privacy.ledger import DEFAULT_BUDGET, BudgetExceededError, digest_conversation
from edge_eval.privacy.manifest import RunManifest
from edge_eval.privacy.network import NetworkGuard, network_guard, set_offline_environment
from edge_eval.privacy.settings import PrivacySettings
from edge_eval.reward.base import RewardModel, TurnInput
from edge_eval.scores import ConversationScore, ScoreTable, TaskSource
from edge_eval.tasks.profile import Profile, load_profile
from edge_eval.tasks.recogniser import PrototypeRecogniser, recogniser_text

__all__ = [
    "ScoreArtifact",
    "ScoreConfig",
    "InputRange",
    "ScoreResult",
    "check_inputs",
    "chunk_boundaries",
    "partial_header",
    "score",
    "score_conversations",
    "write_score_outputs",
]

#: Progress callback: (bytes read so far, total bytes).
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreConfig:
    """Options of a `score` run.

    Attributes:
        model: reward model spec (None = embedded default; a bundle folder; ``gguf:PATH``).
        profile: task profile TOML (None = the default profile).
        device: ``auto``, ``cpu`` or ``cuda`` (cuda without a GPU is an error).
        on_error: ``fail`` on the first bad line, or ``skip`` bad lines and count them.
        min_count: k of small-cell suppression: counts below it are withheld.
        batch_size: turns per reward-model batch.
        chunk_turns: turns gathered before a scoring pass (length-sorted within it).
        max_line_bytes: longest accepted input line.
        guard_network: refuse any outbound connection while scoring.
        epsilon: release the report with differential privacy at this ε (None: exact figures,
            protected by suppression and the ledger's overlap control only).
        delta: δ of the DP release (0: pure ε-DP with Laplace noise; > 0: Gaussian, zCDP).
        budget: the most ε any conversation may spend over all DP runs (privacy ledger).
        ledger: the privacy ledger file (None: ``$EDGE_EVAL_HOME/ledger.sqlite``).
        use_ledger: record the run in the ledger and enforce its rules (see
            :mod:`edge_eval.privacy.ledger`); required under DP.
        require_isolation: refuse to run unless this process is in an isolated network
            namespace (``score --isolate`` puts it there; see :mod:`edge_eval.privacy.isolation`).
    """

    model: str | None = None
    profile: Path | None = None
    device: str = "auto"
    on_error: OnError = OnError.FAIL
    min_count: int = 11
    batch_size: int = 32
    chunk_turns: int = 2048
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    guard_network: bool = True
    epsilon: float | None = None
    delta: float = 0.0
    budget: float = DEFAULT_BUDGET
    ledger: Path | None = None
    use_ledger: bool = True
    require_isolation: bool = False

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"unknown device {self.device!r}; use auto, cpu or cuda")
        if self.min_count < 2:
            raise ConfigError("--min-count must be at least 2")
        if self.batch_size < 1 or self.chunk_turns < 1:
            raise ConfigError("batch size and chunk size must be positive")
        object.__setattr__(self, "on_error", OnError(self.on_error))
        if not (self.budget > 0 and self.budget < float("inf")):
            raise ConfigError("--budget must be a positive number")
        if self.epsilon is not None:
            if not self.use_ledger:
                raise ConfigError(
                    "a DP run must be recorded in the privacy ledger",
                    hint="Drop the option that turns the ledger off.",
                )
            if self.epsilon > self.budget:
                raise BudgetExceededError(
                    f"ε = {self.epsilon:g} alone is more than the budget {self.budget:g}"
                )
            self.dp_config()  # checks ε and δ
        elif self.delta:
            raise ConfigError("--delta needs --epsilon")

    def dp_config(self) -> DPConfig | None:
        """The DP release settings, or None for an exact run."""
        if self.epsilon is None:
            return None
        return DPConfig(epsilon=self.epsilon, delta=self.delta)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreResult:
    """A finished run, in memory.

    Attributes:
        report: the aggregate report (the only thing that may be written).
        table: per-conversation and per-turn scores (local use only; no serialiser).
        partial: the sums the report was finalized from (what a shard of a distributed run
            returns; see :mod:`edge_eval.partial`).
        manifest: what the run used, by hash.
        skipped: lines left out with ``on_error=skip``, by category (local use only).
        recognised: how many conversations had their cluster recognised (local use only).
    """

    report: Any
    table: ScoreTable
    partial: ScorePartial
    manifest: RunManifest
    skipped: dict[str, int] = field(default_factory=dict)
    recognised: int = 0

    def conversations(self) -> Iterator[ConversationScore]:
        """Per-conversation scores, in input order."""
        t = self.table
        bounds = np.searchsorted(t.turn_conv, np.arange(t.n_conversations + 1))
        for row in range(t.n_conversations):
            lo, hi = bounds[row], bounds[row + 1]
            human = t.conv_human[row]
            yield ConversationScore(
                cluster=t.clusters[t.conv_cluster[row]],
                task_source=TaskSource.RECOGNISED if t.conv_recognised[row] else TaskSource.GIVEN,
                desired=float(t.conv_desired[row]),
                turn_scores=tuple(float(v) for v in t.turn_score[lo:hi]),
                human_perceived=None if np.isnan(human) else float(human),
                human_turns=tuple(float(v) for v in t.turn_human[lo:hi]),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreArtifact:
    """The files a run wrote, and their SHA-256."""

    out_dir: Path
    files: dict[str, str]


class _Accumulator:
    """Growing columns of the score table, in compact arrays (memory ~ 40 bytes per turn)."""

    def __init__(self) -> None:
        self.conv_cluster = array("i")
        self.conv_desired = array("d")
        self.conv_perceived = array("d")
        self.conv_recognised = array("b")
        self.conv_human = array("d")
        self.turn_conv = array("q")
        self.turn_index = array("i")
        self.turn_score = array("d")
        self.turn_human = array("d")

    def table(self, clusters: tuple[str, ...]) -> ScoreTable:
        return ScoreTable(
            clusters=clusters,
            conv_cluster=np.frombuffer(self.conv_cluster, dtype=np.int32).copy(),
            conv_desired=np.frombuffer(self.conv_desired, dtype=np.float64).copy(),
            conv_perceived=np.frombuffer(self.conv_perceived, dtype=np.float64).copy(),
            conv_recognised=np.frombuffer(self.conv_recognised, dtype=np.int8).astype(bool),
            turn_conv=np.frombuffer(self.turn_conv, dtype=np.int64).copy(),
            turn_index=np.frombuffer(self.turn_index, dtype=np.int32).copy(),
            turn_score=np.frombuffer(self.turn_score, dtype=np.float64).copy(),
            conv_human=np.frombuffer(self.conv_human, dtype=np.float64).copy(),
            turn_human=np.frombuffer(self.turn_human, dtype=np.float64).copy(),
        )


@dataclass(slots=True)
class _Pending:
    conversation: Conversation
    cluster: int | None  # None: to be recognised
    turns: list[TurnInput]


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRange:
    """Whole lines of an input file: the bytes [start, stop), starting at line ``first_line``.

    A whole file is ``InputRange(path=p)``. A shard of a distributed run starts and stops where
    a single-process run would flush a chunk (see :func:`chunk_boundaries`), so every scoring
    batch, and hence every score, is the same as in one process.
    """

    path: Path
    start: int = 0
    stop: int | None = None
    first_line: int = 1

    @property
    def size(self) -> int:
        end = self.path.stat().st_size if self.stop is None else self.stop
        return max(0, end - self.start)


def _accepted(
    rng: InputRange,
    profile: Profile,
    config: ScoreConfig,
    stats: LoadStats,
    skipped: Counter[str],
) -> Iterator[_Pending]:
    """The conversations of a range that will be scored, with their cluster if given."""
    clusters = profile.names
    for conv in iter_conversations(
        rng.path,
        on_error=config.on_error,
        stats=stats,
        max_line_bytes=config.max_line_bytes,
        start=rng.start,
        stop=rng.stop,
        first_line=rng.first_line,
    ):
        cluster: int | None = None
        if conv.task is not None:
            name = profile.resolve_task(conv.task)
            if name is None:
                error = InputError(
                    "the task is neither a cluster nor an alias of the profile "
                    f"(clusters: {', '.join(clusters)})",
                    source=conv.source,
                    line=conv.line,
                    field="task",
                    category=Category.UNKNOWN_TASK.value,
                    hint="Use a cluster name or alias, drop `task` to have it recognised, "
                    "or pass --on-error skip.",
                )
                if config.on_error is OnError.FAIL:
                    raise error
                skipped[error.category] += 1
                continue
            cluster = clusters.index(name)
        yield _Pending(conversation=conv, cluster=cluster, turns=turn_inputs(conv))


def chunk_boundaries(path: Path, profile: Profile, config: ScoreConfig) -> list[InputRange]:
    """The chunks a single-process run scores a file in, as byte ranges (reads the file once).

    Validates the whole file as :func:`score_conversations` would (same errors, same order),
    so a distributed run fails where a local one fails, before any worker starts.
    """
    stats = LoadStats()
    ranges: list[InputRange] = []
    start, first_line, pending_turns = 0, 1, 0
    for item in _accepted(InputRange(path=path), profile, config, stats, Counter()):
        pending_turns += len(item.turns)
        if pending_turns >= config.chunk_turns:
            ranges.append(
                InputRange(path=path, start=start, stop=stats.bytes_read, first_line=first_line)
            )
            start, first_line, pending_turns = stats.bytes_read, stats.lines + 1, 0
    end = path.stat().st_size
    if start < end:
        ranges.append(InputRange(path=path, start=start, stop=end, first_line=first_line))
    return ranges


def score_conversations(
    inputs: Sequence[Path | InputRange],
    model: RewardModel,
    profile: Profile,
    config: ScoreConfig,
    *,
    progress: Progress | None = None,
    digests: list[bytes] | None = None,
) -> tuple[ScoreTable, dict[str, int], int]:
    """Stream every input through the model; returns the table, skip counts, recognised count.

    ``digests``, when given, receives each scored conversation's content digest, in table row
    order (for the privacy ledger; kept in memory only).
    """
    clusters = profile.names
    acc = _Accumulator()
    skipped: Counter[str] = Counter()
    recogniser: PrototypeRecogniser | None = None
    recognised = 0
    ranges = [p if isinstance(p, InputRange) else InputRange(path=p) for p in inputs]
    total = sum(r.size for r in ranges)
    done_before = 0

    def flush(pending: list[_Pending]) -> None:
        nonlocal recogniser, recognised
        unknown = [p for p in pending if p.cluster is None]
        if unknown:
            recogniser = recogniser or _recogniser(model, clusters)
            texts = [recogniser_text(p.conversation) for p in unknown]
            embed = model.embed_texts  # type: ignore[attr-defined]
            for p, index in zip(unknown, recogniser.predict(embed(texts)), strict=True):
                p.cluster = int(index)
            recognised += len(unknown)
        flat = [t for p in pending for t in p.turns]
        scores = model.score_turns(flat)
        if not np.all(np.isfinite(scores)):
            bad = int(np.sum(~np.isfinite(scores)))
            raise ConfigError(
                f"the reward model could not score {bad} turn(s)",
                hint="Use a reward model that scores every turn, or check its context size.",
            )
        k = 0
        for p in pending:
            assert p.cluster is not None
            row = len(acc.conv_cluster)
            n = len(p.turns)
            turn_scores = scores[k : k + n]
            k += n
            conv = p.conversation
            cluster = clusters[p.cluster]
            desired = conv.desired_empathy
            if desired is None:
                desired = profile.cluster(cluster).desired_empathy
            acc.conv_cluster.append(p.cluster)
            if digests is not None:
                digests.append(digest_conversation(conv))
            acc.conv_desired.append(desired)
            acc.conv_perceived.append(float(np.mean(turn_scores)))
            acc.conv_recognised.append(1 if p.conversation.task is None else 0)
            acc.conv_human.append(
                np.nan if conv.perceived_empathy is None else conv.perceived_empathy
            )
            for i, (value, message) in enumerate(
                zip(turn_scores, conv.assistant_turns, strict=True), start=1
            ):
                acc.turn_conv.append(row)
                acc.turn_index.append(i)
                acc.turn_score.append(float(value))
                acc.turn_human.append(np.nan if message.empathy is None else message.empathy)

    for rng in ranges:
        stats = LoadStats()
        pending: list[_Pending] = []
        pending_turns = 0
        for item in _accepted(rng, profile, config, stats, skipped):
            pending.append(item)
            pending_turns += len(item.turns)
            if pending_turns >= config.chunk_turns:
                flush(pending)
                pending, pending_turns = [], 0
                if progress is not None:
                    progress(done_before + stats.bytes_read - rng.start, total)
        if pending:
            flush(pending)
        skipped.update(stats.skipped)
        done_before += rng.size
        if progress is not None:
            progress(done_before, total)
    return acc.table(clusters), dict(skipped), recognised


def _recogniser(model: RewardModel, clusters: tuple[str, ...]) -> PrototypeRecogniser:
    prototypes = getattr(model, "prototypes", None)
    bundle = getattr(model, "bundle", None)
    if prototypes is None or bundle is None or not hasattr(model, "embed_texts"):
        raise ConfigError(
            "some conversations have no `task`, and this reward model has no task recogniser",
            hint="Give every conversation a `task`, or use an ONNX bundle with prototypes.",
        )
    return PrototypeRecogniser(clusters=bundle.clusters, prototypes=prototypes).restrict(clusters)


def score(
    inputs: Path | str | Sequence[Path | str],
    config: ScoreConfig = ScoreConfig(),
    *,
    baseline: Path | str | None = None,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score conversations locally and aggregate them into a privacy-gated report.

    Args:
        inputs: one JSONL file or several (their conversations are pooled).
        config: run options.
        baseline: a previous run's report.json to compare against (gap reduction, score factor).
        progress: called with (bytes read, total bytes) as the inputs are consumed.
    """
    from edge_eval.report import finalize_report, load_report
    from edge_eval.reward import load_reward_model

    set_offline_environment()
    if config.require_isolation:
        from edge_eval.privacy.isolation import IsolationUnavailableError, network_isolated

        if not network_isolated():
            raise IsolationUnavailableError(
                "isolation was required but this process can see a network interface"
            )
    paths = check_inputs(inputs)
    profile = load_profile(config.profile)
    baseline_report = load_report(baseline) if baseline is not None else None
    privacy = PrivacySettings(min_count=config.min_count, differential_privacy=config.dp_config())
    if privacy.differential_privacy is not None:
        from edge_eval.privacy.dp import require_opendp

        require_opendp()  # a missing extra fails before any scoring
    digests: list[bytes] | None = [] if config.use_ledger else None
    guard_context = network_guard() if config.guard_network else nullcontext(NetworkGuard())
    with guard_context as guard:
        model = load_reward_model(config.model, device=config.device, batch_size=config.batch_size)
        table, skipped, recognised = score_conversations(
            paths, model, profile, config, progress=progress, digests=digests
        )
        described = model.describe()
        partial = partial_from_table(table, partial_header(profile))
        report = finalize_report(
            partial,
            model_kind=model.kind,
            privacy=privacy,
            baseline=baseline_report,
            scorer_validity=model_validity(model),
        )
    privacy_block = privacy.manifest_dict(report.privacy_record)
    if digests is not None:
        from edge_eval.privacy.ledger import record_score_run

        privacy_block["ledger"] = record_score_run(
            table,
            digests,
            report.to_dict(),
            epsilon=config.epsilon,
            delta=config.delta,
            budget=config.budget,
            min_count=config.min_count,
            mechanism=None
            if privacy.differential_privacy is None
            else privacy.differential_privacy.mechanism,
            path=config.ledger,
        )
    manifest = RunManifest(
        command="score",
        input_sha256=tuple(sha256_file(p) for p in paths),
        model=described,
        profile_sha256=profile.sha256,
        device_requested=config.device,
        providers=tuple(described.get("providers", ())),
        seed=None,
        privacy=privacy_block,
        network_guard={
            "active": config.guard_network,
            "blocked_attempts": guard.blocked,
            "namespace": config.require_isolation,  # verified above when True
        },
        baseline_sha256=sha256_file(Path(baseline)) if baseline is not None else None,
    )
    return ScoreResult(
        report=report,
        table=table,
        partial=partial,
        manifest=manifest,
        skipped=skipped,
        recognised=recognised,
    )


def model_validity(model: RewardModel) -> tuple[dict[str, Any], ...]:
    """The scorer's measured agreement with people, from its bundle (none for a GGUF judge)."""
    from edge_eval.reward.bundle import scorer_validity

    bundle = getattr(model, "bundle", None)
    meta = getattr(bundle, "metadata", None)
    return scorer_validity(meta) if isinstance(meta, dict) else ()


def partial_header(profile: Profile) -> PartialHeader:
    """What every shard's partial must share: the profile's clusters and gap tolerance."""
    return PartialHeader(clusters=profile.names, tolerance=profile.tolerance)


def check_inputs(inputs: Path | str | Sequence[Path | str]) -> list[Path]:
    """The input paths, each checked to be a regular file (errors name the file, not the path)."""
    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    if not paths:
        raise ConfigError("no input file given")
    for p in paths:
        if not p.is_file():
            raise InputError(
                "the file does not exist or is not a regular file",
                source=p.name,
                category="unreadable",
                hint="Check the path.",
            )
    return paths


class ReportOutputs(Protocol):
    """What :func:`write_score_outputs` writes from: a report and its manifest (a local
    :class:`ScoreResult`, or a sharded or federated run's result)."""

    @property
    def report(self) -> Any: ...

    @property
    def manifest(self) -> RunManifest: ...


def write_score_outputs(
    result: ReportOutputs,
    out_dir: Path | str,
    *,
    sign: bool = False,
    key_dir: Path | str | None = None,
) -> ScoreArtifact:
    """Write report.json, report.md, report.html and manifest.json (and manifest.sig), all or none.

    Everything is rendered (and signed, with ``sign``) first, then written into a staging
    folder and moved into place under a lock, so two runs into one folder leave one run's
    complete set, never a mix. ``out_dir`` must not be a symbolic link, nor hold links or
    folders under the output names, and may not climb out of its parent with ``..``.
    """
    from edge_eval.report import render_html, render_json, render_markdown

    out = Path(out_dir)
    check_out_dir(out)
    d = result.report.to_dict()
    outputs = {
        "report.json": render_json(d).encode("utf-8"),
        "report.md": render_markdown(d).encode("utf-8"),
        "report.html": render_html(d).encode("utf-8"),
    }
    outputs["manifest.json"] = result.manifest.render(outputs).encode("utf-8")
    if sign:
        from edge_eval.privacy.signing import SIGNATURE_NAME, signature_document

        outputs[SIGNATURE_NAME] = signature_document(outputs["manifest.json"], key_dir)
    with atomic_directory(out, replace=OUTPUT_NAMES) as staging:
        for name, data in outputs.items():
            (staging / name).write_bytes(data)
    return ScoreArtifact(
        out_dir=out,
        files={name: hashlib.sha256(data).hexdigest() for name, data in outputs.items()},
    )


#: Every file a run may write into its output folder (a run replaces all of them).
OUTPUT_NAMES = ("report.json", "report.md", "report.html", "manifest.json", "manifest.sig")


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that could redirect writes elsewhere (see write_score_outputs)."""
    hint = "Pass --out a plain folder (not a link), inside the folder you name."
    if ".." in out.parts:
        raise ConfigError("--out may not contain '..'", hint=hint)
    if out.is_symlink():
        raise ConfigError("--out is a symbolic link", hint=hint)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out exists and is not a folder", hint=hint)
    for name in OUTPUT_NAMES:
        target = out / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ConfigError(
                f"--out holds {name} as a link or a folder; edge-eval writes only plain files",
                hint=hint,
            )

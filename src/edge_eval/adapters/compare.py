"""`compare`: baseline, system prompt and adapter on the same simulated users, turn by turn.

Every system meets exactly the same user turns: each conversation's script comes from the
``eval`` scenarios (never used for training) with a seed that depends on the cluster and the
conversation index only, and each reply is sampled with a seed shared by all systems. Systems:

- ``baseline``: the base model under the neutral system prompt;
- ``system-prompt``: the base model under the routed cluster's steering prompt (``steer_chosen``);
- ``adapter``: the base model with the routed cluster's GGUF LoRA adapter, neutral prompt.

The cluster of a conversation is picked by the task recogniser from its first user turn (as a
deployment would); reports group conversations by their true cluster. Each system's
conversations are then scored by :func:`edge_eval.scoring.score` (the default reward bundle unless
another is named) and reported through the same privacy gate and report code as ``score``:
``<system>/report.json|md|html`` + ``manifest.json``, the non-baseline ones against the baseline
report. ``compare.json`` gathers those published figures per cluster and system, adds paired
bootstrap intervals for gap reduction % and score factor (over conversations, only where both
groups are published), and ``compare.md`` / ``compare.svg`` / ``compare.html`` render it: one
plot per cluster with one line of per-turn perceived empathy per system.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from edge_eval._io import atomic_directory, sha256_file
from edge_eval.adapters.generate import ChatGenerator, GenerationConfig, Message
from edge_eval.adapters.scenarios import Split, load_scenarios, seeded_int
from edge_eval.errors import ConfigError, PrivacyViolation

__all__ = [
    "COMPARE_KIND",
    "CompareConfig",
    "CompareResult",
    "System",
    "compare_systems",
    "validate_compare_dict",
    "write_compare_outputs",
]

COMPARE_KIND = "edge-eval.compare"
COMPARE_SCHEMA_VERSION = 2  # 2: parameters.scorer_validity

#: Progress callback: (assistant turns generated, total).
Progress = Callable[[int, int], None]


class System(str, Enum):
    """The systems a comparison can run."""

    BASELINE = "baseline"
    SYSTEM_PROMPT = "system-prompt"
    ADAPTER = "adapter"


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareConfig:
    """What `compare` runs.

    Attributes:
        systems: systems to run; the first is the reference of gap reduction and score factor.
        conversations: simulated conversations per cluster.
        turns: user turns per conversation.
        clusters: clusters to run (None: every profile cluster with an adapter).
        adapters: adapters folder (None: the shipped SmolLM2 adapters).
        base: base GGUF (None: SmolLM2-135M-Instruct).
        model: reward model spec for scoring (None: the embedded default bundle).
        seed: master seed (user scripts, sampling, bootstrap).
        generation: sampling settings.
        min_count: k of small-cell suppression (as in ``score``).
        n_boot: bootstrap resamples.
        scenarios: scenarios TOML (None: the shipped seeds).
        route: pick each conversation's adapter / prompt with the task recogniser (else the
            conversation's true cluster).
        cache: a local folder for the generated conversations (synthetic text, never a report
            output): a rerun with the same generation settings scores them again instead of
            generating them, e.g. with a newer reward bundle.
    """

    systems: tuple[System, ...] = (System.BASELINE, System.SYSTEM_PROMPT, System.ADAPTER)
    conversations: int = 12
    turns: int = 4
    clusters: tuple[str, ...] | None = None
    adapters: Path | None = None
    base: Path | None = None
    model: str | None = None
    seed: int = 0
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    min_count: int = 11
    n_boot: int = 2000
    scenarios: Path | None = None
    route: bool = True
    cache: Path | None = None

    def __post_init__(self) -> None:
        systems = tuple(System(s) for s in self.systems)
        if not systems or len(set(systems)) != len(systems):
            raise ConfigError("--systems must name each system once (baseline,system-prompt,...)")
        object.__setattr__(self, "systems", systems)
        if self.conversations < 1 or self.turns < 1:
            raise ConfigError("--conversations and --turns must be at least 1")
        if self.seed < 0:
            raise ConfigError("--seed must be a non-negative integer")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareResult:
    """A finished comparison, in memory (per-system score results stay local)."""

    summary: dict[str, Any]
    """compare.json: published aggregates only."""
    results: dict[System, Any]
    """Each system's :class:`edge_eval.scoring.ScoreResult`."""
    manifest: dict[str, Any]
    """What was used, by hash, and timings."""


def _conversations_for(
    config: CompareConfig,
    clusters: tuple[str, ...],
    routed: dict[tuple[str, int], str],
    scripts: dict[tuple[str, int], tuple[str, ...]],
    system: System,
    adapters: dict[str, Path],
    base: Path,
    neutral: str,
    steer: dict[str, str],
    tick: Callable[[], None],
) -> list[dict[str, Any]]:
    """Generate one system's conversations, cluster by cluster, in a fixed order."""
    out: dict[tuple[str, int], list[Message]] = {}

    def run(gen: ChatGenerator, keys: list[tuple[str, int]], system_prompt: Callable[[str], str]):
        for key in keys:
            cluster, index = key
            gen.reset()
            messages: list[Message] = [("system", system_prompt(routed[key]))]
            for turn, user in enumerate(scripts[key]):
                messages.append(("user", user))
                text = ""
                for attempt in range(3):
                    seed = seeded_int(config.seed, "compare", cluster, index, turn, attempt)
                    text = gen.reply(messages, seed=seed)
                    if text:
                        break
                messages.append(("assistant", text or "..."))
                tick()
            out[key] = messages

    keys = [(c, i) for c in clusters for i in range(config.conversations)]
    if system is System.ADAPTER:
        for target in sorted({routed[k] for k in keys}):
            group = [k for k in keys if routed[k] == target]
            with ChatGenerator(base, lora_path=adapters[target], config=config.generation) as gen:
                run(gen, group, lambda _c: neutral)
    else:
        with ChatGenerator(base, config=config.generation) as gen:
            if system is System.BASELINE:
                run(gen, keys, lambda _c: neutral)
            else:
                run(gen, keys, lambda c: steer[c])
    return [
        {
            "id": f"compare-{c}-{i}",
            "task": c,
            "messages": [{"role": r, "content": t} for r, t in out[(c, i)]],
        }
        for c, i in keys
    ]


def compare_systems(config: CompareConfig, *, progress: Progress | None = None) -> CompareResult:
    """Run every system on the same simulated users, score and report them (see module doc)."""
    from edge_eval.adapters.route import TaskRouter, find_adapters
    from edge_eval.export.models import find_smollm2_gguf
    from edge_eval.report import load_report, render_json
    from edge_eval.scoring import ScoreConfig, score
    from edge_eval.tasks.profile import load_profile

    started = time.monotonic()
    profile = load_profile(None)
    scenarios = load_scenarios(config.scenarios)
    base = Path(config.base) if config.base is not None else find_smollm2_gguf()
    needs_adapters = System.ADAPTER in config.systems
    adapters = find_adapters(config.adapters) if needs_adapters else {}
    if config.clusters is not None:
        clusters = tuple(config.clusters)
    elif needs_adapters:
        clusters = tuple(c for c in profile.names if c in adapters)
    else:
        clusters = tuple(c for c in profile.names if c in scenarios.clusters)
    for c in clusters:
        if c not in profile.names:
            raise ConfigError(f"cluster {c!r} is not in the task profile")
        scenarios.cluster(c)
        if needs_adapters and c not in adapters:
            raise ConfigError(f"no adapter for cluster {c!r}", hint="Train one or drop adapter.")
    if not clusters:
        raise ConfigError("no cluster to compare", hint="Pass --clusters or an adapters folder.")

    scripts = {
        (c, i): scenarios.script(c, i, turns=config.turns, seed=config.seed, split=Split.EVAL).turns
        for c in clusters
        for i in range(config.conversations)
    }
    keys = list(scripts)
    routable = sorted(adapters) if needs_adapters else sorted(clusters)
    cache_key = _cache_key(config, clusters, base, routable, scenarios.sha256)
    cached = _read_cache(config.cache, cache_key, adapters)
    if "routing" in cached:
        routed = {(c, int(i)): r for c, i, r in cached["routing"]}
    elif config.route:
        router = TaskRouter(routable, bundle=config.model)
        picked = router.route_many([scripts[k][0] for k in keys])
        routed = dict(zip(keys, picked, strict=True))
    else:
        routed = {k: k[0] for k in keys}
    steer = {c: scenarios.cluster(c).steer_chosen for c in scenarios.clusters}

    total = len(keys) * config.turns * len(config.systems)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    generated: dict[System, list[dict[str, Any]]] = {}
    gen_started = time.monotonic()
    for system in config.systems:
        if system.value in cached:
            generated[system] = cached[system.value]
            for _ in range(len(keys) * config.turns):
                tick()
            continue
        generated[system] = _conversations_for(
            config,
            clusters,
            routed,
            scripts,
            system,
            adapters,
            base,
            scenarios.neutral_system,
            steer,
            tick,
        )
        if config.cache is not None:
            _write_cache(config.cache, cache_key, routed, system, adapters, generated[system])
    gen_seconds = time.monotonic() - gen_started

    score_started = time.monotonic()
    results: dict[System, Any] = {}
    reference = config.systems[0]
    score_config = ScoreConfig(model=config.model, min_count=config.min_count)
    with tempfile.TemporaryDirectory(prefix="edge-eval-compare-") as tmp:
        tmp_dir = Path(tmp)
        baseline_path: Path | None = None
        for system in config.systems:
            path = tmp_dir / f"{system.value}.jsonl"
            path.write_text(
                "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in generated[system]),
                encoding="utf-8",
            )
            results[system] = score(
                path,
                score_config,
                baseline=None if system is reference else baseline_path,
            )
            if system is reference:
                baseline_path = tmp_dir / "baseline-report.json"
                baseline_path.write_text(render_json(results[system].report.to_dict()))
                load_report(baseline_path)  # the same validation `score --baseline` applies
    score_seconds = time.monotonic() - score_started

    summary = _summary(config, clusters, results, routed)
    validate_compare_dict(summary)
    model_desc = dict(results[reference].manifest.model)
    manifest = {
        "schema_version": 1,
        "kind": "edge-eval.compare-manifest",
        "command": "compare",
        "base_sha256": sha256_file(base),
        "adapters": {
            c: sha256_file(p) for c, p in sorted(adapters.items()) if c in set(routed.values())
        },
        "scenarios_sha256": scenarios.sha256,
        "reward_model": model_desc,
        "seed": config.seed,
        "generation": config.generation.to_dict(),
        "systems": [s.value for s in config.systems],
        "conversations_per_cluster": config.conversations,
        "turns": config.turns,
        "routing": "recogniser" if config.route else "given",
        "generated_from_cache": sorted(s.value for s in config.systems if s.value in cached),
        "seconds": {
            "generation": round(gen_seconds, 1),
            "scoring": round(score_seconds, 1),
            "total": round(time.monotonic() - started, 1),
        },
    }
    return CompareResult(summary=summary, results=results, manifest=manifest)


# ---------------------------------------------------------------------------------------------
# Generation cache (local only: it holds synthetic conversation text)


def _cache_key(
    config: CompareConfig,
    clusters: tuple[str, ...],
    base: Path,
    routable: list[str],
    scenarios_sha: str,
) -> str:
    """What every system's generations depend on (users, sampling, base, routing targets)."""
    import hashlib

    settings = {
        "clusters": list(clusters),
        "conversations": config.conversations,
        "turns": config.turns,
        "seed": config.seed,
        "route": config.route,
        "routable": list(routable),
        "base": sha256_file(base),
        "scenarios": scenarios_sha,
        "generation": config.generation.to_dict(),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _system_key(system: System, adapters: dict[str, Path]) -> str:
    """What one system adds: the adapters' hashes for ``adapter``, nothing for the others."""
    if system is not System.ADAPTER:
        return system.value
    return (
        system.value + ":" + ",".join(f"{c}={sha256_file(p)}" for c, p in sorted(adapters.items()))
    )


def _read_cache(folder: Path | None, key: str, adapters: dict[str, Path]) -> dict[str, Any]:
    """``{"routing": [...], system: [conversation, ...]}`` from a matching cache, else ``{}``."""
    if folder is None:
        return {}
    path = Path(folder) / "compare-cache.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("key") != key:
        return {}
    out: dict[str, Any] = {"routing": data["routing"]}
    for system in System:
        file = Path(folder) / f"{system.value}.jsonl"
        same = data.get("systems", {}).get(system.value) == _system_key(system, adapters)
        if same and file.is_file():
            lines = file.read_text(encoding="utf-8").splitlines()
            out[system.value] = [json.loads(line) for line in lines if line.strip()]
    return out


def _write_cache(
    folder: Path,
    key: str,
    routed: dict[tuple[str, int], str],
    system: System,
    adapters: dict[str, Path],
    conversations: list[dict[str, Any]],
) -> None:
    from edge_eval._io import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        folder / f"{system.value}.jsonl",
        "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations),
    )
    path = folder / "compare-cache.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if data.get("key") != key:
        data = {"key": key, "systems": {}}
    data["routing"] = [[c, i, r] for (c, i), r in sorted(routed.items())]
    data["systems"][system.value] = _system_key(system, adapters)
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# Summary (aggregates only)


def _estimate(values: np.ndarray) -> dict[str, float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return {"low": round(float(lo), 6), "high": round(float(hi), 6)}


def _paired(
    base_table: Any,
    cand_table: Any,
    rows: np.ndarray,
    *,
    rng: np.random.Generator,
    n_boot: int,
) -> dict[str, Any]:
    """Gap reduction % and score factor of the candidate, with paired bootstrap intervals."""
    from edge_eval import metrics

    d = metrics.normalise_desired(base_table.conv_desired[rows])
    p_b = metrics.normalise_perceived(base_table.conv_perceived[rows])
    p_c = metrics.normalise_perceived(cand_table.conv_perceived[rows])
    e_b, e_c = np.abs(d - p_b), np.abs(d - p_c)
    point_gr = metrics.gap_reduction(float(e_b.mean()), float(e_c.mean()))
    point_sf = metrics.score_factor(float(p_b.mean()), float(p_c.mean()))
    idx = rng.integers(0, len(rows), size=(n_boot, len(rows)))
    eb, ec = e_b[idx].mean(axis=1), e_c[idx].mean(axis=1)
    pb, pc = p_b[idx].mean(axis=1), p_c[idx].mean(axis=1)
    out: dict[str, Any] = {"gap_reduction_pct": None, "score_factor": None}
    ok = eb > 0
    if point_gr is not None and ok.all():
        out["gap_reduction_pct"] = {"mean": round(point_gr, 6)} | _estimate(100.0 * (eb - ec) / eb)
    if point_sf is not None and (pb > 0).all():
        out["score_factor"] = {"mean": round(point_sf, 6)} | _estimate(pc / pb)
    return out


def _group_entry(group: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"status": group["status"]}
    if group["status"] != "published":
        return entry
    for key in ("n", "desired", "perceived", "gap", "error", "desired_raw", "perceived_raw"):
        entry[key] = group[key]
    entry["turns"] = group["turns"]
    return entry


def _summary(
    config: CompareConfig,
    clusters: tuple[str, ...],
    results: dict[System, Any],
    routed: dict[tuple[str, int], str],
) -> dict[str, Any]:
    from edge_eval import metrics

    reference = config.systems[0]
    reports = {s: r.report.to_dict() for s, r in results.items()}
    names = list(results[reference].table.clusters)

    def group_of(report: dict[str, Any], cluster: str | None) -> dict[str, Any]:
        if cluster is None:
            return dict(report["overall"])
        return next(dict(g) for g in report["clusters"] if g["cluster"] == cluster)

    def entries(cluster: str | None) -> list[dict[str, Any]]:
        out = []
        base_table = results[reference].table
        for system in config.systems:
            entry = {"system": system.value} | _group_entry(group_of(reports[system], cluster))
            if system is not reference:
                entry["gap_reduction_pct"] = None
                entry["score_factor"] = None
                published = [
                    c
                    for c in (clusters if cluster is None else (cluster,))
                    if group_of(reports[system], c)["status"] == "published"
                    and group_of(reports[reference], c)["status"] == "published"
                ]
                if published:
                    rows = np.flatnonzero(
                        np.isin(base_table.conv_cluster, [names.index(c) for c in published])
                    )
                    rng = metrics.group_rng(
                        config.seed, f"compare:{system.value}:{cluster or '#overall'}"
                    )
                    entry |= _paired(
                        base_table, results[system].table, rows, rng=rng, n_boot=config.n_boot
                    )
            out.append(entry)
        return out

    routing: dict[str, float | None] = {}
    for c in clusters:
        hits = [routed[(c, i)] == c for i in range(config.conversations)]
        routing[c] = round(sum(hits) / len(hits), 6) if len(hits) >= config.min_count else None
    return {
        "schema_version": COMPARE_SCHEMA_VERSION,
        "kind": COMPARE_KIND,
        "parameters": {
            "systems": [s.value for s in config.systems],
            "reference": reference.value,
            "conversations_per_cluster": config.conversations,
            "turns": config.turns,
            "seed": config.seed,
            "min_count": config.min_count,
            "n_boot": config.n_boot,
            "model_kind": reports[reference]["parameters"]["model_kind"],
            "routing": "recogniser" if config.route else "given",
            # How far the scorer's numbers can be trusted, as its reports state it (allowlisted
            # labels and numbers from its bundle; empty for a scorer with none recorded).
            "scorer_validity": list(reports[reference]["parameters"].get("scorer_validity", [])),
        },
        "clusters": [
            {"cluster": c, "routing_accuracy": routing[c], "systems": entries(c)} for c in clusters
        ],
        "overall": {"systems": entries(None)},
    }


# ---------------------------------------------------------------------------------------------
# Schema: an allowlist of keys; values are numbers, fixed labels or nested allowlisted objects

_EST_KEYS = {"mean", "low", "high"}
_ENTRY_KEYS = {
    "system",
    "status",
    "n",
    "desired",
    "perceived",
    "gap",
    "error",
    "desired_raw",
    "perceived_raw",
    "turns",
    "gap_reduction_pct",
    "score_factor",
}
_STATUS = {"published", "withheld", "empty"}


def _number(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PrivacyViolation(f"compare report: {where} must be a number")


def _check_estimate(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or set(value) - _EST_KEYS or "mean" not in value:
        raise PrivacyViolation(f"compare report: {where} must be an estimate")
    for k, v in value.items():
        _number(v, f"{where}.{k}")


def _check_entry(entry: Any, where: str) -> None:
    if not isinstance(entry, dict) or set(entry) - _ENTRY_KEYS:
        raise PrivacyViolation(f"compare report: {where} has fields outside the allowlist")
    if entry.get("system") not in {s.value for s in System}:
        raise PrivacyViolation(f"compare report: {where}.system is not a known system")
    if entry.get("status") not in _STATUS:
        raise PrivacyViolation(f"compare report: {where}.status is not a known status")
    for key in ("desired", "perceived", "gap", "error", "gap_reduction_pct", "score_factor"):
        _check_estimate(entry.get(key), f"{where}.{key}")
    for key in ("n", "desired_raw", "perceived_raw"):
        if key in entry:
            _number(entry[key], f"{where}.{key}")
    turns = entry.get("turns")
    if turns is not None:
        if not isinstance(turns, dict) or set(turns) - {"cells", "slope", "retention"}:
            raise PrivacyViolation(f"compare report: {where}.turns has unknown fields")
        for cell in turns.get("cells", []):
            if not isinstance(cell, dict) or set(cell) != {"index", "n", "perceived"}:
                raise PrivacyViolation(f"compare report: {where}.turns.cells has unknown fields")
            for v in cell.values():
                _number(v, f"{where}.turns.cells")
        for key in ("slope", "retention"):
            if turns.get(key) is not None:
                _number(turns[key], f"{where}.turns.{key}")
    if entry["status"] == "published" and entry.get("n", 0) < 1:
        raise PrivacyViolation(f"compare report: {where} is published without a count")


def validate_compare_dict(d: dict[str, Any]) -> None:
    """Refuse a compare report with any field outside the allowlist (raises PrivacyViolation)."""
    from edge_eval.report.schema import CLUSTER_NAME_PATTERN, scorer_validity_problems

    if set(d) != {"schema_version", "kind", "parameters", "clusters", "overall"}:
        raise PrivacyViolation("compare report: unexpected top-level fields")
    if d["kind"] != COMPARE_KIND or d["schema_version"] != COMPARE_SCHEMA_VERSION:
        raise PrivacyViolation("compare report: wrong kind or schema version")
    params = d["parameters"]
    allowed = {
        "systems",
        "reference",
        "conversations_per_cluster",
        "turns",
        "seed",
        "min_count",
        "n_boot",
        "model_kind",
        "routing",
        "scorer_validity",
    }
    if not isinstance(params, dict) or set(params) != allowed:
        raise PrivacyViolation("compare report: parameters outside the allowlist")
    if scorer_validity_problems(params["scorer_validity"]):
        raise PrivacyViolation("compare report: scorer_validity outside the allowlist")
    systems = {s.value for s in System}
    if not set(params["systems"]) <= systems or params["reference"] not in systems:
        raise PrivacyViolation("compare report: unknown system label")
    if params["routing"] not in ("recogniser", "given"):
        raise PrivacyViolation("compare report: unknown routing label")
    for cluster in d["clusters"]:
        if set(cluster) != {"cluster", "routing_accuracy", "systems"}:
            raise PrivacyViolation("compare report: cluster entry outside the allowlist")
        if CLUSTER_NAME_PATTERN.fullmatch(str(cluster["cluster"])) is None:
            raise PrivacyViolation("compare report: a cluster label is not a valid label")
        if cluster["routing_accuracy"] is not None:
            _number(cluster["routing_accuracy"], "routing_accuracy")
        for entry in cluster["systems"]:
            _check_entry(entry, f"cluster {cluster['cluster']}")
    if set(d["overall"]) != {"systems"}:
        raise PrivacyViolation("compare report: overall entry outside the allowlist")
    for entry in d["overall"]["systems"]:
        _check_entry(entry, "overall")


def write_compare_outputs(result: CompareResult, out_dir: Path) -> dict[str, str]:
    """Write every system's score outputs and compare.json/.md/.svg/.html + manifest.json,
    all or none. Returns ``{relative name: sha256}``."""
    import hashlib

    from edge_eval.adapters.compare_render import (
        render_compare_html,
        render_compare_markdown,
        render_compare_svg,
    )
    from edge_eval.scoring import write_score_outputs

    validate_compare_dict(result.summary)
    files: dict[str, bytes] = {
        "compare.json": (json.dumps(result.summary, indent=2, allow_nan=False) + "\n").encode(),
        "compare.md": render_compare_markdown(result.summary).encode(),
        "compare.svg": render_compare_svg(result.summary).encode(),
        "compare.html": render_compare_html(result.summary).encode(),
    }
    out = Path(out_dir)
    hashes: dict[str, str] = {}
    with atomic_directory(out) as staging:
        for system, score_result in result.results.items():
            artifact = write_score_outputs(score_result, staging / system.value)
            for name, digest in artifact.files.items():
                hashes[f"{system.value}/{name}"] = digest
        for name, data in files.items():
            (staging / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
        manifest = dict(result.manifest) | {"outputs": dict(sorted(hashes.items()))}
        data = (json.dumps(manifest, indent=2, allow_nan=False) + "\n").encode()
        (staging / "manifest.json").write_bytes(data)
        hashes["manifest.json"] = hashlib.sha256(data).hexdigest()
    return hashes

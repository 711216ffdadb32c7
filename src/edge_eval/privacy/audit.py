"""`audit verify`: check a results folder after the fact, without trusting whoever ran it.

Each check returns PASS, FAIL (with one reason per problem) or SKIP (with why it could not run):

- ``files``: report.json and manifest.json are there, every file is a regular file (no link), and
  no file is in the folder that the manifest does not list.
- ``allowlist``: report.json validates against the report schema (:mod:`edge_eval.report.schema`,
  the single source of truth): no unknown field, no string outside the fixed labels.
- ``suppression``: every published count meets k and no withheld cell can be derived from
  published ones (the schema module's suppression rules on the numbers).
- ``manifest``: the manifest is an edge-eval manifest whose privacy parameters agree with the
  report's (k, differential privacy).
- ``hashes``: the SHA-256 of every output matches the manifest; with ``inputs``, so does every
  input's (as a multiset); with ``model_dir``, every model file's; with ``profile``, the profile's.
- ``signature``: ``manifest.sig`` is a valid Ed25519 signature over manifest.json's exact bytes,
  by ``pinned_key`` when given. An unsigned folder fails: without a signature a changed manifest
  cannot be detected.
- ``ledger``: the run's entry in the local privacy ledger exists and matches the manifest
  (fingerprint, ε, δ, budget), and no member of the run has spent more than the budget.
- ``leakage``: with ``inputs``, no run of 4 or more consecutive words of any input string appears
  in any output file (words: Unicode letters/digits, NFKC and case-folded; a 4-gram counts when
  at least two of its words contain a letter, so numeric runs such as SVG coordinates do not).

Every problem names files, positions and check names only; nothing quotes a value of the
report, the manifest or an input.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from edge_eval.errors import AuditFailedError

__all__ = [
    "AuditCheck",
    "AuditFailedError",
    "AuditReport",
    "CheckStatus",
    "audit_results",
    "ngram_leaks",
]

_REPORT = "report.json"
_MANIFEST = "manifest.json"
_SIGNATURE = "manifest.sig"
_MAX_FILE = 64 * 1024 * 1024
_WORD = re.compile(r"\w+", re.UNICODE)  # "work_career" is one word: labels never split
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
NGRAM = 4


class CheckStatus(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditCheck:
    """One check's outcome.

    Attributes:
        name: the check (``files``, ``allowlist``, ``suppression``, ``manifest``, ``hashes``,
            ``signature``, ``ledger``, ``leakage``).
        status: pass, fail or skip.
        problems: one reason per failure (or why it was skipped).
        notes: facts worth knowing on a pass (e.g. the key id that signed).
    """

    name: str
    status: CheckStatus
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    """Every check's outcome; ``ok`` when none failed."""

    checks: tuple[AuditCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.status is not CheckStatus.FAIL for c in self.checks)

    def check(self, name: str) -> AuditCheck:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "edge-eval.audit",
            "schema_version": 1,
            "verdict": "pass" if self.ok else "fail",
            "checks": [c.to_dict() for c in self.checks],
        }

    def render(self) -> str:
        lines = []
        for c in self.checks:
            lines.append(f"{c.status.value.upper():4}  {c.name}")
            lines.extend(f"      - {p}" for p in c.problems)
            lines.extend(f"      · {n}" for n in c.notes)
        failed = [c.name for c in self.checks if c.status is CheckStatus.FAIL]
        if failed:
            lines.append(f"Verdict: FAIL ({len(failed)} check(s) failed: {', '.join(failed)})")
        else:
            lines.append("Verdict: PASS (every check that could run passed)")
        return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Folder:
    path: Path
    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _read_folder(path: Path) -> _Folder:
    folder = _Folder(path=path)
    try:
        info = path.lstat()
    except OSError:
        folder.problems.append("the results folder does not exist")
        return folder
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        folder.problems.append("the results folder is a link or not a folder")
        return folder
    for entry in sorted(path.iterdir(), key=lambda p: p.name):
        name = entry.name if entry.name.isascii() and entry.name.isprintable() else "(a file)"
        mode = entry.lstat().st_mode
        if stat.S_ISLNK(mode):
            folder.problems.append(f"{name}: a symbolic link in the results folder")
            continue
        if not stat.S_ISREG(mode):
            folder.problems.append(f"{name}: not a regular file")
            continue
        if entry.stat().st_size > _MAX_FILE:
            folder.problems.append(f"{name}: larger than any edge-eval output")
            continue
        folder.files[entry.name] = entry.read_bytes()
    return folder


def _json(data: bytes) -> Any:
    def refuse(_: str) -> float:
        raise ValueError("NaN")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError):
        return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- n-gram leakage --------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _ngrams(words: Sequence[str]) -> Iterator[tuple[str, ...]]:
    for i in range(len(words) - NGRAM + 1):
        gram = tuple(words[i : i + NGRAM])
        if sum(1 for w in gram if _LETTER.search(w)) >= 2:
            yield gram


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def ngram_leaks(outputs: dict[str, bytes], inputs: Sequence[Path]) -> list[str]:
    """Where a 4-word run of an input string appears in an output file.

    Each input line is read as JSON and every string in it (keys and values) is split into
    words on its own; a line that is not JSON is read as one text. Returns one problem per
    (output file, input file, line), naming file names, the input's position and line number.
    """
    index: dict[tuple[str, ...], set[str]] = {}
    for name, data in outputs.items():
        words = _words(data.decode("utf-8", errors="replace"))
        for gram in _ngrams(words):
            index.setdefault(gram, set()).add(name)
    problems: list[str] = []
    for number, path in enumerate(inputs, start=1):
        with Path(path).open("rb") as handle:
            for line_no, raw in enumerate(handle, start=1):
                text = raw.decode("utf-8", errors="replace")
                parsed = _json(raw)
                texts = list(_strings(parsed)) if parsed is not None else [text]
                hit: set[str] = set()
                for t in texts:
                    for gram in _ngrams(_words(t)):
                        hit |= index.get(gram, set())
                for name in sorted(hit):
                    problems.append(
                        f"{name}: contains a run of {NGRAM} words from input {number}, "
                        f"line {line_no}"
                    )
    return problems


# --- the checks ------------------------------------------------------------------------------


def audit_results(
    results_dir: Path | str,
    *,
    inputs: Sequence[Path | str] = (),
    pinned_key: bytes | None = None,
    ledger_path: Path | str | None = None,
    model_dir: Path | str | None = None,
    profile: Path | str | None = None,
) -> AuditReport:
    """Run every check on a results folder (see the module docstring)."""
    from edge_eval.report.schema import schema_problems, suppression_problems

    folder = _read_folder(Path(results_dir))
    checks: list[AuditCheck] = []
    report_bytes = folder.files.get(_REPORT)
    manifest_bytes = folder.files.get(_MANIFEST)
    report = _json(report_bytes) if report_bytes is not None else None
    parsed = _json(manifest_bytes) if manifest_bytes is not None else None
    manifest: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    manifest_ok = manifest.get("kind") == "edge-eval.manifest" and isinstance(
        manifest.get("outputs"), dict
    )

    # files
    problems = list(folder.problems)
    if report_bytes is None:
        problems.append(f"{_REPORT} is missing")
    if manifest_bytes is None:
        problems.append(f"{_MANIFEST} is missing")
    if manifest_ok:
        listed = set(manifest["outputs"]) | {_MANIFEST, _SIGNATURE}
        extra = [n for n in folder.files if n not in listed]
        if extra:
            problems.append(f"{len(extra)} file(s) in the folder that the manifest does not list")
    checks.append(_result("files", problems))

    # allowlist, suppression
    if report_bytes is None:
        checks.append(_skip("allowlist", f"{_REPORT} is missing"))
        checks.append(_skip("suppression", f"{_REPORT} is missing"))
    elif report is None:
        checks.append(_result("allowlist", [f"{_REPORT} is not UTF-8 JSON"]))
        checks.append(_skip("suppression", "the report is not JSON"))
    else:
        structural = schema_problems(report)
        checks.append(_result("allowlist", structural))
        if structural:
            checks.append(_skip("suppression", "the report failed its allowlist"))
        else:
            checks.append(_result("suppression", suppression_problems(report)))

    # manifest
    if manifest_bytes is None:
        checks.append(_skip("manifest", f"{_MANIFEST} is missing"))
    elif not manifest_ok:
        checks.append(_result("manifest", [f"{_MANIFEST} is not an edge-eval manifest"]))
    else:
        checks.append(_result("manifest", _manifest_problems(manifest, report)))

    # hashes
    if not manifest_ok:
        checks.append(_skip("hashes", "no readable manifest"))
    else:
        checks.append(_hash_check(manifest, folder, inputs, model_dir, profile))

    # signature
    checks.append(_signature_check(folder, manifest_bytes, pinned_key))

    # ledger
    checks.append(_ledger_check(manifest if manifest_ok else None, ledger_path))

    # leakage
    if not inputs:
        checks.append(_skip("leakage", "no --inputs given"))
    else:
        checks.append(_result("leakage", ngram_leaks(folder.files, [Path(p) for p in inputs])))
    return AuditReport(checks=tuple(checks))


def _result(name: str, problems: Sequence[str], notes: Sequence[str] = ()) -> AuditCheck:
    status = CheckStatus.FAIL if problems else CheckStatus.PASS
    return AuditCheck(name=name, status=status, problems=tuple(problems), notes=tuple(notes))


def _skip(name: str, why: str) -> AuditCheck:
    return AuditCheck(name=name, status=CheckStatus.SKIP, notes=(why,))


def _dp_of(d: Any) -> Any:
    return d.get("differential_privacy") if isinstance(d, dict) else None


def _manifest_problems(manifest: dict[str, Any], report: Any) -> list[str]:
    problems = []
    privacy = manifest.get("privacy")
    if not isinstance(privacy, dict):
        return ["manifest.privacy is missing"]
    if privacy.get("complementary_suppression") is not True:
        problems.append("manifest.privacy: complementary suppression is not recorded as on")
    guard = manifest.get("network_guard")
    if not isinstance(guard, dict) or guard.get("active") is not True:
        problems.append("manifest.network_guard: the network guard was not on")
    elif guard.get("blocked_attempts"):
        problems.append("manifest.network_guard: connection attempts were blocked during the run")
    if isinstance(report, dict) and isinstance(report.get("parameters"), dict):
        params = report["parameters"]
        if params.get("min_count") != privacy.get("min_count"):
            problems.append("report.parameters.min_count differs from manifest.privacy.min_count")
        if "differential_privacy" in params:
            r, m = params.get("differential_privacy"), privacy.get("differential_privacy")
            if (r is None) != (m is None) or (
                r is not None
                and isinstance(m, dict)
                and any(r.get(k) != m.get(k) for k in ("epsilon", "delta", "mechanism"))
            ):
                problems.append(
                    "report.parameters.differential_privacy differs from the manifest's"
                )
    return problems


def _hash_check(
    manifest: dict[str, Any],
    folder: _Folder,
    inputs: Sequence[Path | str],
    model_dir: Path | str | None,
    profile: Path | str | None,
) -> AuditCheck:
    from edge_eval._io import sha256_file

    problems: list[str] = []
    notes: list[str] = []
    for name, expected in sorted(manifest["outputs"].items()):
        data = folder.files.get(name)
        if data is None:
            problems.append(f"{name}: listed in the manifest but missing")
        elif _sha256(data) != expected:
            problems.append(f"{name}: its SHA-256 differs from the manifest (the file was changed)")
    if inputs:
        recorded = Counter(
            e.get("sha256") for e in manifest.get("inputs", []) if isinstance(e, dict)
        )
        given = Counter(sha256_file(Path(p)) for p in inputs)
        if recorded != given:
            problems.append("the given inputs' SHA-256 differ from the inputs in the manifest")
        else:
            notes.append(f"{len(inputs)} input file(s) match the manifest")
    model = manifest.get("model")
    if model_dir is not None:
        files = model.get("files") if isinstance(model, dict) else None
        if not isinstance(files, dict) or not files:
            problems.append("manifest.model lists no model files to check")
        for name, expected in sorted((files or {}).items()):
            target = Path(model_dir) / str(name)
            if not target.is_file() or sha256_file(target) != expected:
                problems.append("a model file differs from the manifest or is missing")
                break
    if profile is not None:
        recorded_profile = manifest.get("profile")
        expected = recorded_profile.get("sha256") if isinstance(recorded_profile, dict) else None
        if sha256_file(Path(profile)) != expected:
            problems.append("the given profile's SHA-256 differs from the manifest")
    return _result("hashes", problems, notes)


def _signature_check(
    folder: _Folder, manifest_bytes: bytes | None, pinned_key: bytes | None
) -> AuditCheck:
    from edge_eval.privacy.signing import key_id, verify_signature_document

    signature = folder.files.get(_SIGNATURE)
    if manifest_bytes is None:
        return _skip("signature", f"{_MANIFEST} is missing")
    if signature is None:
        return _result(
            "signature",
            ["the results are not signed (manifest.sig is missing); run score with --sign"],
        )
    problems = verify_signature_document(manifest_bytes, signature, pinned_key=pinned_key)
    notes = []
    if not problems:
        if pinned_key is None:
            notes.append(
                "valid for the public key inside manifest.sig; pass --pubkey to prove who signed"
            )
        else:
            notes.append(f"signed by the given key (key id {key_id(pinned_key)[:16]}…)")
    return _result("signature", problems, notes)


def _ledger_check(manifest: dict[str, Any] | None, ledger_path: Path | str | None) -> AuditCheck:
    from edge_eval.privacy.ledger import PrivacyLedger, default_ledger_path

    if manifest is None:
        return _skip("ledger", "no readable manifest")
    privacy = manifest.get("privacy") if isinstance(manifest.get("privacy"), dict) else {}
    entry = privacy.get("ledger") if isinstance(privacy, dict) else None
    dp = _dp_of(privacy)
    if not isinstance(entry, dict):
        if dp is not None:
            return _result("ledger", ["the run used DP but the manifest names no ledger entry"])
        return _skip("ledger", "the run was not recorded in a ledger")
    path = Path(ledger_path) if ledger_path is not None else default_ledger_path()
    if not path.is_file():
        return _skip("ledger", "no ledger file on this machine (pass --ledger)")
    with PrivacyLedger.open(path, create=False) as ledger:
        run = ledger.run(str(entry.get("run_id")))
    if run is None:
        return _result("ledger", ["the run is not in the ledger"])
    problems = []
    if run.fingerprint != entry.get("fingerprint"):
        problems.append("the input-set fingerprint differs between manifest and ledger")
    if run.budget != entry.get("budget"):
        problems.append("the budget differs between manifest and ledger")
    if dp is None:
        if run.dp:
            problems.append("the ledger records a DP run, the manifest none")
    elif not isinstance(dp, dict):
        problems.append("manifest.privacy.differential_privacy is malformed")
    else:
        if not run.dp:
            problems.append("the manifest records DP, the ledger an exact run")
        if run.epsilon != dp.get("epsilon") or run.delta != dp.get("delta"):
            problems.append("ε or δ differ between manifest and ledger")
        if run.parameters.get("mechanism") != dp.get("mechanism"):
            problems.append("the DP mechanism differs between manifest and ledger")
        if run.max_spent_epsilon > run.budget + 1e-9:
            problems.append(
                "the ledger shows conversations of this run over the budget "
                f"(ε spent up to {run.max_spent_epsilon:g} of {run.budget:g})"
            )
    notes = [] if problems else [f"ledger entry found; ε spent at most {run.max_spent_epsilon:g}"]
    return _result("ledger", problems, notes)

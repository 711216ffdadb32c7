"""The errors edge-eval raises, in one tree.

    EdgeEvalError                    base; every error has a ``hint`` and an ``exit_code``
    ├── ConfigError                  an option, profile or config value is wrong        (2)
    │   └── IsolationUnavailableError  --isolate: no network namespace on this platform  (2)
    ├── MissingDependencyError       an optional extra is not installed                  (3)
    ├── InputError                   a conversations file is malformed                   (4)
    ├── ArtifactError                a model/bundle/report file is missing or altered    (5)
    ├── ScoringError                 the reward model failed while scoring               (6)
    ├── ExportError                  merging or exporting a model failed                 (7)
    │   └── FidelityError            an artifact failed its fidelity gate                (8)
    ├── QuantizationError            quantizing a model failed                           (9)
    ├── PrivacyViolation             something would leave that must not                 (10)
    │   ├── BudgetExceededError      the privacy ledger refuses the release              (10)
    │   └── AuditFailedError         `audit verify` found a failed check                 (10)
    ├── NetworkBlockedError          the process tried to open a network connection      (11)
    └── UnsafeRuntimeError           a native library would crash on this machine        (12)

Messages say what went wrong, where (file, line, field) and how to fix it. They never
contain conversation content, identifiers or metadata values.
"""

from __future__ import annotations

__all__ = [
    "ArtifactError",
    "AuditFailedError",
    "BudgetExceededError",
    "ConfigError",
    "EdgeEvalError",
    "ExportError",
    "FidelityError",
    "InputError",
    "IsolationUnavailableError",
    "MissingDependencyError",
    "NetworkBlockedError",
    "PrivacyViolation",
    "QuantizationError",
    "ScoringError",
    "UnsafeRuntimeError",
]


class EdgeEvalError(Exception):
    """Base of every error edge-eval raises on purpose."""

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint


class ConfigError(EdgeEvalError):
    exit_code = 2
    default_hint = "Check the option or configuration value named above."


class MissingDependencyError(EdgeEvalError):
    exit_code = 3

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the Python package {package!r}, which is not installed",
            hint=f"pip install 'edge-eval[{extra}]'",
        )
        self.package = package
        self.extra = extra


class InputError(EdgeEvalError):
    """A conversations file is malformed. Names file, line and field, never the content."""

    exit_code = 4
    default_hint = "Fix the line named above, or pass --on-error skip to leave such lines out."

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        category: str = "invalid",
        hint: str | None = None,
    ) -> None:
        where = []
        if source is not None:
            where.append(source)
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)
        self.source = source
        self.line = line
        self.field = field
        self.category = category


class ArtifactError(EdgeEvalError):
    exit_code = 5
    default_hint = "Rebuild or re-download the artifact; never edit it by hand."


class ScoringError(EdgeEvalError):
    exit_code = 6


class ExportError(EdgeEvalError):
    exit_code = 7


class FidelityError(ExportError):
    exit_code = 8
    default_hint = "No output was kept. Loosen the gate with its option, or use a milder format."


class QuantizationError(EdgeEvalError):
    exit_code = 9


class PrivacyViolation(EdgeEvalError):
    exit_code = 10
    default_hint = "This is a bug in edge-eval or a tampered artifact; nothing was written."


class NetworkBlockedError(EdgeEvalError):
    exit_code = 11
    default_hint = (
        "edge-eval never needs the network. Something tried to connect; "
        "make sure models are local files and the offline variables are set."
    )


class UnsafeRuntimeError(EdgeEvalError):
    """An installed native library was built in a way that crashes on this CPU (refused before
    it runs, so a crash in native code is never what a user sees)."""

    exit_code = 12
    default_hint = "Run `edge-eval doctor` to see what this machine can run."


class IsolationUnavailableError(ConfigError):
    """This platform cannot run the scoring in a fresh network namespace (``--isolate``)."""

    default_hint = (
        "--isolate needs Linux with unprivileged user namespaces (sysctl "
        "kernel.unprivileged_userns_clone=1, or user.max_user_namespaces > 0, and no seccomp "
        "profile that blocks unshare). Run without --isolate to rely on the in-process guard, "
        "or run edge-eval inside a container with no network."
    )


class BudgetExceededError(PrivacyViolation):
    """A run would spend more privacy budget than its conversations have left, or repeat a
    published cell with fewer than k conversations changed."""

    default_hint = (
        "Nothing was written. Use a smaller --epsilon, release fewer reports of this data, or "
        "raise --budget only if your privacy policy allows it."
    )


class AuditFailedError(PrivacyViolation):
    """At least one `audit verify` check failed."""

    default_hint = "The results folder cannot be trusted as it is; see the failed checks above."

"""Task profiles: the task clusters, the empathy their users want, and task aliases (TOML).

The default profile ships with the package (``default_profile.toml``); ``--profile`` loads another
with the same structure::

    schema_version = 1
    name = "my-profile"
    [metrics]
    tolerance = 0.125
    [clusters.learning_skills]
    label = "Learning skills"
    desired_empathy = 1.9          # SENSE-7 pre-task scale, 1-3
    aliases = ["learning", "tutoring"]
    n = 40                         # optional: how many labelled conversations it came from
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge_eval.errors import ConfigError

__all__ = ["ClusterSpec", "Profile", "dump_profile", "load_profile", "normalise_task_name"]

CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PROFILE_KEYS = ("schema_version", "name", "metrics", "clusters")
_CLUSTER_KEYS = ("label", "desired_empathy", "aliases", "n")
_METRICS_KEYS = ("tolerance",)


def normalise_task_name(text: str) -> str:
    """Case-folded, with spaces, hyphens and slashes as underscores."""
    return re.sub(r"[\s\-/]+", "_", text.strip().casefold())


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSpec:
    """One task cluster.

    Attributes:
        name: identifier, ``[a-z][a-z0-9_]*`` (it appears in reports).
        label: human-readable name.
        desired_empathy: what users of this cluster want, on the 1-3 scale.
        aliases: other task names that map to this cluster.
        n: how many labelled conversations the desired value came from (0 = a prior).
    """

    name: str
    label: str
    desired_empathy: float
    aliases: tuple[str, ...] = ()
    n: int = 0

    def __post_init__(self) -> None:
        if not CLUSTER_NAME.match(self.name):
            raise ConfigError(
                f"cluster name {self.name!r} is not a valid identifier",
                hint="Use lower-case letters, digits and underscores, starting with a letter.",
            )
        if not 1.0 <= self.desired_empathy <= 3.0:
            raise ConfigError(f"cluster {self.name!r}: desired_empathy must lie in [1, 3]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A task taxonomy with desired empathy per cluster.

    Attributes:
        name: the profile's name.
        clusters: the clusters, in the profile's order.
        tolerance: |gap| at or below this (0-1 scale) counts as aligned.
        sha256: SHA-256 of the TOML it was read from (recorded in the manifest).
    """

    name: str
    clusters: tuple[ClusterSpec, ...]
    tolerance: float = 0.125
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.clusters:
            raise ConfigError("a profile needs at least one cluster")
        if not 0.0 <= self.tolerance < 1.0:
            raise ConfigError("metrics.tolerance must lie in [0, 1)")
        seen: dict[str, str] = {}
        for cluster in self.clusters:
            for key in (cluster.name, *cluster.aliases):
                norm = normalise_task_name(key)
                if norm in seen and seen[norm] != cluster.name:
                    raise ConfigError(
                        f"task name {key!r} maps to both {seen[norm]!r} and {cluster.name!r}"
                    )
                seen[norm] = cluster.name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.clusters)

    def cluster(self, name: str) -> ClusterSpec:
        for c in self.clusters:
            if c.name == name:
                return c
        raise ConfigError(f"no cluster named {name!r}; clusters: {', '.join(self.names)}")

    def resolve_task(self, task: str) -> str | None:
        """The cluster a task label names (a cluster name or an alias), or None."""
        norm = normalise_task_name(task)
        for c in self.clusters:
            if norm == c.name or norm in (normalise_task_name(a) for a in c.aliases):
                return c.name
        return None

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, sha256: str = "", where: str = "profile"
    ) -> Profile:
        unknown = sorted(set(data) - set(_PROFILE_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(_PROFILE_KEYS)}"
            )
        if data.get("schema_version", 1) != 1:
            raise ConfigError(f"{where}: unsupported schema_version {data.get('schema_version')!r}")
        metrics = data.get("metrics", {})
        bad = sorted(set(metrics) - set(_METRICS_KEYS))
        if bad:
            raise ConfigError(f"{where}: unknown [metrics] key(s) {', '.join(bad)}")
        raw_clusters = data.get("clusters")
        if not isinstance(raw_clusters, dict) or not raw_clusters:
            raise ConfigError(f"{where}: needs a [clusters.NAME] table per cluster")
        clusters = []
        for name, spec in raw_clusters.items():
            bad = sorted(set(spec) - set(_CLUSTER_KEYS))
            if bad:
                raise ConfigError(
                    f"{where}: cluster {name!r}: unknown key(s) {', '.join(bad)}; "
                    f"valid: {', '.join(_CLUSTER_KEYS)}"
                )
            if "desired_empathy" not in spec:
                raise ConfigError(f"{where}: cluster {name!r}: desired_empathy is required")
            desired = spec["desired_empathy"]
            if isinstance(desired, bool) or not isinstance(desired, int | float):
                raise ConfigError(f"{where}: cluster {name!r}: desired_empathy must be a number")
            clusters.append(
                ClusterSpec(
                    name=name,
                    label=str(spec.get("label", name)),
                    desired_empathy=float(desired),
                    aliases=tuple(str(a) for a in spec.get("aliases", ())),
                    n=int(spec.get("n", 0)),
                )
            )
        return cls(
            name=str(data.get("name", "profile")),
            clusters=tuple(clusters),
            tolerance=float(metrics.get("tolerance", 0.125)),
            sha256=sha256,
        )


def load_profile(path: Path | str | None = None) -> Profile:
    """Load a profile from a TOML file, or the default one shipped with the package."""
    if path is None:
        data = resources.files("edge_eval.tasks").joinpath("default_profile.toml").read_bytes()
        where = "default profile"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(
                "cannot read the profile file", hint="Check the --profile path."
            ) from exc
        where = f"profile {Path(path).name}"
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from exc
    return Profile.from_dict(parsed, sha256=hashlib.sha256(data).hexdigest(), where=where)


def dump_profile(profile: Profile) -> str:
    """The profile as TOML text that :func:`load_profile` reads back to an equal profile."""

    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "schema_version = 1",
        f"name = {q(profile.name)}",
        "",
        "[metrics]",
        f"tolerance = {profile.tolerance!r}",
    ]
    for c in profile.clusters:
        lines += [
            "",
            f"[clusters.{c.name}]",
            f"label = {q(c.label)}",
            f"desired_empathy = {round(c.desired_empathy, 4)!r}",
            "aliases = [" + ", ".join(q(a) for a in c.aliases) + "]",
        ]
        if c.n:
            lines.append(f"n = {c.n}")
    return "\n".join(lines) + "\n"

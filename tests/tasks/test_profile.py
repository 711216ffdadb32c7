"""Task profiles: the shipped default, aliases, round trip, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_eval.errors import ConfigError
from edge_eval.tasks.profile import dump_profile, load_profile

CLUSTERS = (
    "distressing_social_personal",
    "learning_skills",
    "work_career_self_improvement",
    "work_assignment_writing",
)


def test_default_profile_has_the_four_clusters_of_the_design() -> None:
    profile = load_profile()
    assert profile.names == CLUSTERS
    assert len(profile.sha256) == 64
    desired = {c.name: c.desired_empathy for c in profile.clusters}
    # users in distress want the most empathy, writing help the least
    assert desired["distressing_social_personal"] == max(desired.values())
    assert desired["work_assignment_writing"] == min(desired.values())


@pytest.mark.parametrize(
    ("task", "cluster"),
    [
        ("learning_skills", "learning_skills"),
        ("Learning Skills", "learning_skills"),
        ("tutoring", "learning_skills"),
        ("Emotional-Support", "distressing_social_personal"),
        ("proofreading", "work_assignment_writing"),
        ("astrology", None),
    ],
)
def test_resolve_task(task: str, cluster: str | None) -> None:
    assert load_profile().resolve_task(task) == cluster


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    profile = load_profile()
    path = tmp_path / "p.toml"
    path.write_text(dump_profile(profile))
    again = load_profile(path)
    assert again.clusters == profile.clusters
    assert again.tolerance == profile.tolerance


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name = 'x'\n", "needs a [clusters.NAME]"),
        ("[clusters.a]\nlabel = 'A'\n", "desired_empathy is required"),
        ("[clusters.a]\ndesired_empathy = 5\n", "must lie in [1, 3]"),
        ("[clusters.A-b]\ndesired_empathy = 2\n", "not a valid identifier"),
        ("[clusters.a]\ndesired_empathy = 2\ncolour = 1\n", "unknown key(s) colour"),
        ("bogus = 1\n[clusters.a]\ndesired_empathy = 2\n", "unknown key(s) bogus"),
        (
            "[clusters.a]\ndesired_empathy = 2\naliases=['x']\n"
            "[clusters.b]\ndesired_empathy = 2\naliases=['x']\n",
            "maps to both",
        ),
        ("[clusters.a\n", "not valid TOML"),
    ],
)
def test_bad_profiles_are_refused_clearly(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert fragment in info.value.message

"""Atomic outputs: all files or none, nothing temporary left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_eval._io import atomic_directory, atomic_write_text


def test_new_directory_appears_whole(tmp_path: Path) -> None:
    out = tmp_path / "res"
    with atomic_directory(out) as staging:
        (staging / "a.txt").write_text("1")
        assert not out.exists()
        (staging / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "res"
    with pytest.raises(RuntimeError), atomic_directory(out) as staging:
        (staging / "a.txt").write_text("1")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_keeps_old_files_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "res"
    out.mkdir()
    (out / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(out) as staging:
        (staging / "a.txt").write_text("new")
        raise RuntimeError("boom")
    assert (out / "a.txt").read_text() == "old"
    with atomic_directory(out) as staging:
        (staging / "a.txt").write_text("new")
    assert (out / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["res"]


def test_atomic_write_text_respects_umask(tmp_path: Path) -> None:
    path = tmp_path / "x" / "f.txt"
    atomic_write_text(path, "hello")
    assert path.read_text() == "hello"
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600

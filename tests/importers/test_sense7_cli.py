"""`edge-eval import sense7`: exact output, exit codes, nothing identifying in the output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sense7_workbook import PLANTED_PID, PLANTED_TEXT, message_row, task_row, write_workbook

if TYPE_CHECKING:
    from conftest import RunCli


def _workbook(tmp_path: Path) -> Path:
    tasks = [
        # junk in the columns that are never read must not matter
        task_row(1, importance=PLANTED_TEXT, experience=(PLANTED_TEXT, None)),
        task_row(2, choice="Astrology"),
        task_row(3),
    ]
    messages = [
        message_row(1, 1, "user", "hi " + PLANTED_TEXT),
        message_row(1, 2, "assistant", "hello", overall=4),
        message_row(2, 1, "user", "hi"),
        message_row(2, 2, "assistant", "hey", dims=(3,) * 7),
        message_row(9, 1, "user", "orphan"),
    ]
    return write_workbook(tmp_path / "s.xlsx", tasks, messages)


def test_import_sense7_prints_counts(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "c.jsonl"
    code, stdout, err = run_cli("import", "sense7", str(_workbook(tmp_path)), "--out", str(out))
    assert code == 0, err
    assert stdout.splitlines() == [
        "Wrote 2 conversation(s) with 2 assistant turn(s), 2 of them labelled.",
        "  1 turn label(s) taken from EmpathyOverall (7 dims N/A)",
        "  1 PreTaskChoice value(s) not in the profile (no task)",
        "  1 task(s) without an assistant message, left out",
        "  1 message(s) whose TaskId is not in Tasks, left out",
    ]
    assert PLANTED_PID not in out.read_text(encoding="utf-8")
    assert str(tmp_path) not in stdout + err


def test_import_sense7_json(tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "c.jsonl"
    argv = ["import", "sense7", str(_workbook(tmp_path)), "--out", str(out), "--json"]
    code, stdout, err = run_cli(*argv)
    assert code == 0, err
    assert json.loads(stdout)["conversations"] == 2


def test_import_sense7_error_exit(tmp_path: Path, run_cli: RunCli) -> None:
    src = write_workbook(tmp_path / "s.xlsx", [task_row(1, desired=PLANTED_TEXT)], [])
    out = tmp_path / "c.jsonl"
    code, stdout, err = run_cli("import", "sense7", str(src), "--out", str(out))
    assert code == 4
    assert err.splitlines() == [
        "Error: sheet 'Tasks', row 2, column 'PreTaskDesiredEmpathy': "
        "expected a number or N/A, found text",
        "Hint: Fix that cell in the workbook (ratings are numbers or N/A).",
    ]
    assert not out.exists()

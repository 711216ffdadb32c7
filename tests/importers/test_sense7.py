"""The SENSE-7 importer on small synthetic workbooks with the real sheet and column names."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sense7_workbook import (
    DIMENSIONS,
    MESSAGE_HEADER,
    PLANTED_PID,
    PLANTED_TEXT,
    TASK_HEADER,
    message_row,
    task_row,
    write_workbook,
)

from edge_eval.conversations import iter_conversations
from edge_eval.errors import InputError
from edge_eval.importers import import_sense7

R = ("N/A",) * 7


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def workbook(tmp_path: Path) -> Path:
    tasks = [
        # Learning via the cluster's label; desired 2; perceived mean(4, 5) = 4.5
        task_row("T-A", choice="Learning skills", desired=2, empathy=(4, 5)),
        # An alias; desired N/A; perceived from one item (other N/A)
        task_row(17, choice="writing", desired="N/A", empathy=("n/a", 2), model=None),
        # An unknown choice: written without task, counted
        task_row("T-C", choice="Astrology", desired=3, empathy=(None, None)),
        # No messages at all: left out, counted
        task_row("T-D"),
    ]
    messages = [
        # Rows out of order: MessageId orders them (2 before 1 in the sheet).
        message_row(
            "T-A", 2, "Assistant", "Here is a plan.", overall=5, dims=(4, 5, "N/A", 3, "", None, 4)
        ),
        message_row("T-A", 1, "User", "I want to learn " + PLANTED_TEXT, dims=(1,) * 7),
        message_row("T-A", 3, "user", "Thanks"),
        # All seven N/A: falls back to EmpathyOverall = 3
        message_row("T-A", 4, "assistant", "You're welcome.", overall=3, dims=R),
        # TaskId given as a number in both sheets (17 and 17.0 are the same task)
        message_row(17.0, "m1", "user", "Fix my paragraph", offset=12.5),
        # text MessageIds: ordered by TimeOffsetSeconds instead
        message_row(17, "m0", "user", "Hello", offset=1),
        message_row(17, "m2", "ai", 42, offset=30, overall="N/A", dims=R),  # no label at all
        message_row("T-C", 1, "user", "What is my sign?"),
        message_row("T-C", 2, "assistant", "Aries.", dims=(2, 2, 2, 2, 2, 2, 5)),
        message_row("T-unknown", 1, "user", "orphan"),  # TaskId not in Tasks: left out
    ]
    return write_workbook(tmp_path / "sense7.xlsx", tasks, messages)


def test_import_writes_the_project_jsonl(workbook: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "conversations.jsonl"
    result = import_sense7(workbook, out)
    lines = _lines(out)
    assert [line["id"] for line in lines] == ["sense7-00001", "sense7-00002", "sense7-00003"]

    a, b, c = lines
    assert a["task"] == "learning_skills"
    assert a["desired_empathy"] == 2
    assert a["perceived_empathy"] == 4.5
    assert a["meta"] == {"dataset": "sense-7", "model": "gpt-4o"}
    assert [m["role"] for m in a["messages"]] == ["user", "assistant", "user", "assistant"]
    assert a["messages"][0] == {"role": "user", "content": "I want to learn " + PLANTED_TEXT}
    # mean of 4, 5, 3, 4 (N/A, "" and empty left out) = 4; EmpathyOverall (5) not used
    assert a["messages"][1] == {"role": "assistant", "content": "Here is a plan.", "empathy": 4}
    assert a["messages"][3]["empathy"] == 3  # fallback to EmpathyOverall

    assert b["task"] == "work_assignment_writing"
    assert "desired_empathy" not in b
    assert b["perceived_empathy"] == 2
    assert b["meta"] == {"dataset": "sense-7"}
    assert [m["content"] for m in b["messages"]] == ["Hello", "Fix my paragraph", "42"]
    assert "empathy" not in b["messages"][2]

    assert "task" not in c
    assert c["desired_empathy"] == 3
    assert "perceived_empathy" not in c
    assert c["messages"][1]["empathy"] == pytest.approx(17 / 7, abs=1e-4)

    assert result.conversations == 3
    assert result.assistant_turns == 4
    assert result.labelled_turns == 3
    assert result.overall_fallback_turns == 1
    assert result.with_desired == 2
    assert result.with_perceived == 2
    assert result.with_task == 2
    assert result.unknown_task_choices == 1
    assert result.tasks_without_turns == 1
    assert result.orphan_messages == 1
    assert result.user_ratings_dropped == 1

    # The output is valid input for the project's loader.
    loaded = list(iter_conversations(out))
    assert [conv.task for conv in loaded] == ["learning_skills", "work_assignment_writing", None]
    assert loaded[0].messages[1].empathy == 4.0

    # Neither PID nor TaskId leaves.
    text = out.read_text(encoding="utf-8")
    assert PLANTED_PID not in text
    assert "T-A" not in text and "T-C" not in text


def test_output_is_replaced_atomically(workbook: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    out.write_text("old\n", encoding="utf-8")
    import_sense7(workbook, out)
    assert out.read_text(encoding="utf-8") != "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl", "sense7.xlsx"]


def _error(tmp_path: Path, tasks: list, messages: list, **kwargs: object) -> InputError:
    src = write_workbook(tmp_path / "bad.xlsx", tasks, messages, **kwargs)
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError) as info:
        import_sense7(src, out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.xlsx"]  # no temporary file left
    message = str(info.value)
    assert PLANTED_PID not in message and PLANTED_TEXT not in message
    return info.value


def test_missing_sheets_are_all_named(tmp_path: Path) -> None:
    err = _error(tmp_path, [], [], sheets=("Tasks",))
    assert err.message == "the workbook lacks the sheet(s): Messages"
    assert "'Tasks' and 'Messages'" in err.hint
    (tmp_path / "bad.xlsx").unlink()
    err = _error(tmp_path, [], [], sheets=())
    assert err.message == "the workbook lacks the sheet(s): Tasks, Messages"


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    header = [h for h in MESSAGE_HEADER if h not in ("Affective", "Relational", "Role")]
    err = _error(tmp_path, [task_row(1)], [], message_header=header)
    assert err.message == "sheet 'Messages' lacks the column(s): Role, Affective, Relational"
    (tmp_path / "bad.xlsx").unlink()
    header = [h for h in TASK_HEADER if h != "PreTaskDesiredEmpathy"]
    err = _error(tmp_path, [], [], task_header=header)
    assert err.message == "sheet 'Tasks' lacks the column(s): PreTaskDesiredEmpathy"


@pytest.mark.parametrize(
    ("dims", "column", "expected"),
    [
        (
            (4, "very " + PLANTED_TEXT) + ("N/A",) * 5,
            "Cognitive",
            "expected a number or N/A, found text",
        ),
        ((4, 6) + ("N/A",) * 5, "Cognitive", "value out of range: expected 1 to 5 or N/A"),
        ((0,) + ("N/A",) * 6, "Affective", "value out of range: expected 1 to 5 or N/A"),
        (("N/A",) * 6 + (True,), "Relational", "expected a number, found a boolean"),
        (
            ("N/A",) * 2 + (dt.datetime(2024, 1, 2),) + ("N/A",) * 4,
            "Response",
            "expected a number or N/A, found a date or time",
        ),
    ],
)
def test_bad_rating_cells_name_sheet_row_and_column(
    tmp_path: Path, dims: tuple, column: str, expected: str
) -> None:
    messages = [
        message_row(1, 1, "user", "hi"),
        message_row(1, 2, "assistant", "hello", dims=dims),
    ]
    err = _error(tmp_path, [task_row(1)], messages)
    assert err.message == f"sheet 'Messages', row 3, column {column!r}: {expected}"
    assert err.exit_code == 4


def test_bad_task_cells(tmp_path: Path) -> None:
    err = _error(tmp_path, [task_row(1), task_row(2, desired=4)], [])
    assert err.message == (
        "sheet 'Tasks', row 3, column 'PreTaskDesiredEmpathy': "
        "value out of range: expected 1 to 3 or N/A"
    )
    (tmp_path / "bad.xlsx").unlink()
    err = _error(tmp_path, [task_row(1, empathy=(4, "lots"))], [])
    assert err.message == (
        "sheet 'Tasks', row 2, column 'PostTaskEmpathy_Cared': expected a number or N/A, found text"
    )
    (tmp_path / "bad.xlsx").unlink()
    err = _error(tmp_path, [task_row(PLANTED_PID), task_row(PLANTED_PID)], [])
    assert err.message == "sheet 'Tasks', row 3, column 'TaskId': the same TaskId as row 2"
    (tmp_path / "bad.xlsx").unlink()
    err = _error(tmp_path, [task_row(None)], [])
    assert err.message == "sheet 'Tasks', row 2, column 'TaskId': the cell is empty"


def test_unknown_role_is_refused_without_its_value(tmp_path: Path) -> None:
    messages = [message_row(1, 1, PLANTED_TEXT, "hi")]
    err = _error(tmp_path, [task_row(1)], messages)
    assert err.message.startswith("sheet 'Messages', row 2, column 'Role': expected one of ")
    assert err.message.endswith("found an unknown role")
    (tmp_path / "bad.xlsx").unlink()
    err = _error(tmp_path, [task_row(1)], [message_row(1, 1, None, "hi")])
    assert err.message.endswith("found an empty cell")


def test_not_a_workbook(tmp_path: Path) -> None:
    src = tmp_path / "fake.xlsx"
    src.write_text("PID,TaskId\n" + PLANTED_PID + ",1\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        import_sense7(src, tmp_path / "out.jsonl")
    assert info.value.message == "the file is not a readable .xlsx workbook"
    with pytest.raises(InputError, match="does not exist"):
        import_sense7(tmp_path / "missing.xlsx", tmp_path / "out.jsonl")


def test_header_case_and_spaces_are_ignored(tmp_path: Path) -> None:
    task_header = [h.upper() if h == "TaskId" else h for h in TASK_HEADER]
    message_header = [f" {h.lower()} " for h in MESSAGE_HEADER]
    src = write_workbook(
        tmp_path / "w.xlsx",
        [task_row(1)],
        [message_row(1, 1, "user", "hi"), message_row(1, 2, "assistant", "yo", dims=(5,) * 7)],
        task_header=task_header,
        message_header=message_header,
    )
    out = tmp_path / "o.jsonl"
    import_sense7(src, out)
    assert _lines(out)[0]["messages"][1]["empathy"] == 5


def test_dimensions_match_the_issue() -> None:
    from edge_eval.importers.sense7 import DIMENSIONS as SHIPPED

    assert SHIPPED == DIMENSIONS

"""Build small synthetic SENSE-7 workbooks (the real sheet and column names) with openpyxl."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

DIMENSIONS = (
    "Affective",
    "Cognitive",
    "Response",
    "Prosocial",
    "Interest",
    "Contextual",
    "Relational",
)
TASK_HEADER = (
    "PID",
    "Model",
    "TaskId",
    "PreTaskChoice",
    "PreTaskImportance",
    "PreTaskDesiredEmpathy",
    "PostTaskExperience_Satisfaction",
    "PostTaskExperience_Effort",
    "PostTaskEmpathy_Understood",
    "PostTaskEmpathy_Cared",
)
MESSAGE_HEADER = (
    "TaskId",
    "MessageId",
    "TimeOffsetSeconds",
    "Role",
    "Content",
    "EmpathyOverall",
    *DIMENSIONS,
)

#: A planted string in identifying cells: it must never appear in any output or error.
PLANTED_PID = "PID-zq7x-SECRET"
PLANTED_TEXT = "planted-content-9f3k"


def task_row(
    task_id: Any,
    *,
    pid: Any = PLANTED_PID,
    model: Any = "gpt-4o",
    choice: Any = "Learning skills",
    importance: Any = 3,
    desired: Any = 2,
    experience: Sequence[Any] = (4, 3),
    empathy: Sequence[Any] = (4, 5),
) -> list[Any]:
    return [pid, model, task_id, choice, importance, desired, *experience, *empathy]


def message_row(
    task_id: Any,
    message_id: Any,
    role: Any,
    content: Any,
    *,
    offset: Any = 0,
    overall: Any = "N/A",
    dims: Sequence[Any] = ("N/A",) * 7,
) -> list[Any]:
    return [task_id, message_id, offset, role, content, overall, *dims]


def write_workbook(
    path: Path,
    tasks: Sequence[Sequence[Any]],
    messages: Sequence[Sequence[Any]],
    *,
    task_header: Sequence[str] = TASK_HEADER,
    message_header: Sequence[str] = MESSAGE_HEADER,
    sheets: Sequence[str] = ("Tasks", "Messages"),
) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    if "Tasks" in sheets:
        sheet = workbook.create_sheet("Tasks")
        sheet.append(list(task_header))
        for row in tasks:
            sheet.append(list(row))
    if "Messages" in sheets:
        sheet = workbook.create_sheet("Messages")
        sheet.append(list(message_header))
        for row in messages:
            sheet.append(list(row))
    if not sheets:
        workbook.create_sheet("Other")
    workbook.save(path)
    return path

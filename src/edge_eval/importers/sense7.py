"""Import the SENSE-7 spreadsheet into conversations JSON Lines (DESIGN.md §3).

The workbook has two sheets (header in the first row, column names as below; letter case and
surrounding spaces in names are ignored):

``Tasks``, one row per conversation:
    PID, Model, TaskId, PreTaskChoice, PreTaskImportance, PreTaskDesiredEmpathy (1-3),
    PostTaskExperience_* and PostTaskEmpathy_* (1-5).
``Messages``, one row per message:
    TaskId, MessageId, TimeOffsetSeconds, Role, Content, EmpathyOverall and the seven
    dimensions Affective, Cognitive, Response, Prosocial, Interest, Contextual, Relational
    (1-5, or N/A).

Each task with at least one assistant message becomes one line::

    {"id": "sense7-00001", "task": "learning_skills", "desired_empathy": 2,
     "perceived_empathy": 3.5, "messages": [...], "meta": {"dataset": "sense-7", "model": "..."}}

- ``empathy`` of an assistant turn is the mean of the seven dimensions it has (N/A left out);
  where all seven are N/A it falls back to ``EmpathyOverall``; where that is N/A too the turn
  has no label. Ratings on user messages are not kept (the schema labels assistant turns only).
- ``desired_empathy`` is PreTaskDesiredEmpathy; ``perceived_empathy`` the mean of the
  PostTaskEmpathy_* items present.
- ``task`` is the cluster that PreTaskChoice names through the profile (cluster name, alias or
  label); a choice the profile does not know is written as no task and counted.
- Messages of a task are ordered by MessageId where every MessageId of the task is a number,
  else by TimeOffsetSeconds where every one is a number, else as they appear in the sheet.
- ids are a sequence (``sense7-00001`` ...) in the Tasks sheet's order: neither PID nor TaskId
  is written. PID, PreTaskImportance and PostTaskExperience_* are never read (the participant's
  identity and experience ratings are not needed by any stage); Model goes to ``meta``.

Errors name the sheet, row and column, never a cell's content. The output is written to a
temporary file beside ``out`` and renamed into place, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from edge_eval.errors import InputError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover
    from edge_eval.tasks.profile import Profile

__all__ = ["DIMENSIONS", "Sense7Import", "import_sense7"]

TASKS_SHEET = "Tasks"
MESSAGES_SHEET = "Messages"
#: The seven SENSE-7 empathy dimensions, as the Messages sheet names them.
DIMENSIONS = (
    "Affective",
    "Cognitive",
    "Response",
    "Prosocial",
    "Interest",
    "Contextual",
    "Relational",
)
TASK_COLUMNS = ("TaskId", "PreTaskChoice", "PreTaskDesiredEmpathy")
OPTIONAL_TASK_COLUMNS = ("Model",)
PERCEIVED_PREFIX = "PostTaskEmpathy_"
MESSAGE_COLUMNS = ("TaskId", "MessageId", "Role", "Content", "EmpathyOverall", *DIMENSIONS)
OPTIONAL_MESSAGE_COLUMNS = ("TimeOffsetSeconds",)
MISSING_MARKERS = frozenset({"", "n/a", "na", "n.a.", "none", "null", "-"})
ROLE_NAMES = {
    "user": "user",
    "human": "user",
    "participant": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "chatbot": "assistant",
    "model": "assistant",
    "llm": "assistant",
    "system": "system",
}
ID_PREFIX = "sense7-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sense7Import:
    """What an import wrote and left out (counts only).

    Attributes:
        conversations: lines written.
        assistant_turns: assistant turns written.
        labelled_turns: assistant turns with an ``empathy`` label.
        overall_fallback_turns: labelled turns whose seven dimensions were all N/A, labelled
            from EmpathyOverall instead.
        with_desired: conversations with ``desired_empathy``.
        with_perceived: conversations with ``perceived_empathy``.
        with_task: conversations whose PreTaskChoice resolved to a cluster.
        unknown_task_choices: conversations whose PreTaskChoice the profile does not know.
        tasks_without_turns: Tasks rows left out because they had no assistant message with text.
        orphan_messages: Messages rows whose TaskId is not in the Tasks sheet (left out).
        user_ratings_dropped: non-assistant messages whose ratings were not kept.
    """

    conversations: int
    assistant_turns: int
    labelled_turns: int
    overall_fallback_turns: int
    with_desired: int
    with_perceived: int
    with_task: int
    unknown_task_choices: int
    tasks_without_turns: int
    orphan_messages: int
    user_ratings_dropped: int


# ----------------------------------------------------------------------------- cells


def _where(sheet: str, row: int, column: str) -> str:
    return f"sheet {sheet!r}, row {row}, column {column!r}"


def _cell_error(sheet: str, row: int, column: str, message: str, category: str) -> InputError:
    return InputError(
        f"{_where(sheet, row, column)}: {message}",
        category=category,
        hint="Fix that cell in the workbook (ratings are numbers or N/A).",
    )


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "text"
    if isinstance(value, _dt.datetime | _dt.date | _dt.time | _dt.timedelta):
        return "a date or time"
    if isinstance(value, int | float):
        return "a number"
    return "a value of another type"


def _number(value: object, sheet: str, row: int, column: str) -> float | None:
    """A numeric cell: a number, a numeric string, or a missing marker (None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _cell_error(sheet, row, column, "expected a number, found a boolean", "wrong_type")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.casefold() in MISSING_MARKERS:
            return None
        try:
            number = float(text)
        except ValueError:
            raise _cell_error(
                sheet, row, column, "expected a number or N/A, found text", "wrong_type"
            ) from None
    else:
        raise _cell_error(
            sheet, row, column, f"expected a number or N/A, found {_kind(value)}", "wrong_type"
        )
    if not math.isfinite(number):
        raise _cell_error(sheet, row, column, "expected a finite number", "out_of_range")
    return number


def _rating(value: object, sheet: str, row: int, column: str, high: int) -> float | None:
    number = _number(value, sheet, row, column)
    if number is not None and not 1.0 <= number <= high:
        raise _cell_error(
            sheet, row, column, f"value out of range: expected 1 to {high} or N/A", "out_of_range"
        )
    return number


def _key(value: object, sheet: str, row: int, column: str) -> str:
    """An identifier cell (TaskId) as a string key; 7, 7.0 and "7" are the same task."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _cell_error(sheet, row, column, "the cell is empty", "missing_field")
    if isinstance(value, bool):
        raise _cell_error(sheet, row, column, "expected an id, found a boolean", "wrong_type")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value).strip()
    raise _cell_error(sheet, row, column, f"expected an id, found {_kind(value)}", "wrong_type")


def _text(value: object, sheet: str, row: int, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a message that was only a number, stored as one by the spreadsheet
    raise _cell_error(sheet, row, column, f"expected text, found {_kind(value)}", "wrong_type")


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


def _compact(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


# ----------------------------------------------------------------------------- sheets


def _open_workbook(src: Path) -> Any:
    try:
        import openpyxl
    except ImportError as exc:  # pragma: no cover - openpyxl is in the test environment
        raise MissingDependencyError("openpyxl", "import") from exc
    import zipfile

    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(src, read_only=True, data_only=True)
    except FileNotFoundError as exc:
        raise InputError(
            "the workbook does not exist", category="unreadable", hint="Check the path."
        ) from exc
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(
            "the file is not a readable .xlsx workbook",
            category="unreadable",
            hint="Pass the SENSE-7 spreadsheet (.xlsx) as distributed.",
        ) from exc


def _sheet_rows(
    workbook: Any, sheet: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, int], Iterator[tuple[int, tuple[Any, ...]]]]:
    """Column positions (required, other) and an iterator of (row number, values)."""
    worksheet = workbook[_sheet_name(workbook, sheet)]
    rows = worksheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise InputError(
            f"sheet {sheet!r} is empty: it has no header row",
            category="missing_field",
            hint="The first row of each sheet names its columns.",
        )
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if isinstance(name, str) and name.strip():
            positions.setdefault(name.strip().casefold(), index)
    missing = [c for c in required if c.casefold() not in positions]
    if missing:
        raise InputError(
            f"sheet {sheet!r} lacks the column(s): {', '.join(missing)}",
            category="missing_field",
            hint=f"The {sheet!r} sheet needs the columns: {', '.join(required)}.",
        )
    cols = {c: positions[c.casefold()] for c in required}
    extra = {c: positions[c.casefold()] for c in optional if c.casefold() in positions}
    perceived = {
        # the item names in the header (structure, not content)
        str(name).strip(): index
        for index, name in enumerate(header)
        if isinstance(name, str) and name.strip().casefold().startswith(PERCEIVED_PREFIX.casefold())
    }
    extra.update(perceived)

    def numbered() -> Iterator[tuple[int, tuple[Any, ...]]]:
        for number, values in enumerate(rows, start=2):
            if values is None or all(
                v is None or (isinstance(v, str) and not v.strip()) for v in values
            ):
                continue
            yield number, values

    return cols, extra, numbered()


def _sheet_name(workbook: Any, wanted: str) -> str:
    for name in workbook.sheetnames:
        if name.strip().casefold() == wanted.casefold():
            return str(name)
    missing = [
        s
        for s in (TASKS_SHEET, MESSAGES_SHEET)
        if not any(n.strip().casefold() == s.casefold() for n in workbook.sheetnames)
    ]
    raise InputError(
        f"the workbook lacks the sheet(s): {', '.join(missing)}",
        category="missing_field",
        hint=f"A SENSE-7 workbook has the sheets {TASKS_SHEET!r} and {MESSAGES_SHEET!r}.",
    )


def _cell(values: tuple[Any, ...], index: int) -> Any:
    return values[index] if index < len(values) else None


@dataclass(slots=True)
class _Task:
    row: int
    choice: str | None
    desired: float | None
    perceived: float | None
    model: str | None


@dataclass(slots=True)
class _Msg:
    row: int
    message_id: float | None
    offset: float | None
    role: str
    content: str
    empathy: float | None
    fallback: bool
    rated: bool


def _read_tasks(workbook: Any) -> dict[str, _Task]:
    cols, extra, rows = _sheet_rows(workbook, TASKS_SHEET, TASK_COLUMNS, OPTIONAL_TASK_COLUMNS)
    perceived_cols = [(n, i) for n, i in extra.items() if n not in OPTIONAL_TASK_COLUMNS]
    tasks: dict[str, _Task] = {}
    for number, values in rows:
        task_id = _key(_cell(values, cols["TaskId"]), TASKS_SHEET, number, "TaskId")
        if task_id in tasks:
            raise _cell_error(
                TASKS_SHEET,
                number,
                "TaskId",
                f"the same TaskId as row {tasks[task_id].row}",
                "duplicate",
            )
        choice = _cell(values, cols["PreTaskChoice"])
        if choice is not None and not isinstance(choice, str | int | float):
            raise _cell_error(
                TASKS_SHEET,
                number,
                "PreTaskChoice",
                f"expected text, found {_kind(choice)}",
                "wrong_type",
            )
        desired = _rating(
            _cell(values, cols["PreTaskDesiredEmpathy"]),
            TASKS_SHEET,
            number,
            "PreTaskDesiredEmpathy",
            high=3,
        )
        items = [
            _rating(_cell(values, index), TASKS_SHEET, number, name, high=5)
            for name, index in perceived_cols
        ]
        present = [v for v in items if v is not None]
        model = _cell(values, extra["Model"]) if "Model" in extra else None
        tasks[task_id] = _Task(
            row=number,
            choice=None if choice is None or not str(choice).strip() else str(choice).strip(),
            desired=desired,
            perceived=_mean(present) if present else None,
            model=None if model is None or not str(model).strip() else str(model).strip(),
        )
    return tasks


def _read_messages(workbook: Any, tasks: dict[str, _Task]) -> tuple[dict[str, list[_Msg]], int]:
    cols, extra, rows = _sheet_rows(
        workbook, MESSAGES_SHEET, MESSAGE_COLUMNS, OPTIONAL_MESSAGE_COLUMNS
    )
    by_task: dict[str, list[_Msg]] = {}
    orphans = 0
    for number, values in rows:
        task_id = _key(_cell(values, cols["TaskId"]), MESSAGES_SHEET, number, "TaskId")
        raw_role = _cell(values, cols["Role"])
        if not isinstance(raw_role, str) or raw_role.strip().casefold() not in ROLE_NAMES:
            found = "an empty cell" if raw_role is None else _kind(raw_role)
            if isinstance(raw_role, str):
                found = "an unknown role"
            raise _cell_error(
                MESSAGES_SHEET,
                number,
                "Role",
                f"expected one of {', '.join(sorted(ROLE_NAMES))}, found {found}",
                "unknown_role",
            )
        role = ROLE_NAMES[raw_role.strip().casefold()]
        content = _text(_cell(values, cols["Content"]), MESSAGES_SHEET, number, "Content")
        dims = [
            _rating(_cell(values, cols[d]), MESSAGES_SHEET, number, d, high=5) for d in DIMENSIONS
        ]
        overall = _rating(
            _cell(values, cols["EmpathyOverall"]), MESSAGES_SHEET, number, "EmpathyOverall", high=5
        )
        message_id = _sort_number(_cell(values, cols["MessageId"]))
        offset = None
        if "TimeOffsetSeconds" in extra:
            offset = _sort_number(_cell(values, extra["TimeOffsetSeconds"]))
        if task_id not in tasks:
            orphans += 1
            continue
        present = [d for d in dims if d is not None]
        empathy = _mean(present) if present else overall
        by_task.setdefault(task_id, []).append(
            _Msg(
                row=number,
                message_id=message_id,
                offset=offset,
                role=role,
                content=content,
                empathy=empathy,
                fallback=not present and overall is not None,
                rated=empathy is not None,
            )
        )
    return by_task, orphans


def _sort_number(value: object) -> float | None:
    """A number to order messages by, or None (text ids such as "m3" order by other means)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _ordered(messages: list[_Msg]) -> list[_Msg]:
    if all(m.message_id is not None for m in messages):
        return sorted(messages, key=lambda m: (m.message_id, m.row))
    if all(m.offset is not None for m in messages):
        return sorted(messages, key=lambda m: (m.offset, m.row))
    return sorted(messages, key=lambda m: m.row)


# ----------------------------------------------------------------------------- the stage


def _resolve(profile: Profile, choice: str) -> str | None:
    from edge_eval.tasks.profile import normalise_task_name

    cluster = profile.resolve_task(choice)
    if cluster is not None:
        return cluster
    norm = normalise_task_name(choice)
    for spec in profile.clusters:  # the label as the study's form wrote it
        if normalise_task_name(spec.label) == norm:
            return spec.name
    return None


def import_sense7(
    src: Path | str, out: Path | str, *, profile: Profile | None = None
) -> Sense7Import:
    """Convert the SENSE-7 workbook ``src`` into conversations JSON Lines at ``out``.

    Args:
        src: the ``.xlsx`` workbook with the sheets Tasks and Messages.
        out: the JSON Lines file to write (replaced atomically).
        profile: the task profile whose clusters and aliases map PreTaskChoice (default: the
            profile shipped with edge-eval).

    Raises:
        InputError: a sheet or column is missing, or a cell has the wrong type or range (the
            message names sheet, row and column).
    """
    from edge_eval.tasks.profile import load_profile

    profile = profile if profile is not None else load_profile(None)
    workbook = _open_workbook(Path(src))
    try:
        _sheet_name(workbook, TASKS_SHEET)  # report both missing sheets in one error
        tasks = _read_tasks(workbook)
        messages, orphans = _read_messages(workbook, tasks)
    finally:
        workbook.close()

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    counts = {f.name: 0 for f in dataclasses.fields(Sense7Import)}
    counts["orphan_messages"] = orphans
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            _write(handle, tasks, messages, profile, counts)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Sense7Import(**counts)


def _write(
    handle: IO[str],
    tasks: dict[str, _Task],
    messages: dict[str, list[_Msg]],
    profile: Profile,
    counts: dict[str, int],
) -> None:
    for task_id, task in tasks.items():
        turns = _ordered(messages.get(task_id, []))
        if not any(m.role == "assistant" and m.content.strip() for m in turns):
            counts["tasks_without_turns"] += 1
            continue
        record: dict[str, Any] = {"id": f"{ID_PREFIX}{counts['conversations'] + 1:05d}"}
        if task.choice is not None:
            cluster = _resolve(profile, task.choice)
            if cluster is None:
                counts["unknown_task_choices"] += 1
            else:
                record["task"] = cluster
                counts["with_task"] += 1
        if task.desired is not None:
            record["desired_empathy"] = _compact(task.desired)
            counts["with_desired"] += 1
        if task.perceived is not None:
            record["perceived_empathy"] = _compact(task.perceived)
            counts["with_perceived"] += 1
        out_messages = []
        for m in turns:
            message: dict[str, Any] = {"role": m.role, "content": m.content}
            if m.role == "assistant":
                if m.content.strip():
                    counts["assistant_turns"] += 1
                if m.empathy is not None:
                    message["empathy"] = _compact(m.empathy)
                    if m.content.strip():
                        counts["labelled_turns"] += 1
                        counts["overall_fallback_turns"] += int(m.fallback)
            elif m.rated:
                counts["user_ratings_dropped"] += 1
            out_messages.append(message)
        record["messages"] = out_messages
        meta: dict[str, Any] = {"dataset": "sense-7"}
        if task.model is not None:
            meta["model"] = task.model
        record["meta"] = meta
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        counts["conversations"] += 1

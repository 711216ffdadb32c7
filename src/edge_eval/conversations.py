"""Conversations: the JSON Lines schema, a streaming loader, and errors by line and field.

One conversation per line (DESIGN.md §3)::

    {"id": "c1", "task": "learning_skills", "desired_empathy": 2, "perceived_empathy": 3.5,
     "messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": "...", "empathy": 4}],
     "meta": {...}}

Only ``messages`` is required, so a plain OpenAI-style ``{"messages": [...]}`` line works as it
is. Files are read line by line: memory does not grow with the number of conversations.

Errors name the file (its base name, as given), the line and the field, and never quote the
content: not a value, not an unknown key, not a snippet around a JSON syntax error.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from edge_eval.errors import InputError
from edge_eval.reward.base import TurnInput

__all__ = [
    "Conversation",
    "LoadStats",
    "Message",
    "OnError",
    "iter_conversations",
    "load_conversations",
    "turn_inputs",
]

#: A line longer than this is refused without being parsed (override with max_line_bytes).
DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
#: Roles whose text is shown to the user and so forms a scored turn's context.
CONTEXT_ROLES = ("user", "assistant")
TOP_LEVEL_FIELDS = (
    "id",
    "task",
    "desired_empathy",
    "perceived_empathy",
    "messages",
    "meta",
    # accepted from OpenAI fine-tuning files and ignored
    "tools",
    "parallel_tool_calls",
)
MESSAGE_FIELDS = (
    "role",
    "content",
    "empathy",
    # accepted from OpenAI-style messages and ignored
    "name",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "refusal",
    "weight",
)


class OnError(str, Enum):
    """What to do with a bad line."""

    FAIL = "fail"
    SKIP = "skip"


class Category(str, Enum):
    """Why a line was refused (fixed labels: safe to print and to count)."""

    EMPTY_FILE = "empty_file"
    BINARY = "binary"
    INVALID_UTF8 = "invalid_utf8"
    LINE_TOO_LONG = "line_too_long"
    MALFORMED_JSON = "malformed_json"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    UNKNOWN_ROLE = "unknown_role"
    OUT_OF_RANGE = "out_of_range"
    NO_ASSISTANT_TURN = "no_assistant_turn"
    UNKNOWN_TASK = "unknown_task"


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message. ``empathy`` is a person's 1-5 rating of an assistant turn, if any."""

    role: str
    content: str
    empathy: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """One validated conversation. Stays in memory: it has no serialiser.

    Attributes:
        source: the file's base name (for error messages on the local terminal only).
        line: 1-based line number in that file.
        id: the caller's identifier, if any (never written anywhere).
        task: the caller's task label (a cluster name or a profile alias), if any.
        desired_empathy: desired empathy on 1-3, if given.
        perceived_empathy: a person's rating of the whole conversation on 1-5, if given.
        messages: the messages in order.
        meta: free caller data (never read by edge-eval, never written).
    """

    source: str
    line: int
    id: str | None
    task: str | None
    desired_empathy: float | None
    perceived_empathy: float | None
    messages: tuple[Message, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def assistant_turns(self) -> tuple[Message, ...]:
        """The assistant messages that have text: the turns that get scored."""
        return tuple(m for m in self.messages if m.role == "assistant" and m.content.strip())

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("Conversation holds conversation text and is not serialisable")


@dataclass(slots=True)
class LoadStats:
    """Counts kept while loading: lines read, conversations accepted, lines skipped by why."""

    lines: int = 0
    accepted: int = 0
    bytes_read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def turn_inputs(conversation: Conversation) -> list[TurnInput]:
    """One :class:`TurnInput` per scored assistant turn, each with the visible turns before it."""
    out: list[TurnInput] = []
    context: list[tuple[str, str]] = []
    for message in conversation.messages:
        if message.role not in CONTEXT_ROLES or not message.content.strip():
            continue
        if message.role == "assistant":
            out.append(TurnInput(context=tuple(context), response=message.content))
        context.append((message.role, message.content))
    return out


def load_conversations(
    path: Path | str,
    *,
    on_error: OnError | str = OnError.FAIL,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> list[Conversation]:
    """Load a whole file into a list (small files; use :func:`iter_conversations` to stream)."""
    return list(iter_conversations(path, on_error=on_error, max_line_bytes=max_line_bytes))


def iter_conversations(
    path: Path | str,
    *,
    on_error: OnError | str = OnError.FAIL,
    stats: LoadStats | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    start: int = 0,
    stop: int | None = None,
    first_line: int = 1,
) -> Iterator[Conversation]:
    """Stream validated conversations from a JSON Lines file.

    With ``on_error="fail"`` the first bad line raises :class:`InputError`; with ``"skip"`` bad
    lines are counted in ``stats.skipped`` by category and left out. An empty file, or one with
    no valid conversation, is always an error.

    A byte range (``start`` at the beginning of line ``first_line``, ``stop`` at a line end)
    reads only the lines in it, for a shard of a distributed run; the whole-file checks (empty,
    no valid conversation) are then the driver's, which reads the whole file once.
    """
    mode = OnError(on_error)
    whole_file = start == 0 and stop is None
    path = Path(path)
    source = path.name
    stats = stats if stats is not None else LoadStats()
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(
            "cannot open the file",
            source=source,
            category="unreadable",
            hint="Check that the file exists and is readable.",
        ) from exc
    with handle:
        number = first_line - 1
        saw_content = False
        if start:
            handle.seek(start)
        while True:
            if stop is not None and handle.tell() >= stop:
                break
            raw = handle.readline(max_line_bytes + 1)
            if not raw:
                break
            number += 1
            stats.lines = number
            stats.bytes_read += len(raw)
            too_long = len(raw) > max_line_bytes and not raw.endswith(b"\n")
            if too_long:
                # Consume the rest of the line without keeping it.
                while True:
                    rest = handle.readline(1 << 20)
                    stats.bytes_read += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
            try:
                if too_long:
                    saw_content = True
                    raise InputError(
                        f"the line is longer than the limit of {max_line_bytes} bytes",
                        source=source,
                        line=number,
                        category=Category.LINE_TOO_LONG.value,
                        hint="Split the conversation, or raise the limit with --max-line-bytes.",
                    )
                if not raw.strip():
                    continue
                saw_content = True
                conversation = _parse_line(raw, source=source, line=number)
            except InputError as exc:
                if mode is OnError.FAIL:
                    raise
                stats.skipped[exc.category] += 1
                continue
            stats.accepted += 1
            yield conversation
    if not whole_file:
        return
    if not saw_content:
        raise InputError(
            "the file is empty: it holds no conversation",
            source=source,
            category=Category.EMPTY_FILE.value,
            hint="Pass a JSON Lines file with one conversation per line.",
        )
    if stats.accepted == 0:
        raise InputError(
            f"no valid conversation: all {number} lines were refused "
            f"({_describe_counts(stats.skipped)})",
            source=source,
            category="no_valid_conversation",
            hint="Run with --on-error fail to see the first bad line.",
        )


def _describe_counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def _parse_line(raw: bytes, *, source: str, line: int) -> Conversation:
    def fail(message: str, category: Category, where: str | None = None) -> InputError:
        return InputError(message, source=source, line=line, field=where, category=category.value)

    if b"\x00" in raw:
        raise fail(
            "binary content (NUL bytes): this is not a JSON Lines text file", Category.BINARY
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(
            f"invalid UTF-8 at byte {exc.start + 1} of the line", Category.INVALID_UTF8
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is a fixed phrase from the json module; exc.doc (the content) is never used.
        raise fail(
            f"malformed JSON ({exc.msg} at column {exc.colno})", Category.MALFORMED_JSON
        ) from None
    except RecursionError:
        raise fail("malformed JSON (nested too deeply)", Category.MALFORMED_JSON) from None
    if not isinstance(obj, dict):
        raise fail(f"expected a JSON object, found {_type_name(obj)}", Category.WRONG_TYPE)

    unknown = [k for k in obj if k not in TOP_LEVEL_FIELDS]
    if unknown:
        raise fail(
            f"{len(unknown)} unknown field(s); valid fields are: {', '.join(TOP_LEVEL_FIELDS)}",
            Category.UNKNOWN_FIELD,
        )
    if "messages" not in obj:
        raise fail("required field is missing", Category.MISSING_FIELD, "messages")

    conv_id = obj.get("id")
    if conv_id is not None and (isinstance(conv_id, bool) or not isinstance(conv_id, str | int)):
        raise fail(
            f"expected a string or integer, found {_type_name(conv_id)}", Category.WRONG_TYPE, "id"
        )
    task = obj.get("task")
    if task is not None and not isinstance(task, str):
        raise fail(f"expected a string, found {_type_name(task)}", Category.WRONG_TYPE, "task")
    desired = _number(obj, "desired_empathy", 1.0, 3.0, fail)
    perceived = _number(obj, "perceived_empathy", 1.0, 5.0, fail)
    meta = obj.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise fail(f"expected an object, found {_type_name(meta)}", Category.WRONG_TYPE, "meta")

    raw_messages = obj["messages"]
    if not isinstance(raw_messages, list):
        raise fail(
            f"expected a list, found {_type_name(raw_messages)}", Category.WRONG_TYPE, "messages"
        )
    messages = tuple(_message(m, i, fail) for i, m in enumerate(raw_messages))
    if not any(m.role == "assistant" and m.content.strip() for m in messages):
        raise fail(
            "the conversation has no assistant turn with text to score",
            Category.NO_ASSISTANT_TURN,
            "messages",
        )
    return Conversation(
        source=source,
        line=line,
        id=None if conv_id is None else str(conv_id),
        task=task.strip() if isinstance(task, str) and task.strip() else None,
        desired_empathy=desired,
        perceived_empathy=perceived,
        messages=messages,
        meta=meta,
    )


def _message(obj: object, index: int, fail: Any) -> Message:
    where = f"messages[{index}]"
    if not isinstance(obj, dict):
        raise fail(f"expected an object, found {_type_name(obj)}", Category.WRONG_TYPE, where)
    unknown = [k for k in obj if k not in MESSAGE_FIELDS]
    if unknown:
        raise fail(
            f"{len(unknown)} unknown field(s); valid fields are: {', '.join(MESSAGE_FIELDS)}",
            Category.UNKNOWN_FIELD,
            where,
        )
    if "role" not in obj:
        raise fail("required field is missing", Category.MISSING_FIELD, f"{where}.role")
    role = obj["role"]
    if not isinstance(role, str):
        raise fail(
            f"expected a string, found {_type_name(role)}", Category.WRONG_TYPE, f"{where}.role"
        )
    if role not in ROLES:
        raise fail(
            f"unknown role; valid roles are: {', '.join(ROLES)}",
            Category.UNKNOWN_ROLE,
            f"{where}.role",
        )
    content = _content(obj, where, fail)
    empathy = _number(obj, "empathy", 1.0, 5.0, fail, where=f"{where}.empathy")
    if empathy is not None and role != "assistant":
        raise fail(
            "only assistant messages carry an empathy rating",
            Category.WRONG_TYPE,
            f"{where}.empathy",
        )
    return Message(role=role, content=content, empathy=empathy)


def _content(obj: dict[str, Any], where: str, fail: Any) -> str:
    if "content" not in obj:
        if obj.get("tool_calls") or obj.get("function_call"):
            return ""
        raise fail("required field is missing", Category.MISSING_FIELD, f"{where}.content")
    content = obj["content"]
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text parts
        texts = []
        for k, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise fail(
                    "expected a content part object with a 'type'",
                    Category.WRONG_TYPE,
                    f"{where}.content[{k}]",
                )
            if part["type"] == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise fail(
                        f"expected a string, found {_type_name(text)}",
                        Category.WRONG_TYPE,
                        f"{where}.content[{k}].text",
                    )
                texts.append(text)
        return "\n".join(texts)
    raise fail(
        f"expected a string or a list of parts, found {_type_name(content)}",
        Category.WRONG_TYPE,
        f"{where}.content",
    )


def _number(
    obj: dict[str, Any], key: str, low: float, high: float, fail: Any, *, where: str | None = None
) -> float | None:
    where = where or key
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(
            f"expected a number from {low:g} to {high:g}, found {_type_name(value)}",
            Category.WRONG_TYPE,
            where,
        )
    if not math.isfinite(value) or not low <= value <= high:
        raise fail(
            f"value out of range: expected {low:g} to {high:g}", Category.OUT_OF_RANGE, where
        )
    return float(value)


def _type_name(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), "a value")

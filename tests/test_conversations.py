"""The conversation loader: formats accepted, every kind of bad input, streaming."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from edge_eval.conversations import LoadStats, iter_conversations, load_conversations, turn_inputs
from edge_eval.errors import InputError

SECRET = "PLANTED-7f3a9c-SECRET"


def write(tmp_path: Path, lines: list[str | bytes], name: str = "convs.jsonl") -> Path:
    path = tmp_path / name
    with path.open("wb") as handle:
        for line in lines:
            handle.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            handle.write(b"\n")
    return path


def good(**extra: object) -> str:
    obj: dict[str, object] = {
        "id": "c1",
        "task": "learning_skills",
        "desired_empathy": 2,
        "perceived_empathy": 3.5,
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi there", "empathy": 4},
        ],
        "meta": {"anything": [1, 2]},
    }
    obj.update(extra)
    return json.dumps(obj)


def test_full_line_parses_with_every_field(tmp_path: Path) -> None:
    [conv] = load_conversations(write(tmp_path, [good()]))
    assert conv.line == 1
    assert conv.id == "c1"
    assert conv.task == "learning_skills"
    assert conv.desired_empathy == 2.0
    assert conv.perceived_empathy == 3.5
    assert [m.role for m in conv.messages] == ["user", "assistant"]
    assert conv.messages[1].empathy == 4.0
    assert len(conv.assistant_turns) == 1


def test_plain_openai_line_and_content_parts(tmp_path: Path) -> None:
    line = json.dumps(
        {
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
                {"role": "tool", "content": "result", "tool_call_id": "x"},
                {"role": "assistant", "content": "b", "name": "bot"},
            ]
        }
    )
    [conv] = load_conversations(write(tmp_path, [line, ""]))
    assert conv.task is None and conv.id is None
    assert conv.messages[1].content == "a"
    turns = turn_inputs(conv)
    assert len(turns) == 1  # the tool-call message has no text: not a scored turn
    assert turns[0].context == (("user", "a"),)  # system and tool text are not context
    assert turns[0].response == "b"


def test_turn_inputs_carry_preceding_visible_turns(tmp_path: Path) -> None:
    msgs = [
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
    [conv] = load_conversations(write(tmp_path, [json.dumps({"messages": msgs})]))
    first, second = turn_inputs(conv)
    assert first.context == (("user", "u1"),)
    assert second.context == (("user", "u1"), ("assistant", "a1"), ("user", "u2"))


BAD_LINES = [
    # (line, category, field or None, message fragment)
    ("{not json", "malformed_json", None, "malformed JSON"),
    ("[1, 2]", "wrong_type", None, "expected a JSON object"),
    ('{"id": "x"}', "missing_field", "messages", "required field is missing"),
    (good(**{SECRET: 1}), "unknown_field", None, "1 unknown field(s)"),
    (good(messages="x"), "wrong_type", "messages", "expected a list"),
    (good(messages=[{"content": "x"}]), "missing_field", "messages[0].role", "missing"),
    (
        good(messages=[{"role": SECRET, "content": "x"}]),
        "unknown_role",
        "messages[0].role",
        "unknown role",
    ),
    (
        good(messages=[{"role": "user", "content": SECRET}]),
        "no_assistant_turn",
        "messages",
        "no assistant turn",
    ),
    (good(desired_empathy=4), "out_of_range", "desired_empathy", "out of range"),
    (good(perceived_empathy=0), "out_of_range", "perceived_empathy", "out of range"),
    (good(desired_empathy=True), "wrong_type", "desired_empathy", "expected a number"),
    (good(desired_empathy=SECRET), "wrong_type", "desired_empathy", "expected a number"),
    (
        good(
            messages=[
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "empathy": 9},
            ]
        ),
        "out_of_range",
        "messages[1].empathy",
        "out of range",
    ),
    (
        good(messages=[{"role": "assistant", "content": 5}]),
        "wrong_type",
        "messages[0].content",
        "expected a string",
    ),
    (good(meta=SECRET), "wrong_type", "meta", "expected an object"),
    (good(id=[SECRET]), "wrong_type", "id", "expected a string or integer"),
    (
        good(messages=[{"role": "assistant", "content": "x", SECRET: 1}]),
        "unknown_field",
        "messages[0]",
        "unknown field",
    ),
]


@pytest.mark.parametrize(("line", "category", "field", "fragment"), BAD_LINES)
def test_bad_line_names_file_line_field_and_never_content(
    tmp_path: Path, line: str, category: str, field: str | None, fragment: str
) -> None:
    path = write(tmp_path, [good(), good(), line])
    with pytest.raises(InputError) as info:
        load_conversations(path)
    err = info.value
    assert err.line == 3
    assert err.category == category
    assert err.field == field
    assert fragment in err.message
    assert "convs.jsonl" in err.message and "line 3" in err.message
    assert SECRET not in err.message and SECRET not in (err.hint or "")
    assert str(tmp_path) not in err.message  # the base name only, never the folder


def test_invalid_utf8_binary_and_json_syntax_never_quote_content(tmp_path: Path) -> None:
    cases = {
        b'{"messages": "\xff\xfe' + SECRET.encode() + b'"}': "invalid_utf8",
        b"\x00\x01\x02" + SECRET.encode(): "binary",
        ('{"messages": [' + SECRET).encode(): "malformed_json",
    }
    for raw, category in cases.items():
        with pytest.raises(InputError) as info:
            load_conversations(write(tmp_path, [raw]))
        assert info.value.category == category
        assert SECRET not in info.value.message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert info.value.category == "binary"


def test_empty_file_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    for content in (b"", b"\n\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_bytes(content)
        with pytest.raises(InputError, match="empty"):
            load_conversations(path, on_error="skip")


def test_huge_line_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:
        handle.write((good() + "\n").encode())
        handle.write(b'{"messages": "' + b"x" * (50 * 1024 * 1024) + b'"}\n')
        handle.write((good() + "\n").encode())
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert info.value.category == "line_too_long" and info.value.line == 2
    stats = LoadStats()
    convs = list(iter_conversations(path, on_error="skip", stats=stats))
    assert [c.line for c in convs] == [1, 3]
    assert stats.skipped == {"line_too_long": 1}


def test_skip_counts_by_category_and_keeps_good_lines(tmp_path: Path) -> None:
    path = write(tmp_path, [good(), "{bad", good(desired_empathy=9), "", good(), "[]"])
    stats = LoadStats()
    convs = list(iter_conversations(path, on_error="skip", stats=stats))
    assert [c.line for c in convs] == [1, 5]
    assert dict(stats.skipped) == {"malformed_json": 1, "out_of_range": 1, "wrong_type": 1}
    assert stats.accepted == 2 and stats.n_skipped == 3


def test_all_lines_bad_is_an_error_when_skipping(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no valid conversation"):
        load_conversations(write(tmp_path, ["{x", "[]"]), on_error="skip")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        load_conversations(tmp_path / "nope.jsonl")


def test_streaming_memory_does_not_grow_with_conversations(tmp_path: Path) -> None:
    def peak(n: int) -> int:
        path = write(tmp_path, [good()] * n, name=f"s{n}.jsonl")
        tracemalloc.start()
        count = sum(1 for _ in iter_conversations(path))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return top

    small, large = peak(1_000), peak(20_000)
    assert large < small * 1.5 + 64 * 1024

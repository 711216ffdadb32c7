"""Hostile input: malformed and adversarial conversations thrown at the loader and at `score`.

Whatever comes in, nothing crashes uncontrolled (only EdgeEvalError escapes), nothing is
written half-way (all four files or none), and no input string reaches an output, a log line or
an error message. Every generated string carries a planted marker that is searched for.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from privacy_cases import CLUSTERS

from edge_eval.conversations import OnError, iter_conversations
from edge_eval.errors import EdgeEvalError
from edge_eval.scoring import ScoreConfig, score, write_score_outputs

MARK = "ZqXplant"
HOSTILE_BITS = [
    "<script>alert(1)</script>",
    "</title><img src=x onerror=alert(1)>",
    "\u202e\u2066bidi\u2069\u202c",  # RLO, isolates
    "\x00\x01\x07\x1b[31m\x7f",  # control characters, an ANSI escape
    '{"role": "assistant", "content": "nested"}',  # JSON inside content
    "${jndi:ldap://x}",
    "\ud83d\ude00 emoji",
    "line\nbreak\r\n",
    "' OR 1=1 --",
    "|cluster| withheld |",  # markdown table syntax
    "\u200b\u200d zero width",
]


def planted(draw: Any) -> str:
    """A hostile string that contains the planted marker (so any leak can be found)."""
    bits = draw(st.lists(st.sampled_from(HOSTILE_BITS), min_size=0, max_size=3))
    noise = draw(st.text(max_size=20))
    return f"{MARK}{draw(st.integers(0, 999))} " + " ".join([*bits, noise])


@st.composite
def messages(draw: Any, *, max_turns: int = 6) -> list[Any]:
    out: list[Any] = []
    for _ in range(draw(st.integers(1, max_turns))):
        out.append({"role": "user", "content": planted(draw)})
        content: Any = draw(
            st.one_of(
                st.builds(lambda s: s, st.just(None)).map(lambda _: planted(draw)),
                st.just([{"type": "text", "text": planted(draw)}]),
                st.just({"nested": planted(draw)}),  # wrong type
                st.just(12),  # wrong type
            )
        )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if draw(st.booleans()):
            message["empathy"] = draw(st.sampled_from([3, 6, "high", None, 4.5]))
        if draw(st.booleans()):
            message[planted(draw)] = planted(draw)  # unknown key named with input text
        out.append(message)
    return out


@st.composite
def conversation_lines(draw: Any) -> str:
    kind = draw(st.sampled_from(["good", "good", "good", "fields", "broken", "types"]))
    conv: dict[str, Any] = {
        "id": draw(st.sampled_from([f"{MARK}dup", planted(draw)])),  # duplicate ids too
        "task": draw(st.sampled_from([*CLUSTERS, planted(draw)])),
        "messages": draw(messages()),
        "meta": {planted(draw): [planted(draw), {"deep": planted(draw)}]},
    }
    if draw(st.booleans()):
        conv["desired_empathy"] = draw(st.sampled_from([1, 2, 3, 0, "3", planted(draw)]))
    if kind == "fields":
        conv[planted(draw)] = planted(draw)
    if kind == "types":
        conv["messages"] = draw(st.sampled_from([planted(draw), {"a": 1}, [], [1, 2]]))
    line = json.dumps(conv, ensure_ascii=draw(st.booleans()))
    if kind == "broken":
        line = line[: draw(st.integers(1, max(1, len(line) - 1)))]
    return line


def _assert_no_marker(*texts: str) -> None:
    for text in texts:
        assert MARK not in text and MARK.lower() not in text.lower()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(conversation_lines(), min_size=1, max_size=8))
def test_loader_fails_only_with_input_errors_that_quote_nothing(
    lines: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("in") / f"{MARK}.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    for on_error in (OnError.FAIL, OnError.SKIP):
        try:
            for _ in iter_conversations(path, on_error=on_error):
                pass
        except EdgeEvalError as exc:
            _assert_no_marker(exc.message.replace(path.name, "FILE"), exc.hint)


@settings(
    max_examples=40,
    deadline=None,
    # the fixtures hold for every example: the fake model stays patched, logs and output are
    # read (and cleared) per example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    lines=st.lists(conversation_lines(), min_size=1, max_size=40),
    raw=st.lists(st.binary(max_size=64), max_size=2),
    on_error=st.sampled_from(["fail", "skip"]),
)
def test_score_path_writes_all_or_nothing_and_leaks_nothing(
    lines: list[str],
    raw: list[bytes],
    on_error: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_model: Any,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del fake_model
    work = tmp_path_factory.mktemp("run")
    data = work / "in.jsonl"
    data.write_bytes(
        b"\n".join([ln.encode("utf-8", "surrogatepass") for ln in lines] + raw) + b"\n"
    )
    out = work / "out"
    caplog.set_level(logging.DEBUG)
    config = ScoreConfig(on_error=OnError(on_error), min_count=2, ledger=work / "l.sqlite")
    try:
        write_score_outputs(score(data, config), out)
    except EdgeEvalError as exc:
        _assert_no_marker(exc.message, exc.hint)
        assert not out.exists()  # nothing half-written
    else:
        files = sorted(p.name for p in out.iterdir())
        assert files == ["manifest.json", "report.html", "report.json", "report.md"]
        _assert_no_marker(*(p.read_text(encoding="utf-8") for p in out.iterdir()))
    captured = capsys.readouterr()
    _assert_no_marker(caplog.text, captured.out, captured.err)


@pytest.mark.usefixtures("fake_model")
def test_huge_turns_and_thousands_of_turns(tmp_path: Path) -> None:
    big = "x" * 2_000_000 + f" {MARK}"
    many = [
        {"role": r, "content": f"{MARK} {i}"} for i in range(2500) for r in ("user", "assistant")
    ]
    rows = [
        {
            "task": CLUSTERS[0],
            "messages": [{"role": "user", "content": big}, {"role": "assistant", "content": big}],
        },
        {"task": CLUSTERS[0], "messages": many},
    ] * 6
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = score(data, ScoreConfig(min_count=2, ledger=tmp_path / "l.sqlite"))
    write_score_outputs(result, tmp_path / "out")
    d = result.report.to_dict()
    assert d["clusters"][0]["n"] == 12
    _assert_no_marker(*(p.read_text() for p in (tmp_path / "out").iterdir()))
    # a line over --max-line-bytes is refused by number, never quoted
    with pytest.raises(EdgeEvalError) as info:
        score(data, ScoreConfig(max_line_bytes=1_000_000, use_ledger=False))
    assert "line 1" in info.value.message
    _assert_no_marker(info.value.message)


@pytest.mark.usefixtures("fake_model")
def test_every_hostile_string_in_valid_fields_is_scored_and_never_written(tmp_path: Path) -> None:
    rows = []
    for i in range(24):
        bits = " ".join(HOSTILE_BITS)
        rows.append(
            {
                "id": f"{MARK}{i} {bits}",
                "task": CLUSTERS[i % 2],
                "messages": [
                    {"role": "system", "content": f"{MARK} {bits}"},
                    {"role": "user", "content": f"{MARK} {bits} {json.dumps({'x': bits})}"},
                    {"role": "assistant", "content": f"{MARK} {bits}", "name": f"{MARK}"},
                ],
                "meta": {f"{MARK}key": f"{MARK} {bits}"},
            }
        )
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = score(data, ScoreConfig(ledger=tmp_path / "l.sqlite"))
    write_score_outputs(result, tmp_path / "out")
    assert [c["status"] for c in result.report.to_dict()["clusters"][:2]] == ["published"] * 2
    _assert_no_marker(*(p.read_text() for p in (tmp_path / "out").iterdir()))


@pytest.mark.usefixtures("fake_model")
def test_deeply_nested_json_is_an_input_error_not_a_crash(tmp_path: Path) -> None:
    good = {
        "task": CLUSTERS[0],
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
    }
    deep = json.dumps(good)[:-1] + ', "meta": ' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}"
    data = tmp_path / "in.jsonl"
    data.write_text(deep + "\n" + "[" * 200_000 + "]" * 200_000 + "\n")
    with pytest.raises(EdgeEvalError) as info:
        score(data, ScoreConfig(use_ledger=False))
    assert info.value.message.endswith("line 1: malformed JSON (nested too deeply)")

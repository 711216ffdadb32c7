"""`audit verify`: a clean signed run passes; each violation is caught by its own check."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from privacy_cases import SIZES, rows_for, write_jsonl

from edge_eval.privacy.audit import CheckStatus, audit_results
from edge_eval.privacy.signing import init_keys, load_public_key_file
from edge_eval.scoring import ScoreConfig, score, write_score_outputs

pytestmark = pytest.mark.usefixtures("fake_model")


@pytest.fixture()
def run(tmp_path: Path) -> dict[str, Any]:
    """A signed exact run and a signed DP run of one input file, with their ledger and key."""
    keys = init_keys(tmp_path / "keys")
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    ledger = tmp_path / "ledger.sqlite"
    out = tmp_path / "exact"
    result = score(data, ScoreConfig(ledger=ledger))
    write_score_outputs(result, out, sign=True, key_dir=tmp_path / "keys")
    dp_out = tmp_path / "dp"
    dp = score(data, ScoreConfig(ledger=ledger, epsilon=1.0))
    write_score_outputs(dp, dp_out, sign=True, key_dir=tmp_path / "keys")
    return {
        "out": out,
        "dp": dp_out,
        "data": data,
        "ledger": ledger,
        "pub": load_public_key_file(keys.public_key_path),
    }


def verify(run: dict[str, Any], out: Path | None = None, **kw: Any) -> Any:
    kw.setdefault("inputs", [run["data"]])
    kw.setdefault("pinned_key", run["pub"])
    kw.setdefault("ledger_path", run["ledger"])
    return audit_results(out or run["out"], **kw)


def failed(result: Any) -> set[str]:
    return {c.name for c in result.checks if c.status is CheckStatus.FAIL}


def resign(out: Path, keys: Path) -> None:
    """Re-sign after editing the manifest (what a forger with the key could do)."""
    from edge_eval.privacy.signing import signature_document

    (out / "manifest.sig").write_bytes(
        signature_document((out / "manifest.json").read_bytes(), keys)
    )


def rewrite_report(out: Path, keys: Path, change: Any) -> None:
    """Change report.json and fix the manifest's hash and the signature, so only the report's
    own content can give it away."""
    import hashlib

    d = json.loads((out / "report.json").read_text())
    change(d)
    data = (json.dumps(d, indent=2) + "\n").encode()
    (out / "report.json").write_bytes(data)
    m = json.loads((out / "manifest.json").read_text())
    m["outputs"]["report.json"] = hashlib.sha256(data).hexdigest()
    (out / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    resign(out, keys)


def test_clean_signed_runs_pass_every_check(run: dict[str, Any]) -> None:
    for out in (run["out"], run["dp"]):
        result = verify(run, out)
        assert result.ok, result.render()
        assert {c.name: c.status for c in result.checks} == dict.fromkeys(
            (
                "files",
                "allowlist",
                "suppression",
                "manifest",
                "hashes",
                "signature",
                "ledger",
                "leakage",
            ),
            CheckStatus.PASS,
        )


@pytest.mark.parametrize("name", ["report.json", "report.md", "report.html", "manifest.json"])
def test_any_changed_byte_is_caught(run: dict[str, Any], name: str) -> None:
    path = run["out"] / name
    data = bytearray(path.read_bytes())
    for position in (0, len(data) // 2, len(data) - 2):
        changed = bytearray(data)
        changed[position] ^= 0x01
        path.write_bytes(bytes(changed))
        result = verify(run)
        assert not result.ok
        expected = "signature" if name == "manifest.json" else "hashes"
        assert expected in failed(result), (name, position)
    path.write_bytes(bytes(data))
    assert verify(run).ok


def test_an_extra_field_fails_the_allowlist(run: dict[str, Any], tmp_path: Path) -> None:
    rewrite_report(run["out"], tmp_path / "keys", lambda d: d["parameters"].update(note=1))
    result = verify(run)
    assert failed(result) == {"allowlist"}


def test_a_string_outside_the_labels_fails_the_allowlist(
    run: dict[str, Any], tmp_path: Path
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["clusters"][0]["cluster"] = "Sarah from accounting"

    rewrite_report(run["out"], tmp_path / "keys", change)
    result = verify(run)
    assert failed(result) == {"allowlist"}
    assert "Sarah" not in result.render()  # never quoted


def test_a_small_published_cell_fails_suppression(run: dict[str, Any], tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["overall"]["n"] -= d["clusters"][2]["n"] - 5
        d["clusters"][2]["n"] = 5

    rewrite_report(run["out"], tmp_path / "keys", change)
    result = verify(run)
    assert "suppression" in failed(result)
    assert any("below min_count" in p for p in result.check("suppression").problems)


def test_a_derivable_withheld_cell_fails_suppression(run: dict[str, Any], tmp_path: Path) -> None:
    # an overall n that includes the withheld cluster would reveal its count by subtraction
    rewrite_report(run["out"], tmp_path / "keys", lambda d: d["overall"].update(n=68))
    result = verify(run)
    assert failed(result) == {"suppression"}
    assert any("overall.n" in p for p in result.check("suppression").problems)


def test_an_overspent_budget_fails_the_ledger_check(run: dict[str, Any]) -> None:
    # someone spends more on the same conversations than the budget allows, behind the ledger's
    # back (the ledger refuses such a run itself; see test_ledger.py)
    with sqlite3.connect(run["ledger"]) as db:
        db.execute("UPDATE runs SET epsilon = 5.0 WHERE dp = 1")
    result = verify(run, run["dp"])
    assert "ledger" in failed(result)
    problems = result.check("ledger").problems
    assert any("over the budget" in p for p in problems)
    assert any("ε or δ differ" in p for p in problems)


def test_dp_parameters_that_differ_from_the_ledger_fail(
    run: dict[str, Any], tmp_path: Path
) -> None:
    out = run["dp"]
    m = json.loads((out / "manifest.json").read_text())
    m["privacy"]["differential_privacy"]["epsilon"] = 0.5
    (out / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    resign(out, tmp_path / "keys")
    result = verify(run, out)
    assert {"ledger", "manifest"} <= failed(result)


def test_a_leaked_four_gram_fails_the_leakage_scan(run: dict[str, Any], tmp_path: Path) -> None:
    out = run["out"]
    html = (out / "report.html").read_text()
    # a phrase of the input (conversation 7's first question) hidden in an HTML comment
    leaked = html.replace("</body>", "<!-- question 7 0 about distressing_social_personal -->")
    assert leaked != html
    (out / "report.html").write_text(leaked)
    import hashlib

    m = json.loads((out / "manifest.json").read_text())
    m["outputs"]["report.html"] = hashlib.sha256(leaked.encode()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    resign(out, tmp_path / "keys")
    result = verify(run)
    assert failed(result) == {"leakage"}
    assert result.check("leakage").problems == (
        "report.html: contains a run of 4 words from input 1, line 8",
    )
    # three words of it are not a leak
    (out / "report.html").write_text(html.replace("</body>", "<!-- question 7 0 -->"))
    assert "leakage" not in failed(audit_results(out, inputs=[run["data"]]))


def test_a_bad_signature_fails(run: dict[str, Any], tmp_path: Path) -> None:
    out = run["out"]
    sig = json.loads((out / "manifest.sig").read_text())
    import base64

    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[0] ^= 0xFF
    sig["signature"] = base64.b64encode(bytes(raw)).decode()
    (out / "manifest.sig").write_text(json.dumps(sig))
    result = verify(run)
    assert failed(result) == {"signature"}


def test_a_signature_by_another_key_fails_when_the_key_is_pinned(
    run: dict[str, Any], tmp_path: Path
) -> None:
    other = init_keys(tmp_path / "other")
    resign(run["out"], tmp_path / "other")
    assert verify(run, pinned_key=None).ok  # self-consistent, origin unproven
    result = verify(run)
    assert failed(result) == {"signature"}
    assert verify(run, pinned_key=load_public_key_file(other.public_key_path)).ok


def test_unsigned_results_fail_the_signature_check(run: dict[str, Any]) -> None:
    (run["out"] / "manifest.sig").unlink()
    assert failed(verify(run)) == {"signature"}


def test_changed_inputs_and_extra_files_are_caught(run: dict[str, Any], tmp_path: Path) -> None:
    other = write_jsonl(tmp_path / "other.jsonl", rows_for(SIZES, start=1000))
    assert "hashes" in failed(verify(run, inputs=[other]))
    (run["out"] / "notes.txt").write_text("anything")
    assert "files" in failed(verify(run))


def test_a_link_in_the_results_folder_fails(run: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.md"
    shutil.move(run["out"] / "report.md", target)
    (run["out"] / "report.md").symlink_to(target)
    result = verify(run)
    assert {"files", "hashes"} <= failed(result)


def test_cli_verdicts_human_and_json(run: dict[str, Any], run_cli: Any, tmp_path: Path) -> None:
    args = [
        "audit",
        "verify",
        str(run["out"]),
        "--inputs",
        str(run["data"]),
        "--pubkey",
        str(tmp_path / "keys" / "signing.pub"),
        "--ledger",
        str(run["ledger"]),
    ]
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert out.splitlines()[-1] == "Verdict: PASS (every check that could run passed)"
    code, out, _ = run_cli(*args, "--json")
    assert code == 0 and json.loads(out)["verdict"] == "pass"
    (run["out"] / "manifest.sig").unlink()
    code, out, err = run_cli(*args, "--json")
    assert code == 10
    verdict = json.loads(out)
    assert verdict["verdict"] == "fail"
    assert [c["name"] for c in verdict["checks"] if c["status"] == "fail"] == ["signature"]
    assert err.startswith("Error: the audit failed: signature")


def test_model_and_profile_hashes_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_model: Any
) -> None:
    import hashlib

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(b"weights")
    files = {"model.onnx": hashlib.sha256(b"weights").hexdigest()}
    monkeypatch.setattr(
        type(fake_model), "describe", lambda self: {"kind": self.kind, "files": files}
    )
    data = write_jsonl(tmp_path / "in.jsonl", rows_for(SIZES))
    out = tmp_path / "out"
    write_score_outputs(score(data, ScoreConfig(use_ledger=False)), out)
    from importlib import resources

    shipped = resources.files("edge_eval.tasks").joinpath("default_profile.toml")
    profile = tmp_path / "profile.toml"
    profile.write_bytes(shipped.read_bytes())
    check = audit_results(out, model_dir=bundle, profile=profile).check("hashes")
    assert check.status is CheckStatus.PASS, check.problems
    (bundle / "model.onnx").write_bytes(b"other weights")
    problems = audit_results(out, model_dir=bundle).check("hashes").problems
    assert problems == ("a model file differs from the manifest or is missing",)
    other = tmp_path / "other.toml"
    other.write_text("[profile]\n")
    problems = audit_results(out, profile=other).check("hashes").problems
    assert problems == ("the given profile's SHA-256 differs from the manifest",)

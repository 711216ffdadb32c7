"""`edge-eval doctor`: keys of --json, exit codes, and a broken llama.cpp reported."""

from __future__ import annotations

import json
import types

from edge_eval import doctor
from edge_eval.doctor import Check, Status

KEYS = {"cpu", "onnxruntime", "default_bundle", "llama_cpp", "model_packages", "torch",
        "network_guard"}  # fmt: skip


def test_doctor_json_has_every_check_and_says_ok(run_cli) -> None:
    code, out, _ = run_cli("doctor", "--json")
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert set(data["checks"]) == KEYS
    for check in data["checks"].values():
        assert set(check) == {"status", "summary", "details", "hint"}
        assert check["status"] in {"ok", "absent", "broken"}
    assert data["checks"]["default_bundle"]["status"] == "ok"
    assert data["checks"]["network_guard"]["details"]["blocks"] is True
    assert isinstance(data["checks"]["cpu"]["details"]["features"], list)
    assert set(data["checks"]["onnxruntime"]["details"]) == {
        "version", "providers", "cuda_initialises"}  # fmt: skip
    assert data["ok"] is (code == 0)


def test_doctor_human_output_lists_every_component(run_cli) -> None:
    code, out, _ = run_cli("doctor")
    for key in KEYS:
        assert key in out
    assert out.strip().splitlines()[-1] in {
        "edge-eval can run here.", "Something edge-eval needs is broken."}  # fmt: skip


def test_an_amx_build_on_an_amx_cpu_is_broken_and_exits_1(monkeypatch, run_cli) -> None:
    info = "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | "
    fake = types.SimpleNamespace(llama_print_system_info=lambda: info.encode())
    cpu = frozenset({"avx2", "avx512f", "avx512_vnni", "amx_int8", "amx_tile"})
    monkeypatch.setattr(doctor, "_version", lambda name: "0.3.36")
    check = doctor.check_llama_cpp(import_module=lambda: fake, cpu=cpu)
    assert check.status is Status.BROKEN
    assert check.details["safe"] is False and "make llama-cpp" in check.hint
    safe = doctor.check_llama_cpp(
        import_module=lambda: types.SimpleNamespace(
            llama_print_system_info=lambda: info.replace("AMX_INT8 = 1 | ", "").encode()
        ),
        cpu=cpu,
    )
    assert safe.status is Status.OK and safe.details["safe"] is True

    monkeypatch.setattr(doctor, "CHECKS", (doctor.check_cpu,))
    monkeypatch.setattr(
        doctor, "diagnose", lambda checks=None: doctor.DoctorReport(checks=(check,))
    )
    code, out, _ = run_cli("doctor")
    assert code == 1
    assert "AMX backend" in out and "hint: make llama-cpp" in out


def test_absent_optional_parts_are_not_broken() -> None:
    report = doctor.DoctorReport(
        checks=(Check(name="torch", status=Status.ABSENT, summary="not installed"),)
    )
    assert report.ok

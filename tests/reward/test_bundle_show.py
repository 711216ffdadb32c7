"""`edge-eval bundle show`: the bundle's agreement with people, as reports state it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import RunCli

PLANT = "planted-zz71-label"


def test_show_states_agreement_with_people(bundle_copy: Path, run_cli: RunCli) -> None:
    meta = json.loads((bundle_copy / "bundle.json").read_text(encoding="utf-8"))
    meta["validation"]["human_agreement"] = {
        "ieval": {
            "label": PLANT,
            "level": "conversation",
            "protocol": "unseen",
            "n": 1920,
            "spearman": 0.174,
            "spearman_ci": [0.13, 0.22],
            "bias": -0.6,
        }
    }
    (bundle_copy / "bundle.json").write_text(json.dumps(meta), encoding="utf-8")
    code, out, err = run_cli("bundle", "show", str(bundle_copy))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Agreement with people (as reports made with this bundle state it):"
    assert lines[1] == (
        "- iEval: each user rated the whole chat (1-5); conversation level, never seen by the "
        "scorer: Spearman rho 0.174 [0.13, 0.22] with people's ratings, n = 1920, bias -0.60 "
        "on the 1-5 scale."
    )
    assert PLANT not in "\n".join(lines[:4])
    code, out, err = run_cli("bundle", "show", str(bundle_copy), "--json")
    assert code == 0, err
    assert json.loads(out)["validation"]["human_agreement"]["ieval"]["n"] == 1920

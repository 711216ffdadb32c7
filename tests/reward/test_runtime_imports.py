"""The runtime half (reward/, scoring, report, `edge-eval score`) never imports training code.

`score` needs only bundle, ONNX scorer, judge and encoding; training (train, distill, preference,
checkpoint) lives in :mod:`edge_eval.training`. Checked twice: statically over every import a
runtime module can reach (lazy function-level imports included), and by running `edge-eval score`
in a fresh interpreter and looking at what it loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "conversations.jsonl"

#: Modules `edge-eval score` and `load_reward_model` start from.
RUNTIME_ROOTS = (
    "edge_eval.cli.score",
    "edge_eval.scoring",
    "edge_eval.reward",
    "edge_eval.reward.base",
    "edge_eval.reward.bundle",
    "edge_eval.reward.encoding",
    "edge_eval.reward.judge",
    "edge_eval.reward.onnx_scorer",
    "edge_eval.report",
)


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """All nodes of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (they never run)."""
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(name: str, path: Path) -> set[str]:
    """Every edge_eval module ``path`` imports anywhere in its body (lazy imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                module = ".".join(parts + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] == "edge_eval" and _module_file(m) is not None}


def _reachable(roots: tuple[str, ...]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_file(name)
        assert path is not None, name
        parents = name.split(".")
        todo.extend(".".join(parents[:i]) for i in range(1, len(parents)))  # packages run too
        todo.extend(_imports(name, path))
    return seen


def test_the_static_import_graph_of_the_runtime_never_reaches_training() -> None:
    reached = _reachable(RUNTIME_ROOTS)
    assert "edge_eval.reward.onnx_scorer" in reached  # the walk does follow imports
    assert sorted(m for m in reached if m.split(".")[:2] == ["edge_eval", "training"]) == []


def test_the_walk_would_see_a_training_import(tmp_path: Path) -> None:
    """The checker itself: a lazy import inside a function is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from edge_eval.training.train import make_graph\n")
    assert "edge_eval.training.train" in _imports("edge_eval.probe", probe)


def test_training_modules_live_in_training_and_not_in_reward() -> None:
    for name in ("train", "distill", "preference", "checkpoint"):
        assert (SRC / "edge_eval" / "training" / f"{name}.py").is_file()
        assert not (SRC / "edge_eval" / "reward" / f"{name}.py").exists()


def test_scoring_a_file_loads_no_training_module(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "from edge_eval.cli.main import main\n"
        "try:\n"
        "    main(['score', sys.argv[1], '--out', sys.argv[2]])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('edge_eval'))))\n"
    )
    out = tmp_path / "out"
    src = tmp_path / "some.jsonl"
    src.write_text("".join(EXAMPLE.read_text(encoding="utf-8").splitlines(True)[:30]))
    result = subprocess.run(
        [sys.executable, "-c", code, str(src), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert (out / "report.json").is_file()
    assert "edge_eval.reward.onnx_scorer" in loaded
    assert [m for m in loaded if m.startswith("edge_eval.training")] == []

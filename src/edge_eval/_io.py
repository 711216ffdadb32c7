"""Atomic file output: everything is written to a temporary sibling, then renamed."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_directory", "atomic_write_bytes", "atomic_write_text", "sha256_file"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def atomic_directory(out_dir: Path, *, replace: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a temporary directory; on success its files replace those in ``out_dir``.

    Nothing reaches ``out_dir`` before the block finished without error. A new ``out_dir`` appears
    in one rename; into an existing one the files move one by one with ``os.replace`` (each
    file atomic), after everything was written. The move holds an exclusive lock on the parent
    folder, so two writers into one ``out_dir`` at once leave one writer's complete set, never a
    mix. Files named in ``replace`` that the new set lacks are removed (a stale signature must
    not sit beside a new manifest). No temporary file is left behind.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        with _locked(out_dir.parent):
            if not out_dir.exists():
                os.rename(staging, out_dir)  # one atomic step
                return
            if out_dir.is_symlink() or not out_dir.is_dir():
                raise NotADirectoryError(out_dir)
            staged = [item for item in sorted(staging.rglob("*")) if item.is_file()]
            written = {item.relative_to(staging).as_posix() for item in staged}
            for item in staged:
                target = out_dir / item.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, target)
            for name in replace:
                if name not in written:
                    (out_dir / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on a folder (flock on its descriptor; released on close)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()

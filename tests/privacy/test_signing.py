"""Ed25519 keys and signatures: local key pair, never printed, signature over the manifest."""

from __future__ import annotations

import builtins
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from edge_eval.errors import ConfigError, MissingDependencyError
from edge_eval.privacy.signing import (
    PRIVATE_KEY_NAME,
    init_keys,
    key_id,
    load_public_key_file,
    signature_document,
    verify_signature_document,
)


def test_keys_init_makes_a_private_folder_and_never_prints_the_secret(
    run_cli: Any, tmp_path: Path
) -> None:
    key_dir = tmp_path / "keys"
    code, out, err = run_cli("keys", "init", "--key-dir", str(key_dir))
    assert code == 0, err
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    private = key_dir / PRIVATE_KEY_NAME
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    secret = private.read_text()
    body = "".join(secret.splitlines()[1:-1])
    assert body and body not in out + err and "PRIVATE" not in out + err
    public = load_public_key_file(key_dir / "signing.pub")
    assert out.splitlines()[0] == f"Made Ed25519 key pair; key id {key_id(public)}"
    # a second init keeps the pair (replacing it would orphan earlier signatures)
    code, out, _ = run_cli("keys", "init", "--key-dir", str(key_dir))
    assert code == 0 and out.startswith("Kept the existing Ed25519 key pair")
    assert private.read_text() == secret
    run_cli("keys", "init", "--key-dir", str(key_dir), "--force")
    assert private.read_text() != secret


def test_default_key_folder_is_under_edge_eval_home(tmp_path: Path) -> None:
    info = init_keys()
    assert info.key_dir == Path(os.environ["EDGE_EVAL_HOME"]) / "keys"


def test_signature_verifies_and_catches_every_change(tmp_path: Path) -> None:
    init_keys(tmp_path)
    manifest = b'{"kind": "edge-eval.manifest"}\n'
    doc = signature_document(manifest, tmp_path)
    pinned = load_public_key_file(tmp_path / "signing.pub")
    assert verify_signature_document(manifest, doc, pinned_key=pinned) == []
    for i in range(len(manifest)):
        changed = bytearray(manifest)
        changed[i] ^= 0x20
        assert verify_signature_document(bytes(changed), doc, pinned_key=pinned)
    assert verify_signature_document(manifest, b"not json") == ["manifest.sig is not UTF-8 JSON"]


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    init_keys(tmp_path)
    os.chmod(tmp_path / PRIVATE_KEY_NAME, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        signature_document(b"x", tmp_path)


def test_signing_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        signature_document(b"x", tmp_path / "none")
    assert "edge-eval keys init" in info.value.hint


def test_missing_cryptography_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_crypto(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_crypto)
    with pytest.raises(MissingDependencyError) as info:
        init_keys()
    assert info.value.hint == "pip install 'edge-eval[privacy]'"


def test_public_key_file_must_be_an_ed25519_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("hello\n")
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        load_public_key_file(bad)

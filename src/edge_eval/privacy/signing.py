"""Signed results: a local Ed25519 key pair, and a detached signature over the manifest.

The manifest already carries the SHA-256 of every input, model file, profile and output, so
one signature over its exact bytes binds all of them. ``score --sign`` writes
``manifest.sig`` beside it::

    {"kind": "edge-eval.signature", "schema_version": 1, "algorithm": "ed25519",
     "signed_file": "manifest.json", "public_key": <base64 raw 32 bytes>,
     "key_id": <sha256 of the raw public key, hex>, "signature": <base64 64 bytes>}

Keys live in a key folder (``$EDGE_EVAL_HOME/keys``, else ``~/.edge-eval/keys``): the private
key as PKCS#8 PEM with mode 0600 in a folder with mode 0700, the public key as raw base64 in
``signing.pub``. The private key never leaves that folder and is never printed; commands show
the key id (a hash of the public key) and the public key's path. The public key embedded in a
signature proves only integrity; an auditor proves origin by passing the public key they were
given out of band (``audit verify --pubkey``).

Uses the ``cryptography`` package (the ``privacy`` extra), imported lazily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_eval._io import atomic_write_bytes
from edge_eval.errors import ArtifactError, ConfigError, MissingDependencyError

__all__ = [
    "PRIVATE_KEY_NAME",
    "PUBLIC_KEY_NAME",
    "SIGNATURE_KIND",
    "SIGNATURE_NAME",
    "KeyInfo",
    "default_key_dir",
    "init_keys",
    "key_id",
    "load_public_key_file",
    "sign_bytes",
    "signature_document",
    "verify_signature_document",
]

PRIVATE_KEY_NAME = "signing.key"
PUBLIC_KEY_NAME = "signing.pub"
SIGNATURE_NAME = "manifest.sig"
SIGNATURE_KIND = "edge-eval.signature"
_MAX_KEY_FILE_BYTES = 4096


def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise MissingDependencyError("cryptography", "privacy") from exc
    return ed25519


def default_key_dir() -> Path:
    """``$EDGE_EVAL_HOME/keys``, else ``~/.edge-eval/keys``."""
    home = os.environ.get("EDGE_EVAL_HOME")
    base = Path(home) if home else Path.home() / ".edge-eval"
    return base / "keys"


def key_id(public_raw: bytes) -> str:
    """The SHA-256 of a raw 32-byte Ed25519 public key, hex: safe to print and compare."""
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """A key pair on disk, described without its secret.

    Attributes:
        key_dir: the key folder.
        public_key_path: the public key file (``signing.pub``), safe to hand to an auditor.
        key_id: SHA-256 of the raw public key, hex.
        created: True when this call made the pair, False when it already existed.
    """

    key_dir: Path
    public_key_path: Path
    key_id: str
    created: bool


def init_keys(key_dir: Path | str | None = None, *, force: bool = False) -> KeyInfo:
    """Make an Ed25519 key pair in ``key_dir`` (mode 0700; private key 0600).

    An existing pair is kept (and described) unless ``force`` is set: replacing a key makes
    every earlier signature unverifiable with the new public key.
    """
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    folder = Path(key_dir) if key_dir is not None else default_key_dir()
    private_path, public_path = folder / PRIVATE_KEY_NAME, folder / PUBLIC_KEY_NAME
    if private_path.exists() and not force:
        public_raw = _public_raw(_load_private(folder))
        return KeyInfo(
            key_dir=folder, public_key_path=public_path, key_id=key_id(public_raw), created=False
        )
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_raw = _public_raw(private)
    # write the secret with 0600 from the first byte (no window with wider permissions)
    tmp = folder / f".{PRIVATE_KEY_NAME}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, private_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    atomic_write_bytes(public_path, base64.b64encode(public_raw) + b"\n")
    return KeyInfo(
        key_dir=folder, public_key_path=public_path, key_id=key_id(public_raw), created=True
    )


def _public_raw(private: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )


def _load_private(folder: Path) -> Any:
    ed25519 = _crypto()
    from cryptography.hazmat.primitives import serialization

    path = folder / PRIVATE_KEY_NAME
    hint = "Run `edge-eval keys init` (or pass --key-dir to the folder that holds the key)."
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise ConfigError("no signing key in the key folder", hint=hint) from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise ConfigError("the signing key is not a regular file", hint=hint)
    if info.st_mode & 0o077:
        raise ConfigError(
            "the signing key file is readable by other users",
            hint="Restrict it with `chmod 600` on the key file, or make a new pair with "
            "`edge-eval keys init --force`.",
        )
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        raise ArtifactError("the signing key file is not a PEM private key", hint=hint) from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ArtifactError("the signing key is not an Ed25519 key", hint=hint)
    return private


def sign_bytes(data: bytes, key_dir: Path | str | None = None) -> tuple[bytes, bytes]:
    """Sign ``data`` with the key pair in ``key_dir``; returns (signature, raw public key)."""
    private = _load_private(Path(key_dir) if key_dir is not None else default_key_dir())
    return bytes(private.sign(data)), _public_raw(private)


def signature_document(data: bytes, key_dir: Path | str | None = None) -> bytes:
    """The ``manifest.sig`` file for a manifest's exact bytes."""
    signature, public_raw = sign_bytes(data, key_dir)
    doc = {
        "kind": SIGNATURE_KIND,
        "schema_version": 1,
        "algorithm": "ed25519",
        "signed_file": "manifest.json",
        "public_key": base64.b64encode(public_raw).decode("ascii"),
        "key_id": key_id(public_raw),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def load_public_key_file(path: Path | str) -> bytes:
    """A raw 32-byte public key from a ``signing.pub`` file (base64) or a PEM public key."""
    p = Path(path)
    try:
        data = p.read_bytes()[: _MAX_KEY_FILE_BYTES + 1]
    except OSError:
        raise ConfigError("the public key file cannot be read", hint="Check --pubkey.") from None
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise ConfigError("the public key file is too large to be a key", hint="Check --pubkey.")
    if data.lstrip().startswith(b"-----BEGIN"):
        ed25519 = _crypto()
        from cryptography.hazmat.primitives import serialization

        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise ConfigError("the public key file is not a valid key") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ConfigError("the public key is not an Ed25519 key")
        return _raw_public(key)
    raw = _b64(data.strip())
    if raw is None or len(raw) != 32:
        raise ConfigError(
            "the public key file is not an Ed25519 public key",
            hint="Pass the signing.pub file written by `edge-eval keys init`.",
        )
    return raw


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _b64(text: bytes | str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_signature_document(
    manifest_bytes: bytes, signature_bytes: bytes, *, pinned_key: bytes | None = None
) -> list[str]:
    """Problems with a ``manifest.sig`` for these manifest bytes (empty: valid).

    With ``pinned_key`` (raw 32 bytes) the signature must also come from that key; without
    it the embedded public key is used, which proves integrity but not origin.
    """
    ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        doc = json.loads(signature_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ["manifest.sig is not UTF-8 JSON"]
    if not isinstance(doc, dict) or doc.get("kind") != SIGNATURE_KIND:
        return ["manifest.sig is not an edge-eval signature"]
    if doc.get("algorithm") != "ed25519":
        return ["manifest.sig: the algorithm is not ed25519"]
    public_raw = _b64(doc.get("public_key", "")) if isinstance(doc.get("public_key"), str) else None
    signature = _b64(doc.get("signature", "")) if isinstance(doc.get("signature"), str) else None
    if public_raw is None or len(public_raw) != 32:
        return ["manifest.sig: the public key is malformed"]
    if signature is None or len(signature) != 64:
        return ["manifest.sig: the signature is malformed"]
    problems = []
    if doc.get("key_id") != key_id(public_raw):
        problems.append("manifest.sig: key_id does not match the public key")
    if pinned_key is not None and pinned_key != public_raw:
        problems.append("the results were signed with another key than the one given (--pubkey)")
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, manifest_bytes)
    except InvalidSignature:
        problems.append("the signature does not match manifest.json (it was changed or forged)")
    return problems

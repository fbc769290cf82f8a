"""Ed25519 signing of manifest.json.

The signature (``manifest.sig``) is the base64 of the 64-byte Ed25519 signature over the exact bytes
of manifest.json. No public key travels in the bundle: anyone able to alter the bundle could swap it.
The auditor receives the public key separately and passes it to ``annexa verify --public-key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.errors import AnnexaError, InputError


def _load_private(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError(where, "the key is encrypted; export needs an unencrypted Ed25519 PEM key "
                         "(keep it in a secret store and pass it through export.signing_key_env)") from None
    except (ValueError, binascii.Error):
        raise InputError(where, "not a PEM private key (create one with `annexa export keygen --out key.pem`)") \
            from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(where, f"expected an Ed25519 private key, found {type(key).__name__.lstrip('_')}")
    return key


def load_private_key_file(path: str | Path) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(str(path), "signing key file not found") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read signing key: {exc.strerror}") from None
    return _load_private(data, str(path))


def load_private_key_env(name: str, config_file: str | None = None) -> Ed25519PrivateKey:
    value = os.environ.get(name)
    if not value:
        raise InputError(config_file, f"environment variable {name} is not set or empty",
                         field="export.signing_key_env")
    return _load_private(value.encode(), f"${name}")


def load_public_key_file(path: str | Path) -> Ed25519PublicKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(str(path), f"cannot read public key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, binascii.Error):
        raise InputError(str(path), "not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(str(path), f"expected an Ed25519 public key, found {type(key).__name__.lstrip('_')}")
    return key


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what the manifest records and verify prints."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The manifest.sig file content: base64 signature and a newline."""
    return base64.b64encode(key.sign(data)) + b"\n"


def check(key: Ed25519PublicKey, data: bytes, signature_file: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_file.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = signature_file  # also accept a raw 64-byte signature
    try:
        key.verify(raw, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_keypair(out: Path, *, force: bool = False) -> Path:
    """Write a new private key (mode 0600) to `out` and its public key next to it; return the public path."""
    public = out.with_name(out.stem + ".pub" + (out.suffix or ".pem"))
    for target in (out, public):
        if target.exists() and not force:
            raise AnnexaError(f"{target} already exists (use --force to overwrite)")
    if not out.parent.is_dir():
        raise AnnexaError(f"{out.parent} is not a directory")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    os.chmod(out, 0o600)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    return public

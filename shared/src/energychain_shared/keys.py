"""Ed25519 key pairs on disk: one for signing access tokens, one per producing service."""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

TOKEN_KEY = "token-signing"
SERVICE_KEYS = ("meter-ingest", "billing", "escrow", "gsa-market", "ledger")


def private_key_path(keys_dir: Path, name: str) -> Path:
    """Where the private key called ``name`` lives."""
    return keys_dir / f"{name}.key"


def public_key_path(keys_dir: Path, name: str) -> Path:
    """Where the public key called ``name`` lives."""
    return keys_dir / f"{name}.pub"


def ensure_key_pair(keys_dir: Path, name: str) -> bool:
    """Create the key pair ``name`` if it is missing; True when created."""
    private_path = private_key_path(keys_dir, name)
    if private_path.exists():
        return False
    keys_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    private_path.chmod(0o600)
    public_key_path(keys_dir, name).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return True


def load_private_key(keys_dir: Path, name: str) -> Ed25519PrivateKey:
    """Read a private key, with a clear error when it is absent."""
    path = private_key_path(keys_dir, name)
    if not path.exists():
        raise FileNotFoundError(f"missing key {path}: run `energychain-keys init`")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(keys_dir: Path, name: str) -> Ed25519PublicKey:
    """Read a public key, with a clear error when it is absent."""
    path = public_key_path(keys_dir, name)
    if not path.exists():
        raise FileNotFoundError(f"missing key {path}: run `energychain-keys init`")
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> str:
    """PEM text of a public key (for registering it with the ledger)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """Base64 Ed25519 signature of ``message``."""
    return base64.b64encode(key.sign(message)).decode()


def verify(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """True when ``signature`` is ``key``'s signature of ``message``."""
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    """`energychain-keys init`: create any missing token and service key pairs."""
    from energychain_shared.settings import CommonSettings, load_settings

    parser = argparse.ArgumentParser(prog="energychain-keys", description=main.__doc__)
    parser.add_argument("command", choices=["init"])
    parser.parse_args(argv)
    keys_dir = load_settings(CommonSettings).resolved_keys_dir
    for name in (TOKEN_KEY, *SERVICE_KEYS):
        created = ensure_key_pair(keys_dir, name)
        print(f"{'created' if created else 'kept'} {private_key_path(keys_dir, name)}")

"""C2SP signed notes, tlog checkpoints and tlog cosignatures (v1, Ed25519).

- signed-note: a text ending in a newline, a blank line, then one or more lines
  ``— <key name> base64(key hash (4) || signature)``. Ed25519 (type 0x01) signs the text;
  the key hash is ``SHA-256(name || 0x0A || type || public key)[:4]`` and a verifier key is
  ``<name>+<hex key hash>+<base64(type || public key)>``.
- tlog-checkpoint: the text is ``<origin>\\n<size>\\n<base64 root>\\n`` and optional extension lines.
- tlog-cosignature v1 (type 0x04): a witness signs
  ``"cosignature/v1\\ntime <t>\\n" || <checkpoint text>``; the signature line carries
  ``key hash (4) || t (uint64 big-endian) || Ed25519 signature (64)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04

# The spec asks verifiers to accept at least 16 signatures and to bound the count; this is
# the bound the Go reference implementation (golang.org/x/mod/sumdb/note) applies.
MAX_SIGNATURES = 100
# Cosignature timestamps are u64 on the wire but MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = 2**63 - 1
# A checkpoint's size beyond int64 could not be proven by any log client in practice.
MAX_TREE_SIZE = 2**63 - 1

_SIG_PREFIX = "— "
_ED25519_SIGNATURE_SIZE = 64
_COSIGNATURE_SIZE = 8 + _ED25519_SIGNATURE_SIZE
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-f]{8}")
_SUPPORTED_KEY_TYPES = (ED25519, COSIGNATURE_V1)


class NoteError(ValueError):
    """Text that is not a well-formed note, checkpoint, signature line or verifier key."""


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64decode(text: str) -> bytes:
    # Only the canonical standard encoding: one signature, one spelling, so that lines can be
    # compared and deduplicated as text.
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"not base64: {text!r}") from exc
    if base64.b64encode(data).decode() != text:
        raise NoteError(f"not canonical base64: {text!r}")
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _is_valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and not _has_control(name)


def _has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _check_name(name: str) -> None:
    if not _is_valid_name(name):
        raise NoteError(f"bad key name {name!r}: it must be non-empty, without spaces or '+'")


def _check_text(body: str) -> None:
    if not body.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    if _has_control(body):
        raise NoteError("a note's text has no control characters but newline")
    try:
        body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError("a note's text is valid UTF-8") from exc


def key_hash(name: str, key_type: int, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key hash (key ID) ``SHA-256(name || 0x0A || key_type || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + _raw(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey, *, key_type: int = ED25519) -> str:
    """The verifier key ``name+hex8+base64(type || raw key)``; ``key_type`` COSIGNATURE_V1 for a witness."""
    _check_name(name)
    if key_type not in _SUPPORTED_KEY_TYPES:
        raise NoteError(f"unsupported key type {key_type:#04x}")
    return f"{name}+{key_hash(name, key_type, public_key).hex()}+{_b64(bytes([key_type]) + _raw(public_key))}"


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """(name, key hash, key) of an ED25519 or COSIGNATURE_V1 verifier key; NoteError when malformed or mismatched."""
    # The base64 key may itself contain '+'; the name and the hash cannot.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is name+hash+key")
    name, hash_hex, key_b64 = parts
    _check_name(name)
    if not _HEX8.fullmatch(hash_hex):
        raise NoteError("a verifier key's hash is 8 lowercase hex digits")
    material = _b64decode(key_b64)
    if len(material) != 1 + 32 or material[0] not in _SUPPORTED_KEY_TYPES:
        raise NoteError("a verifier key holds a type byte (0x01 or 0x04) and a 32-byte Ed25519 key")
    public_key = Ed25519PublicKey.from_public_bytes(material[1:])
    expected = key_hash(name, material[0], public_key)
    if expected.hex() != hash_hex:
        raise NoteError("the verifier key's hash does not match its name and key")
    return name, expected, public_key


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as C2SP tlog-checkpoint writes it."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def checkpoint_body(checkpoint: Checkpoint) -> str:
    """The checkpoint's note text: origin, size, base64 root and any extension lines, each ending in a newline."""
    if not checkpoint.origin or "\n" in checkpoint.origin or _has_control(checkpoint.origin):
        raise NoteError("a checkpoint's origin is one non-empty line")
    if not 0 <= checkpoint.size <= MAX_TREE_SIZE:
        raise NoteError(f"bad tree size {checkpoint.size}")
    if len(checkpoint.root) != 32:
        raise NoteError("a checkpoint's root is a 32-byte hash")
    for line in checkpoint.extensions:
        if not line or "\n" in line or _has_control(line):
            raise NoteError("a checkpoint's extension lines are non-empty single lines")
    lines = [checkpoint.origin, str(checkpoint.size), _b64(checkpoint.root), *checkpoint.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(body: str) -> Checkpoint:
    """The checkpoint in a note's text; strict (size without leading zeros, 32-byte root), NoteError otherwise."""
    if not body.endswith("\n"):
        raise NoteError("a checkpoint ends with a newline")
    if _has_control(body):
        raise NoteError("a checkpoint has no control characters but newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has origin, size and root lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("a checkpoint's origin is non-empty")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise NoteError(f"bad tree size {size_text!r}")
    root = _b64decode(root_text)
    if len(root) != 32:
        raise NoteError("a checkpoint's root is a 32-byte hash")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint's extension lines are non-empty")
    return Checkpoint(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key hash, and the signature bytes after the hash."""

    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A note's text (with its final newline) and its signature lines in order."""

    body: str
    signatures: tuple[NoteSignature, ...]


def signature_line(name: str, key_hash: bytes, signature: bytes) -> str:
    """The signature line ``— name base64(key_hash || signature)`` with its newline."""
    _check_name(name)
    if len(key_hash) != 4:
        raise NoteError("a key hash is 4 bytes")
    if not signature:
        raise NoteError("a signature is not empty")
    return f"{_SIG_PREFIX}{name} {_b64(key_hash + signature)}\n"


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"not a signature line: {line!r}")
    name, sep, sig_b64 = line[len(_SIG_PREFIX):].partition(" ")
    if not sep:
        raise NoteError(f"a signature line is '— name signature': {line!r}")
    _check_name(name)
    raw = _b64decode(sig_b64)
    if len(raw) < 5:
        raise NoteError("a signature holds a 4-byte key hash and a signature")
    return NoteSignature(name=name, key_hash=raw[:4], signature=raw[4:])


def _split(text: str) -> tuple[str, list[str]]:
    if _has_control(text):
        raise NoteError("a note has no control characters but newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError("a note is valid UTF-8") from exc
    # The text ends at the last blank line; everything after it is signature lines.
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("a note has a blank line between its text and its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("a note ends with at least one signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note has at most {MAX_SIGNATURES} signatures")
    return body, lines


def parse_note(text: str) -> Note:
    """The text and signature lines of a signed note; NoteError when it is malformed."""
    body, lines = _split(text)
    return Note(body=body, signatures=tuple(_parse_signature_line(line) for line in lines))


def sign_note(body: str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed note: ``body``, a blank line, and this key's Ed25519 signature line."""
    _check_text(body)
    _check_name(name)
    signature = private_key.sign(body.encode())
    return body + "\n" + signature_line(name, key_hash(name, ED25519, private_key.public_key()), signature)


def _ed25519_valid(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _lines_by(note: Note, name: str, expected_hash: bytes) -> list[NoteSignature]:
    # A line is this key's only when both name and key hash match; any other line belongs to
    # a key the caller did not ask about and is ignored, as the spec requires.
    return [sig for sig in note.signatures if sig.name == name and sig.key_hash == expected_hash]


def verify_signature(note: Note, *, name: str, public_key: Ed25519PublicKey) -> bool:
    """Whether an Ed25519 signature line of this key is present and every such line is valid."""
    lines = _lines_by(note, name, key_hash(name, ED25519, public_key))
    message = note.body.encode()
    # A line by the known key that fails to verify makes the whole note suspect (the spec's
    # SHOULD reject), even when another line by the same key verifies.
    return bool(lines) and all(
        len(sig.signature) == _ED25519_SIGNATURE_SIZE and _ed25519_valid(public_key, sig.signature, message)
        for sig in lines
    )


def cosignature_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: ``"cosignature/v1\\ntime <timestamp>\\n"`` then the checkpoint text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"bad cosignature timestamp {timestamp}")
    _check_text(body)
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(body: str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """This witness's cosignature/v1 line (with its newline) over the checkpoint text ``body`` at ``timestamp``."""
    _check_name(name)
    signature = private_key.sign(cosignature_message(body, timestamp))
    return signature_line(
        name,
        key_hash(name, COSIGNATURE_V1, private_key.public_key()),
        timestamp.to_bytes(8, "big") + signature,
    )


def verify_cosignature(note: Note, *, name: str, public_key: Ed25519PublicKey) -> int | None:
    """The timestamp of this key's valid cosignature/v1 line (the latest if several), else None.

    None too when any cosignature line of this key is malformed or does not verify.
    """
    lines = _lines_by(note, name, key_hash(name, COSIGNATURE_V1, public_key))
    if not lines:
        return None
    timestamps = []
    for sig in lines:
        if len(sig.signature) != _COSIGNATURE_SIZE:
            return None
        timestamp = int.from_bytes(sig.signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            return None
        if not _ed25519_valid(public_key, sig.signature[8:], cosignature_message(note.body, timestamp)):
            return None
        timestamps.append(timestamp)
    return max(timestamps)


def with_signatures(note_text: str, lines: Sequence[str]) -> str:
    """The note with these signature lines appended, each line kept once (lines may omit the final newline)."""
    body, existing = _split(note_text)
    for line in existing:
        _parse_signature_line(line)
    kept: list[str] = []
    seen: set[str] = set()
    for line in [*existing, *(line.removesuffix("\n") for line in lines)]:
        if "\n" in line:
            raise NoteError(f"one signature line at a time: {line!r}")
        _parse_signature_line(line)
        if line not in seen:
            seen.add(line)
            kept.append(line)
    if len(kept) > MAX_SIGNATURES:
        raise NoteError(f"a note has at most {MAX_SIGNATURES} signatures")
    return body + "\n" + "".join(line + "\n" for line in kept)

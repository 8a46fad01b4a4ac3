"""The log of channel heads: blinded channel ids and the bytes of a head leaf (docs/LEDGER.md)."""

from __future__ import annotations

import hashlib
import struct

HEAD_LEAF_VERSION = 1
HEAD_LEAF_SIZE = 73
_BLIND_PREFIX = b"energychain/channel/v1\x00"
_HEAD = struct.Struct(">B32sQ32s")


def blinded_channel_id(channel: str, salt: bytes) -> bytes:
    """The id a channel goes by in the log of heads: SHA-256 over its members-only salt and its name."""
    if len(salt) != 32:
        raise ValueError("a channel salt is 32 bytes")
    return hashlib.sha256(_BLIND_PREFIX + salt + channel.encode()).digest()


def head_leaf_data(blinded_id: bytes, size: int, root: bytes) -> bytes:
    """The 73 bytes of one head leaf: version, blinded id, size (uint64 big-endian), root."""
    return _HEAD.pack(HEAD_LEAF_VERSION, blinded_id, size, root)


def parse_head_leaf(data: bytes) -> tuple[bytes, int, bytes]:
    """(blinded id, size, root) of a head leaf; ValueError when it is not one."""
    if len(data) != HEAD_LEAF_SIZE or data[0] != HEAD_LEAF_VERSION:
        raise ValueError(f"not a version-{HEAD_LEAF_VERSION} head leaf of {HEAD_LEAF_SIZE} bytes")
    _, blinded, size, root = _HEAD.unpack(data)
    return blinded, size, root

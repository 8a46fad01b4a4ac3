"""RFC 9162 (section 2.1) Merkle trees over SHA-256: hashes, proofs, their verification and compact ranges.

Hashes are 32-byte ``bytes``. A leaf's hash is ``SHA-256(0x00 || data)``, an interior node's
``SHA-256(0x01 || left || right)`` and the empty tree's ``SHA-256("")``. The tree of ``n``
leaves splits at the largest power of two below ``n``, so every node is either a perfect,
aligned subtree or lies on the tree's right border.

Proofs are described twice: as *ranges* ``[lo, hi)`` of leaves whose tree hashes form the
proof (``inclusion_ranges``, ``consistency_ranges``), which lets a store answer a proof from
the perfect-subtree hashes it keeps (``range_hash``), and as reference provers over a full
list of leaf hashes (``inclusion_proof``, ``consistency_proof``) that the ranges are tested
against.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof (or the claim it is checked against) is malformed."""


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of a leaf holding ``data``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node with these children."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): where a tree of ``n`` leaves splits."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves has no split point")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of the tree over these leaf hashes, by the recursive definition (a reference, O(n))."""

    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaf_hashes[lo]
        k = split_point(hi - lo)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    if not leaf_hashes:
        return EMPTY_ROOT
    return mth(0, len(leaf_hashes))


def perfect_ranges(lo: int, hi: int) -> list[tuple[int, int]]:
    """The perfect aligned subtrees ``[a, b)`` that make up ``[lo, hi)``, left to right, largest first.

    Precondition: ``lo`` is a multiple of the largest power of two ``<= hi - lo``. Every node of
    an RFC 9162 tree satisfies it (and so every range that ``inclusion_ranges`` and
    ``consistency_ranges`` produce); it is what makes each piece a real subtree of the log,
    whose hash a store can keep. ``MTH(D[lo:hi])`` is then these pieces' hashes folded from the
    right with ``node_hash`` (``range_hash``).
    """
    if not 0 <= lo <= hi:
        raise ValueError(f"bad range [{lo}, {hi})")
    width = hi - lo
    if width == 0:
        return []
    top = 1 << (width.bit_length() - 1)
    if lo % top:
        raise ValueError(f"[{lo}, {hi}) does not start at a multiple of {top}")
    ranges = []
    start = lo
    size = top
    while size:
        if width & size:
            ranges.append((start, start + size))
            start += size
        size >>= 1
    return ranges


def range_hash(lo: int, hi: int, subtree: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[lo:hi]) from ``subtree(a, b)``, the hash of each perfect range of ``[lo, hi)``."""
    ranges = perfect_ranges(lo, hi)
    if not ranges:
        return EMPTY_ROOT
    acc = subtree(*ranges[-1])
    for a, b in reversed(ranges[:-1]):
        acc = node_hash(subtree(a, b), acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH, in this order, form PATH(index, D[size]) (leaf-to-root order)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    lo, hi = 0, size
    siblings = []
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
    siblings.reverse()
    return siblings


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH, in this order, form PROOF(old_size, D[new_size]) (RFC 9162 2.1.4.1).

    Empty when ``old_size == new_size`` or ``old_size == 0``: there is nothing to prove.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    lo, hi = 0, new_size
    # b of SUBPROOF(m, D, b): whether the subtree being descended is a prefix of the old tree
    # whose hash the verifier already holds (as the old root), and so leaves out.
    known = True
    siblings = []
    while old_size != hi:
        k = split_point(hi - lo)
        if old_size - lo <= k:
            siblings.append((lo + k, hi))
            hi = lo + k
        else:
            siblings.append((lo, lo + k))
            lo += k
            known = False
    siblings.reverse()
    return siblings if known else [(lo, hi), *siblings]


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[size]) by the recursive definition over a full list of leaf hashes (a reference)."""
    if not 0 <= index < size <= len(leaf_hashes):
        raise ValueError(f"no inclusion proof for leaf {index} in a tree of {size}")

    def mth(lo: int, hi: int) -> bytes:
        return root_of(leaf_hashes[lo:hi])

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = split_point(hi - lo)
        if m < k:
            return path(m, lo, lo + k) + [mth(lo + k, hi)]
        return path(m - k, lo + k, hi) + [mth(lo, lo + k)]

    return path(index, 0, size)


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) by the recursive definition over a full list of leaf hashes (a reference)."""
    if not 0 <= old_size <= new_size <= len(leaf_hashes):
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == 0:
        return []

    def mth(lo: int, hi: int) -> bytes:
        return root_of(leaf_hashes[lo:hi])

    def subproof(m: int, lo: int, hi: int, known: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if known else [mth(lo, hi)]
        k = split_point(hi - lo)
        if m <= k:
            return subproof(m, lo, lo + k, known) + [mth(lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [mth(lo, lo + k)]

    return subproof(old_size, 0, new_size, True)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _inclusion_proof_length(index: int, size: int) -> int:
    # Below the level where the paths to leaf ``index`` and leaf ``size - 1`` meet, every
    # level has a sibling; above it, only the levels where the node is a right child do.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion(*, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` gives for leaf ``index`` of a tree of ``size`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    if not _is_hash(leaf_hash):
        raise ProofError("the leaf hash is not a 32-byte hash")
    expected = _inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise ProofError(f"an inclusion proof for leaf {index} of {size} has {expected} hashes, not {len(proof)}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if not _is_hash(p):
            raise ProofError("a proof element is not a 32-byte hash")
        if sn == 0:
            raise ProofError("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is too short")
    return r


def verify_inclusion(*, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether ``proof`` shows leaf ``index`` (with this hash) in the tree of ``size`` with this root."""
    if not _is_hash(root):
        return False
    try:
        computed = root_from_inclusion(index=index, size=size, leaf_hash=leaf_hash, proof=proof)
    except ProofError:
        return False
    return hmac.compare_digest(computed, root)


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root) (RFC 9162 2.1.4.2).

    Equal sizes need an empty proof and equal roots; from the empty tree (size 0) the proof
    is empty and there is nothing else to check.
    """
    if not 0 <= old_size <= new_size:
        return False
    if any(not _is_hash(c) for c in proof):
        return False
    if old_size == new_size:
        return not proof and _is_hash(old_root) and _is_hash(new_root) and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if len(proof) != len(consistency_ranges(old_size, new_size)):
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is then a perfect subtree of the new one: its root is the proof's seed.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


def frontier_ranges(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees of ``[0, size)``, left (largest) to right: what a ``Frontier`` holds."""
    if size < 0:
        raise ValueError(f"bad tree size {size}")
    return perfect_ranges(0, size)


class Frontier:
    """The compact range ``[0, size)``: the perfect subtrees' hashes, one per binary digit of size, largest first."""

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"bad tree size {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes, not {len(hashes)}")
        if any(not _is_hash(h) for h in hashes):
            raise ValueError("a frontier hash is not a 32-byte hash")
        self.size: int = size
        self.hashes: list[bytes] = list(hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; the (level, index, hash) of every perfect subtree of level >= 1 it completed, lowest first.

        Level ``L`` covers leaves ``[index * 2**L, (index + 1) * 2**L)``.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        hashes = self.hashes
        new_size = self.size + 1
        carry = self.size
        h = leaf_hash
        completed = []
        level = 0
        # Each 1 bit that the increment carries through is a subtree of that level whose
        # right sibling is now complete: merge them and carry the parent up.
        while carry & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            level += 1
            completed.append((level, (new_size >> level) - 1, h))
            carry >>= 1
        hashes.append(h)
        self.size = new_size
        return completed

    def root(self) -> bytes:
        """MTH of the tree of this size (``EMPTY_ROOT`` when it is empty)."""
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        acc = hashes[-1]
        for i in range(len(hashes) - 2, -1, -1):
            acc = _sha256(_NODE_PREFIX + hashes[i] + acc).digest()
        return acc

    def copy(self) -> Frontier:
        """An independent copy (appending to it leaves this one as it is)."""
        clone = Frontier.__new__(Frontier)
        clone.size = self.size
        clone.hashes = list(self.hashes)
        return clone

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self.size == other.size and self.hashes == other.hashes

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, root={self.root().hex()})"

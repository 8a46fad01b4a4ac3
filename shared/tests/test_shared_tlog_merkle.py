"""RFC 9162 Merkle trees: published vectors, an independent implementation, and brute force over small trees."""

import random

import pytest
from pymerkle import InmemoryTree, InvalidProof
from pymerkle import verify_consistency as pymerkle_verify_consistency
from pymerkle import verify_inclusion as pymerkle_verify_inclusion
from pymerkle.core import _consistency_path_layout

from energychain_shared.tlog.merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    consistency_ranges,
    frontier_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_ranges,
    range_hash,
    root_from_inclusion,
    root_of,
    split_point,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

h = bytes.fromhex

# Reference vectors of github.com/transparency-dev/merkle (commit 417fb0c314750d94e53942e9f92e79b6d35915db):
# leaf inputs, node hashes by level, roots by size and compact ranges from testonly/constants.go
# (LeafInputs, NodeHashes, RootHashes, CompactTrees).
LEAF_INPUTS = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
NH = NODE_HASHES
COMPACT_TREES = [
    [],
    [NH[0][0]],
    [NH[1][0]],
    [NH[1][0], NH[0][2]],
    [NH[2][0]],
    [NH[2][0], NH[0][4]],
    [NH[2][0], NH[1][2]],
    [NH[2][0], NH[1][2], NH[0][6]],
    [NH[3][0]],
]
# Inclusion proofs (0-based leaf index, tree size, proof): testonly/reference_test.go
# (TestRefInclusionProof), the same as cmd/proofgen/main.go's inclusionProofs (1-based there).
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 2, [NH[0][1]]),
    (1, 2, [NH[0][0]]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]),
    (0, 8, [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]),
    (5, 8, [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
]
# Consistency proofs (old size, new size, proof): testonly/reference_test.go (TestRefConsistencyProof)
# and, for 6 -> 7, cmd/proofgen/main.go's consistencyProofs (testdata/consistency/4/happy-path.json).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (1, 8, [
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ]),
    (2, 5, [
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]),
    (6, 8, [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
    (6, 7, [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]),
]
# The "some hash" that the probes of cmd/proofgen/main.go use.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
LEAVES = [leaf_hash(data) for data in LEAF_INPUTS]


def _subtrees_of(leaves):
    """A stand-in for the ledger's store: the hash of a perfect range, from the leaves."""
    return lambda lo, hi: root_of(leaves[lo:hi])


def _flip(proof, i, mask):
    wrong = list(proof)
    wrong[i] = bytes([wrong[i][0] ^ mask]) + wrong[i][1:]
    return wrong


# --- published vectors ----------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing():
    assert EMPTY_ROOT == ROOTS[0] == root_of([]) == Frontier().root()


def test_leaf_and_node_hashes_match_the_reference_tree():
    assert LEAVES == NODE_HASHES[0]
    for level in range(1, len(NODE_HASHES)):
        for i, expected in enumerate(NODE_HASHES[level]):
            assert node_hash(NODE_HASHES[level - 1][2 * i], NODE_HASHES[level - 1][2 * i + 1]) == expected
            assert root_of(LEAVES[i << level : (i + 1) << level]) == expected


def test_roots_of_every_size_match_the_reference():
    frontier = Frontier()
    for size in range(1, 9):
        frontier.append(LEAVES[size - 1])
        assert root_of(LEAVES[:size]) == ROOTS[size]
        assert frontier.root() == ROOTS[size]


def test_frontier_holds_the_reference_compact_ranges():
    frontier = Frontier()
    assert frontier.hashes == COMPACT_TREES[0]
    for size in range(1, 9):
        frontier.append(LEAVES[size - 1])
        assert frontier.hashes == COMPACT_TREES[size]
        assert Frontier(size, COMPACT_TREES[size]).root() == ROOTS[size]


def test_frontier_reports_the_reference_subtrees_it_completes():
    frontier = Frontier()
    reported = {}
    for leaf in LEAVES:
        for level, index, digest in frontier.append(leaf):
            reported[(level, index)] = digest
    assert reported == {(level, i): d for level in range(1, 4) for i, d in enumerate(NODE_HASHES[level])}


def test_split_point_vectors():
    # testonly/reference_test.go, TestDownToPowerOfTwo.
    for n, k in ((2, 1), (7, 4), (8, 4), (63, 32), (28937, 16384)):
        assert split_point(n) == k
    for n in (0, 1):
        with pytest.raises(ValueError):
            split_point(n)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_proof_vectors_are_generated_and_verify(index, size, proof):
    assert inclusion_proof(index, size, LEAVES) == proof
    assert [range_hash(lo, hi, _subtrees_of(LEAVES)) for lo, hi in inclusion_ranges(index, size)] == proof
    assert root_from_inclusion(index=index, size=size, leaf_hash=LEAVES[index], proof=proof) == ROOTS[size]
    assert verify_inclusion(index=index, size=size, leaf_hash=LEAVES[index], proof=proof, root=ROOTS[size])


def _corrupt_inclusion(index, size, proof, root, leaf):
    # The probes of cmd/proofgen/main.go (invalidInclusionProof), every one of which must fail.
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    probes += [(index, size, root, leaf, _flip(proof, i, 8)) for i in range(len(proof))]
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_corrupted_inclusion_vectors_fail(index, size, proof):
    for i, n, root, leaf, wrong in _corrupt_inclusion(index, size, proof, ROOTS[size], LEAVES[index]):
        assert not verify_inclusion(index=i, size=n, leaf_hash=leaf, proof=wrong, root=root), (i, n, wrong)


def test_inclusion_probes_without_a_tree_fail():
    # testdata/inclusion/additional and single-entry: nothing is in an empty tree, an index
    # must be below the size, and a one-leaf tree's root is its leaf hash.
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        assert not verify_inclusion(index=index, size=size, leaf_hash=SOME_HASH, proof=[], root=b"")
        assert not verify_inclusion(index=index, size=size, leaf_hash=b"", proof=[], root=EMPTY_ROOT)
        assert not verify_inclusion(index=index, size=size, leaf_hash=SOME_HASH, proof=[], root=EMPTY_ROOT)
    single = leaf_hash(b"data")
    assert verify_inclusion(index=0, size=1, leaf_hash=single, proof=[], root=single)
    assert not verify_inclusion(index=0, size=1, leaf_hash=b"", proof=[], root=single)
    assert not verify_inclusion(index=0, size=1, leaf_hash=single, proof=[], root=b"")
    assert not verify_inclusion(index=0, size=1, leaf_hash=b"", proof=[], root=b"")


def test_malformed_inclusion_proofs_raise():
    with pytest.raises(ProofError):
        root_from_inclusion(index=8, size=8, leaf_hash=LEAVES[0], proof=[])
    with pytest.raises(ProofError):
        root_from_inclusion(index=-1, size=8, leaf_hash=LEAVES[0], proof=[])
    with pytest.raises(ProofError):
        root_from_inclusion(index=0, size=8, leaf_hash=LEAVES[0], proof=INCLUSION_VECTORS[5][2][:2])
    with pytest.raises(ProofError):
        root_from_inclusion(index=0, size=8, leaf_hash=LEAVES[0], proof=[*INCLUSION_VECTORS[5][2], SOME_HASH])
    with pytest.raises(ProofError):
        root_from_inclusion(index=0, size=2, leaf_hash=LEAVES[0], proof=[b"short"])
    with pytest.raises(ProofError):
        root_from_inclusion(index=0, size=2, leaf_hash=b"short", proof=[LEAVES[1]])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proof_vectors_are_generated_and_verify(old, new, proof):
    assert consistency_proof(old, new, LEAVES) == proof
    assert [range_hash(lo, hi, _subtrees_of(LEAVES)) for lo, hi in consistency_ranges(old, new)] == proof
    assert verify_consistency(old_size=old, new_size=new, old_root=ROOTS[old], new_root=ROOTS[new], proof=proof)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_corrupted_consistency_vectors_fail(old, new, proof):
    # The probes of cmd/proofgen/main.go (invalidConsistencyProof), every one of which must fail.
    r1, r2 = ROOTS[old], ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    probes += [(old, new, r1, r2, _flip(proof, i, 16)) for i in range(len(proof))]
    for m, n, root1, root2, wrong in probes:
        assert not verify_consistency(old_size=m, new_size=n, old_root=root1, new_root=root2, proof=wrong), (m, n, wrong)


def test_consistency_edge_cases():
    # proof/verify_test.go TestVerifyConsistency (as of commit 02194e9afb6c1d95b5381350007963aa70fff472)
    # and testdata/consistency/additional, with 32-byte stand-ins for its "don't care" roots.
    # The empty tree is a prefix of every tree, as that version held; the latest one
    # refuses size 0 outright, which is why those probes expect errors there.
    a, b = leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2")
    cases = [
        (0, 0, a, b, [], False),
        (1, 1, a, b, [], False),
        (0, 0, a, a, [], True),
        (0, 1, a, b, [], True),
        (1, 1, b, b, [], True),
        (1, 0, a, b, [], False),
        (2, 1, a, b, [], False),
        (1, 2, a, b, [], False),
        (0, 0, EMPTY_ROOT, b, [], False),
        (1, 1, EMPTY_ROOT, b, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (-1, 1, EMPTY_ROOT, EMPTY_ROOT, [], False),
    ]
    for old, new, r1, r2, proof, expected in cases:
        assert verify_consistency(old_size=old, new_size=new, old_root=r1, new_root=r2, proof=proof) is expected, (old, new)
    assert consistency_ranges(0, 5) == consistency_ranges(5, 5) == []
    with pytest.raises(ValueError):
        consistency_ranges(6, 5)


# --- an independent implementation: pymerkle 7.0.0 -------------------------------------------
#
# pymerkle's hasher (pymerkle/hasher.py) prefixes leaves with 0x00 and nodes with 0x01 unless
# the tree is built with disable_security=True, hashes the empty tree as SHA-256(""), and
# splits a range at the largest power of two below its width (pymerkle/core.py). Its other
# options (disable_optimizations, disable_cache) change how it computes, not what. Its
# inclusion proofs are RFC 9162 paths preceded by the leaf hash; its consistency proofs use a
# layout of its own (rule and subset bits), so those are compared by what they prove and by
# the hash of every range its layout names.


def _pymerkle_tree(**options):
    return InmemoryTree(algorithm="sha256", **options)


def test_pymerkle_hashes_as_rfc9162():
    tree = _pymerkle_tree()
    assert tree.security and tree.leaf_prefix == b"\x00" and tree.node_prefix == b"\x01"
    assert tree.hash_empty() == EMPTY_ROOT == tree.get_root(0)
    assert tree.hash_buff(b"abc") == leaf_hash(b"abc")
    assert tree.hash_pair(LEAVES[0], LEAVES[1]) == node_hash(LEAVES[0], LEAVES[1])
    for data in LEAF_INPUTS:
        tree.append_entry(data)
    assert [tree.get_root(n) for n in range(9)] == ROOTS


@pytest.fixture(scope="module")
def grown():
    """300 random leaves appended one by one to pymerkle, to a Frontier, and to a store of subtree hashes."""
    rng = random.Random(9162)
    data = [rng.randbytes(rng.randrange(0, 64)) for _ in range(300)]
    leaves = [leaf_hash(d) for d in data]
    tree = _pymerkle_tree()
    frontier = Frontier()
    store = {}
    roots = [EMPTY_ROOT]
    for d, leaf in zip(data, leaves):
        tree.append_entry(d)
        store[(0, len(roots) - 1)] = leaf
        for level, index, digest in frontier.append(leaf):
            store[(level, index)] = digest
        roots.append(frontier.root())
    # What the ledger does: the hash of a perfect range read from the stored subtrees.
    def subtree(lo, hi):
        level = (hi - lo).bit_length() - 1
        return store[(level, lo >> level)]

    return {"data": data, "leaves": leaves, "tree": tree, "roots": roots, "subtree": subtree, "rng": rng}


def test_roots_match_pymerkle_for_every_size(grown):
    tree, leaves, roots = grown["tree"], grown["leaves"], grown["roots"]
    for size in range(1, 301):
        assert tree.get_root(size) == roots[size] == root_of(leaves[:size]), size
        assert tree.get_leaf(size) == leaves[size - 1]


def test_roots_match_pymerkle_recursive_reference():
    # pymerkle's unoptimised path follows RFC 9162's recursive definition literally.
    rng = random.Random(6962)
    tree = _pymerkle_tree(disable_optimizations=True, disable_cache=True)
    frontier = Frontier()
    for _ in range(300):
        data = rng.randbytes(rng.randrange(0, 64))
        tree.append_entry(data)
        frontier.append(leaf_hash(data))
        assert tree.get_root() == frontier.root()


def _sample(rng, n, extra):
    return sorted({0, n - 1, n // 2, *(rng.randrange(n) for _ in range(extra))})


def test_inclusion_proofs_match_pymerkle(grown):
    tree, leaves, roots, subtree, rng = grown["tree"], grown["leaves"], grown["roots"], grown["subtree"], grown["rng"]
    for size in range(1, 301):
        for index in _sample(rng, size, 3):
            theirs = tree.prove_inclusion(index + 1, size)
            ours = [range_hash(lo, hi, subtree) for lo, hi in inclusion_ranges(index, size)]
            assert theirs.path[0] == leaves[index]
            assert theirs.path[1:] == ours == inclusion_proof(index, size, leaves), (index, size)
            pymerkle_verify_inclusion(leaves[index], roots[size], theirs, index=index + 1, size=size)
            assert verify_inclusion(index=index, size=size, leaf_hash=leaves[index], proof=ours, root=roots[size])
            other = leaves[(index + 1) % size] if size > 1 else SOME_HASH
            with pytest.raises(InvalidProof):
                pymerkle_verify_inclusion(other, roots[size], theirs)
            assert not verify_inclusion(index=index, size=size, leaf_hash=other, proof=ours, root=roots[size])


def test_consistency_proofs_prove_what_pymerkle_proves(grown):
    tree, leaves, roots, subtree, rng = grown["tree"], grown["leaves"], grown["roots"], grown["subtree"], grown["rng"]
    for size in range(1, 301):
        for old in _sample(rng, size, 3):
            old += 1
            theirs = tree.prove_consistency(old, size)
            ours = [range_hash(lo, hi, subtree) for lo, hi in consistency_ranges(old, size)]
            assert ours == consistency_proof(old, size, leaves)
            pymerkle_verify_consistency(roots[old], roots[size], theirs, prior_size=old, later_size=size)
            assert verify_consistency(old_size=old, new_size=size, old_root=roots[old], new_root=roots[size], proof=ours)
            # Every hash of pymerkle's proof is the tree hash of the range its layout names
            # (its layout function is private, but this version is pinned).
            _, _, layout = _consistency_path_layout(old, size)
            assert theirs.path == [range_hash(lo, hi, subtree) for lo, hi in layout]
            if old < size:
                wrong = roots[old - 1] if old > 1 else SOME_HASH
                with pytest.raises(InvalidProof):
                    pymerkle_verify_consistency(wrong, roots[size], theirs)
                assert not verify_consistency(old_size=old, new_size=size, old_root=wrong, new_root=roots[size], proof=ours)


# --- brute force over small trees --------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    rng = random.Random(64)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 16))) for _ in range(70)]


def test_frontier_appends_give_the_reference_root(small):
    frontier = Frontier()
    for size in range(1, 65):
        frontier.append(small[size - 1])
        assert frontier.size == size
        assert frontier.root() == root_of(small[:size])
        assert len(frontier.hashes) == size.bit_count()
        assert frontier.hashes == [root_of(small[lo:hi]) for lo, hi in frontier_ranges(size)]


def test_frontier_reports_exactly_every_perfect_subtree(small):
    frontier = Frontier()
    seen = []
    for size in range(1, 65):
        completed = frontier.append(small[size - 1])
        # The subtrees an append completes are those ending at the new size: one per
        # trailing zero bit of the new size, lowest level first.
        trailing_zeros = (size & -size).bit_length() - 1
        assert [level for level, _, _ in completed] == list(range(1, trailing_zeros + 1))
        for level, index, digest in completed:
            assert (index + 1) << level == size
            assert digest == root_of(small[index << level : (index + 1) << level])
        seen += [(level, index) for level, index, _ in completed]
    expected = [(level, i) for level in range(1, 7) for i in range(64 >> level)]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))


def test_frontier_validates_and_copies(small):
    with pytest.raises(ValueError):
        Frontier(3, [small[0]])
    with pytest.raises(ValueError):
        Frontier(1, [b"short"])
    with pytest.raises(ValueError):
        Frontier(-1)
    with pytest.raises(ValueError):
        Frontier().append(b"short")
    frontier = Frontier()
    for leaf in small[:5]:
        frontier.append(leaf)
    clone = frontier.copy()
    clone.append(small[5])
    assert frontier.size == 5 and frontier.root() == root_of(small[:5])
    assert clone.root() == root_of(small[:6])
    rebuilt = Frontier(5, [range_hash(lo, hi, _subtrees_of(small)) for lo, hi in frontier_ranges(5)])
    assert rebuilt == frontier


def test_perfect_ranges_precondition():
    assert perfect_ranges(0, 7) == [(0, 4), (4, 6), (6, 7)]
    assert perfect_ranges(8, 11) == [(8, 10), (10, 11)]
    assert perfect_ranges(4, 8) == [(4, 8)]
    assert perfect_ranges(5, 5) == []
    for lo, hi in ((2, 6), (1, 3), (6, 10), (3, 2)):
        with pytest.raises(ValueError):
            perfect_ranges(lo, hi)


def test_range_proofs_equal_the_reference_provers(small):
    subtree = _subtrees_of(small)
    for size in range(1, 71):
        for index in range(size):
            ranges = inclusion_ranges(index, size)
            assert inclusion_proof(index, size, small) == [range_hash(lo, hi, subtree) for lo, hi in ranges]
        for old in range(size + 1):
            ranges = consistency_ranges(old, size)
            assert consistency_proof(old, size, small) == [range_hash(lo, hi, subtree) for lo, hi in ranges]


def test_every_proof_verifies_and_a_flipped_byte_fails(small):
    roots = [root_of(small[:n]) for n in range(65)]
    for size in range(1, 65):
        for index in range(size):
            proof = inclusion_proof(index, size, small)
            assert verify_inclusion(index=index, size=size, leaf_hash=small[index], proof=proof, root=roots[size])
            for i in range(len(proof)):
                wrong = list(proof)
                wrong[i] = wrong[i][:i] + bytes([wrong[i][i] ^ 1]) + wrong[i][i + 1 :]
                assert not verify_inclusion(index=index, size=size, leaf_hash=small[index], proof=wrong, root=roots[size])
            flipped_leaf = bytes([small[index][0] ^ 0x80]) + small[index][1:]
            assert not verify_inclusion(index=index, size=size, leaf_hash=flipped_leaf, proof=proof, root=roots[size])
        for old in range(1, size + 1):
            proof = consistency_proof(old, size, small)
            assert verify_consistency(old_size=old, new_size=size, old_root=roots[old], new_root=roots[size], proof=proof)
            for i in range(len(proof)):
                wrong = list(proof)
                wrong[i] = wrong[i][:i] + bytes([wrong[i][i] ^ 1]) + wrong[i][i + 1 :]
                assert not verify_consistency(old_size=old, new_size=size, old_root=roots[old], new_root=roots[size], proof=wrong)
            flipped_old = roots[old][:31] + bytes([roots[old][31] ^ 1])
            assert not verify_consistency(old_size=old, new_size=size, old_root=flipped_old, new_root=roots[size], proof=proof)
            flipped_new = roots[size][:31] + bytes([roots[size][31] ^ 1])
            assert not verify_consistency(old_size=old, new_size=size, old_root=roots[old], new_root=flipped_new, proof=proof)

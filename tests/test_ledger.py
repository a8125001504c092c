"""The ledger's Merkle log agrees with RFC 6962 and its proofs catch rewriting."""

from __future__ import annotations

import pytest

from adjudicator.errors import VerificationError
from adjudicator.ledger import (
    Ledger,
    leaf_hash,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)

# The reference inputs and tree heads of Certificate Transparency's RFC 6962 test-suite.
CT_LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f"]]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {  # (leaf index, tree size) -> audit path
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}


def ct_ledger() -> Ledger:
    return Ledger.from_entries(CT_LEAVES)


def test_roots_match_rfc6962_reference():
    leaves = [leaf_hash(e) for e in CT_LEAVES]
    for size, root in enumerate(CT_ROOTS):
        assert merkle_root(leaves[:size]).hex() == root, size
        assert ct_ledger().checkpoint(size).root.hex() == root


@pytest.mark.parametrize(("index", "size"), list(CT_INCLUSION))
def test_inclusion_paths_match_reference(index, size):
    ledger = ct_ledger()
    proof = ledger.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[(index, size)]
    verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof,
                     bytes.fromhex(CT_ROOTS[size]))


def many(n: int) -> Ledger:
    ledger = Ledger()
    for i in range(n):
        ledger.append({"type": "submission_received", "sequence": i, "team": f"t{i % 3}"})
    return ledger


def test_every_inclusion_and_consistency_proof_verifies_for_every_shape():
    ledger = many(21)
    for size in range(1, 22):
        cp = ledger.checkpoint(size)
        for i in range(size):
            verify_inclusion(leaf_hash(ledger.entry(i)), i, size,
                             ledger.inclusion_proof(i, size), cp.root)
        for old in range(0, size + 1):
            verify_consistency(old, ledger.checkpoint(old).root, size, cp.root,
                               ledger.consistency_proof(old, size))


def test_a_rewritten_entry_breaks_inclusion_and_consistency():
    honest = many(9)
    old = honest.checkpoint(5)
    forged = Ledger.from_entries(
        [honest.entry(i) if i != 2 else b'{"type":"submission_received","sequence":99}'
         for i in range(9)]
    )
    with pytest.raises(VerificationError, match="older root"):
        verify_consistency(5, old.root, 9, forged.checkpoint().root,
                           forged.consistency_proof(5, 9))
    with pytest.raises(VerificationError, match="root"):
        verify_inclusion(leaf_hash(honest.entry(2)), 2, 9, forged.inclusion_proof(2, 9),
                         forged.checkpoint().root)


def test_proof_of_wrong_length_or_index_is_refused():
    ledger = many(6)
    cp = ledger.checkpoint()
    proof = ledger.inclusion_proof(3)
    leaf = leaf_hash(ledger.entry(3))
    with pytest.raises(VerificationError, match="shorter"):
        verify_inclusion(leaf, 3, 6, proof[:-1], cp.root)
    with pytest.raises(VerificationError, match="longer"):
        verify_inclusion(leaf, 3, 6, [*proof, proof[0]], cp.root)
    with pytest.raises(VerificationError, match="outside"):
        verify_inclusion(leaf, 6, 6, proof, cp.root)
    with pytest.raises(VerificationError, match="cannot be larger"):
        verify_consistency(7, cp.root, 6, cp.root, [])


def test_events_are_canonical_and_typed():
    a, b = Ledger(), Ledger()
    a.append({"type": "truth_committed", "digest": "sha256:ab", "at": "2026-11-29T00:00:00Z"})
    b.append({"at": "2026-11-29T00:00:00Z", "digest": "sha256:ab", "type": "truth_committed"})
    assert a.checkpoint() == b.checkpoint()
    with pytest.raises(ValueError, match="event type must be one of"):
        a.append({"type": "deleted_result"})
    assert a.verify().size == 1


def test_incremental_root_equals_batch_root_for_every_size_to_300_and_larger():
    """The right frontier ``ledger verify`` carries (O(log n) hashes) gives the root the
    whole list of leaves gives, at every size."""
    import random

    from adjudicator.store.ledger import frontier_append, frontier_root

    rng = random.Random(6962)
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(5_000)]
    frontier: list[bytes] = []
    assert frontier_root(frontier) == merkle_root([])
    for n in range(1, 301):
        frontier = frontier_append(frontier, n - 1, leaves[n - 1])
        assert frontier_root(frontier) == merkle_root(leaves[:n]), n
        assert len(frontier) == bin(n).count("1")
    sizes = sorted({1023, 1024, 1025, 4096, len(leaves), *rng.sample(range(301, 5_000), 6)})
    for n in range(301, len(leaves) + 1):
        frontier = frontier_append(frontier, n - 1, leaves[n - 1])
        if n in sizes:
            assert frontier_root(frontier) == merkle_root(leaves[:n]), n


def test_a_tree_of_leaf_hashes_alone_proves_what_the_whole_ledger_proves():
    from adjudicator.ledger import MerkleTree, leaf_hash, verify_consistency, verify_inclusion

    full = Ledger()
    for i in range(70):
        full.append({"type": "submission_received", "i": i})
    tree = MerkleTree(leaf_hash(full.entry(i)) for i in range(len(full)))
    assert len(tree) == 70
    for size in (1, 2, 3, 7, 8, 9, 33, 64, 70):
        assert tree.checkpoint(size) == full.checkpoint(size)
        root = tree.checkpoint(size).root
        for index in {0, size // 2, size - 1}:
            proof = tree.inclusion_proof(index, size)
            assert proof == full.inclusion_proof(index, size)
            verify_inclusion(leaf_hash(full.entry(index)), index, size, proof, root)
        for first in {0, 1, size // 3, size}:
            proof = tree.consistency_proof(first, size)
            assert proof == full.consistency_proof(first, size)
            if 0 < first:
                verify_consistency(first, tree.checkpoint(first).root, size, root, proof)
    with pytest.raises(ValueError):
        tree.inclusion_proof(70, 70)

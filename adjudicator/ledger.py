"""An append-only, hash-chained event log hashed as Certificate Transparency does.

Every event of a challenge (protocol registered, power analysis recorded, truth committed,
inputs committed, window opened or closed, submission received, adjudication done, a
submitted model's run failed, report issued) is a canonical-JSON *entry* appended to a
Merkle log. The tree is RFC 6962 / RFC 9162's:

* leaf hash ``MTH({d}) = SHA-256(0x00 || d)``;
* interior node ``SHA-256(0x01 || left || right)``;
* the tree over ``n > 1`` leaves splits at ``k``, the largest power of two smaller than
  ``n``; the empty tree's hash is ``SHA-256("")``.

A *checkpoint* (size, root) commits to every entry so far. An inclusion proof shows an entry
is in a checkpoint; a consistency proof shows a later checkpoint extends an earlier one
without changing anything before it: together they prove nothing was rewritten after the
fact. Verification needs only the entry, the proof and the checkpoints (offline).

This module is pure: the store persists entries; :class:`Ledger` keeps them in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import VerificationError
from .protocol import canonical_json

__all__ = [
    "EVENT_TYPES",
    "Checkpoint",
    "Ledger",
    "MerkleTree",
    "leaf_hash",
    "merkle_root",
    "entry_bytes",
    "verify_inclusion",
    "verify_consistency",
]

EVENT_TYPES = (
    "protocol_registered",
    "truth_committed",
    "inputs_committed",
    "window_opened",
    "window_closed",
    "submission_received",
    "adjudication_done",
    "run_failed",
    "report_issued",
    # open results (adjudicator.service.open_results): an adjudication that could not run,
    # a team's public note, a refused request to delete or hide a submission
    "adjudication_failed",
    "note_attached",
    "withdrawal_refused",
    # a power analysis the committee recorded before the window opened (its inputs and
    # the digest of its result: adjudicator.service.power_analysis)
    "power_analysis",
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash of an entry's bytes."""
    return _h(b"\x00" + entry)


def _node(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of a list of *leaf hashes* (RFC 6962 section 2.1)."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return leaves[0]
    k = _split(n)
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def entry_bytes(event: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an event (what is hashed)."""
    return canonical_json(dict(event)).encode("utf-8")


def _inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n <= 1:
        return []
    k = _split(n)
    if index < k:
        return _inclusion_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return _inclusion_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [merkle_root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [merkle_root(leaves[:k])]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2); raise VerificationError if bad.

    ``leaf`` is the leaf *hash*.
    """
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise VerificationError("inclusion proof does not lead to the checkpoint's root")


def verify_consistency(
    size1: int, root1: bytes, size2: int, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Check that tree (size2, root2) extends (size1, root1) (RFC 9162 section 2.1.4.2)."""
    if size1 > size2:
        raise VerificationError(f"an older checkpoint ({size1}) cannot be larger ({size2})")
    if size1 == size2:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError("two checkpoints of the same size disagree")
        return
    if size1 == 0:
        if proof:
            raise VerificationError("consistency proof from the empty tree must be empty")
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, root1)
    if not path:
        raise VerificationError("consistency proof is empty")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != root1:
        raise VerificationError("consistency proof does not reproduce the older root")
    if sr != root2:
        raise VerificationError("consistency proof does not reproduce the newer root")


@dataclass(frozen=True)
class Checkpoint:
    """A commitment to the first ``size`` entries: ``root`` is their Merkle tree hash."""

    size: int
    root: bytes

    @property
    def head(self) -> str:
        """``sha256:<hex>`` of the root, as printed in reports."""
        return "sha256:" + self.root.hex()

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.head}


class MerkleTree:
    """The Merkle tree of a log from its leaf hashes alone: checkpoints and proofs.

    What a server needs to prove an entry: 32 bytes per entry instead of the entries
    themselves. :class:`Ledger` keeps one beside its entries; the store builds one from its
    ``leaf_hash`` column (a proof from a tampered column does not verify against the signed
    checkpoint, so trusting it here trusts nothing).
    """

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._leaves: list[bytes] = [bytes(x) for x in leaves]

    def __len__(self) -> int:
        return len(self._leaves)

    def add(self, leaf: bytes) -> None:
        self._leaves.append(leaf)

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        """The checkpoint of the first ``size`` entries (default: all)."""
        size = len(self) if size is None else size
        if not 0 <= size <= len(self):
            raise ValueError(f"size must be in [0, {len(self)}], got {size}")
        return Checkpoint(size=size, root=merkle_root(self._leaves[:size]))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of entry ``index`` in the tree of the first ``size`` entries."""
        size = len(self) if size is None else size
        if not 0 <= index < size <= len(self):
            raise ValueError(f"need 0 <= index < size <= {len(self)}")
        return _inclusion_path(index, self._leaves[:size])

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Proof that the tree of ``size2`` entries extends the tree of ``size1``."""
        size2 = len(self) if size2 is None else size2
        if not 0 <= size1 <= size2 <= len(self):
            raise ValueError(f"need 0 <= size1 <= size2 <= {len(self)}")
        if size1 == 0 or size1 == size2:
            return []
        return _subproof(size1, self._leaves[:size2], True)


class Ledger:
    """An append-only Merkle log of events, in memory.

    Entries are canonical JSON (:func:`entry_bytes`); there is no way to change or remove
    one. The store persists the entry bytes in order and rebuilds a Ledger from them with
    :meth:`from_entries`.
    """

    def __init__(self) -> None:
        self._entries: list[bytes] = []
        self.tree = MerkleTree()

    @classmethod
    def from_entries(cls, entries: Iterable[bytes]) -> Ledger:
        ledger = cls()
        for e in entries:
            ledger._append_bytes(bytes(e))
        return ledger

    def __len__(self) -> int:
        return len(self._entries)

    def _append_bytes(self, data: bytes) -> int:
        self._entries.append(data)
        self.tree.add(leaf_hash(data))
        return len(self._entries) - 1

    def append(self, event: Mapping[str, Any]) -> int:
        """Append an event (it must name its ``type``); returns its index."""
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
        return self._append_bytes(entry_bytes(event))

    def entry(self, index: int) -> bytes:
        return self._entries[index]

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        """The checkpoint of the first ``size`` entries (default: all)."""
        return self.tree.checkpoint(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path of entry ``index`` in the tree of the first ``size`` entries."""
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Proof that the tree of ``size2`` entries extends the tree of ``size1``."""
        return self.tree.consistency_proof(size1, size2)

    def verify(self) -> Checkpoint:
        """Recompute every leaf from its entry; raise VerificationError on any mismatch."""
        for i, e in enumerate(self._entries):
            leaf = self.tree.leaf(i)
            if leaf_hash(e) != leaf:
                raise VerificationError(f"ledger entry {i} does not match its leaf hash")
        return self.checkpoint()

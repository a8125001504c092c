"""The store's pieces: the persistent ledger against the in-memory one, signed notes,
truth sealing, key files, the artifact store and migrations, on both databases."""

from __future__ import annotations

import base64
import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from adjudicator.errors import ConfigurationError, VerificationError
from adjudicator.ledger import Ledger, verify_consistency, verify_inclusion
from adjudicator.store import (
    ArtifactStore,
    NoteSigner,
    NoteVerifier,
    Sealer,
    open_database,
    open_store,
)
from adjudicator.store.database import HEAD_REVISION
from adjudicator.store.keys import ledger_key, truth_key
from adjudicator.store.ledger import frontier_append, frontier_root
from adjudicator.store.sealing import INPUTS

from .conftest import make_settings


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=70))
def test_frontier_root_equals_rfc6962_root(n):
    ledger, frontier = Ledger(), []
    for i in range(n):
        ledger.append({"type": "window_opened", "i": i})
        frontier = frontier_append(frontier, i, hashlib.sha256(
            b"\x00" + ledger.entry(i)).digest())
        assert frontier_root(frontier) == ledger.checkpoint().root
    assert len(frontier) == bin(n).count("1")


def test_persistent_ledger(tmp_path, database_url):
    store = open_store(make_settings(tmp_path, database_url))
    mirror = Ledger()
    try:
        for i in range(21):
            event = {"type": "submission_received", "at": f"t{i}", "n": i, "x": 0.5 * i}
            with store.db.write() as s:
                seq, note = store.ledger.append(s, event, at=f"t{i}")
            assert seq == mirror.append(event)
            head = store.ledger.verifier.checkpoint(note)
            assert (head.size, head.root) == (len(mirror), mirror.checkpoint().root)
        with store.db.read() as s:
            loaded = store.ledger.load(s)
            result = store.ledger.verify(s, checkpoint=store.ledger.checkpoint_at(s, 7))
        assert loaded.checkpoint() == mirror.checkpoint()
        assert result.size == 21 and result.extends.size == 7
        proof = loaded.inclusion_proof(5, 21)
        verify_inclusion(hashlib.sha256(b"\x00" + loaded.entry(5)).digest(), 5, 21, proof,
                         result.root)
        verify_consistency(7, mirror.checkpoint(7).root, 21, result.root,
                           loaded.consistency_proof(7))
        with pytest.raises(ValueError, match="event type"), store.db.write() as s:
            store.ledger.append(s, {"type": "made_up"}, at="t")
        # a transaction that fails appends nothing
        with pytest.raises(RuntimeError), store.db.write() as s:
            store.ledger.append(s, {"type": "window_closed"}, at="t")
            raise RuntimeError
        with store.db.read() as s:
            assert store.ledger.size(s) == 21
            store.ledger.verify(s)
    finally:
        store.close()


def test_verify_against_a_checkpoint_of_another_key(tmp_path, database_url):
    store = open_store(make_settings(tmp_path, database_url))
    try:
        with store.db.write() as s:
            store.ledger.append(s, {"type": "window_opened"}, at="t")
        other = NoteSigner(Ed25519PrivateKey.generate())
        with store.db.read() as s, pytest.raises(VerificationError, match="no signature by"):
            store.ledger.verify(s, checkpoint=other.checkpoint(1, b"\0" * 32))
        forged = store.ledger.signer.checkpoint(1, b"\1" * 32)
        with store.db.read() as s, pytest.raises(VerificationError, match="does not match the "
                                                                          "given checkpoint"):
            store.ledger.verify(s, checkpoint=forged)
    finally:
        store.close()


def test_signed_note_format():
    key = Ed25519PrivateKey.generate()
    signer = NoteSigner(key, name="example.org/log")
    note = signer.checkpoint(3, b"\x07" * 32)
    text, sig = note.split("\n\n")
    assert text == "example.org/log\n3\n" + base64.b64encode(b"\x07" * 32).decode()
    assert sig.startswith("\u2014 example.org/log ") and sig.endswith("\n")
    raw = base64.b64decode(sig.split()[-1])
    public = signer.vkey.split("+", 2)[2]
    assert raw[:4] == hashlib.sha256(b"example.org/log\n" + base64.b64decode(public)).digest()[:4]
    assert len(raw) == 68
    verifier = NoteVerifier(signer.vkey)
    assert verifier.checkpoint(note).size == 3
    tampered = note.replace("\n3\n", "\n4\n")
    with pytest.raises(VerificationError, match="does not verify"):
        verifier.open(tampered)
    with pytest.raises(VerificationError):
        verifier.open("no blank line")
    with pytest.raises(VerificationError, match="unusable verifier key"):
        NoteVerifier("name+00000000+AAAA")
    with pytest.raises(ValueError):
        NoteSigner(key, name="has space")


def test_sealing():
    sealer = Sealer(os.urandom(32))
    blob = sealer.seal(b"secret truth")
    assert b"secret" not in blob and sealer.open(blob) == b"secret truth"
    assert sealer.seal(b"secret truth") != blob  # a fresh nonce each time
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(VerificationError, match="altered"):
        sealer.open(flipped)
    with pytest.raises(VerificationError, match="another key"):
        Sealer(os.urandom(32)).open(blob)
    with pytest.raises(VerificationError):
        sealer.open(b"plain text")
    # a blob sealed for one purpose does not open as another (sealed inputs are no truth)
    inputs = sealer.seal(b"features", purpose=INPUTS)
    assert sealer.open(inputs, purpose=INPUTS) == b"features"
    with pytest.raises(VerificationError, match="another purpose"):
        sealer.open(inputs)


def test_key_files(tmp_path):
    keys = tmp_path / "keys"
    k1 = truth_key(keys)
    assert truth_key(keys) == k1
    assert stat.S_IMODE((keys / "truth.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert NoteSigner(ledger_key(keys)).vkey == NoteSigner(ledger_key(keys)).vkey
    assert stat.S_IMODE((keys / "ledger-key.pem").stat().st_mode) == 0o600
    os.chmod(keys / "truth.key", 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        truth_key(keys)


def test_artifact_store(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    sha = store.put_bytes(b"abc")
    assert sha == hashlib.sha256(b"abc").hexdigest()
    assert store.put_bytes(b"abc") == sha and store.read(sha) == b"abc"
    other = store.put_bytes(b"orphan")
    handle, tmp = store.temporary()
    handle.close()
    removed = store.sweep({sha})
    assert removed == [other] and not tmp.exists() and store.exists(sha)
    store.path(sha).chmod(0o644)
    store.path(sha).write_bytes(b"abd")
    with pytest.raises(VerificationError):
        store.read(sha)


def test_migrations_are_idempotent(tmp_path, database_url):
    db = open_database(database_url)
    open_database(database_url).dispose()  # a second start finds the schema at head
    try:
        with db.read() as s:
            assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() \
                == HEAD_REVISION
        tables = set(inspect(db.engine).get_table_names())
        assert {"submissions", "ledger_entries", "ledger_head", "jobs"} <= tables
        if db.is_sqlite:
            with db.engine.connect() as c:
                assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        db.dispose()


def test_database_urls_are_checked(tmp_path):
    with pytest.raises(ConfigurationError, match="only sqlite"):
        open_database("mysql://x/y")
    with pytest.raises(ConfigurationError, match="in-memory"):
        open_database("sqlite://")

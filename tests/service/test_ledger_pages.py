"""``ledger verify`` reads the log in pages: whatever the page size, it gives the same
answer, and names the same first bad entry, as reading the log in one query did."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from adjudicator.errors import VerificationError
from adjudicator.ledger import Ledger
from adjudicator.store import open_store

from .conftest import make_settings

N = 23
PAGES = (1, 2, 3, 5, 8, 22, 23, 24, 10_000)


@pytest.fixture
def store(tmp_path, database_url):
    store = open_store(make_settings(tmp_path, database_url))
    for i in range(N):
        event = {"type": "submission_received", "at": f"t{i}", "n": i}
        if i % 3:
            event["challenge"] = f"c{i % 2}"
        with store.db.write() as s:
            store.ledger.append(s, event, at=f"t{i}")
    try:
        yield store
    finally:
        store.close()


def _outcome(store, page: int, **kw) -> str:
    with store.db.read(snapshot=True) as s:
        try:
            result = store.ledger.verify(s, page=page, **kw)
        except VerificationError as exc:
            return f"error: {exc}"
    return f"ok {result.size} {result.head} {result.checkpoint!r} {result.extends}"


def _same_for_every_page(store, **kw) -> str:
    outcomes = {page: _outcome(store, page, **kw) for page in PAGES}
    assert len(set(outcomes.values())) == 1, outcomes
    return outcomes[PAGES[0]]


def test_every_page_size_gives_the_same_result(store):
    with store.db.read() as s:
        mirror = store.ledger.load(s)
        seven = store.ledger.checkpoint_at(s, 7)
    assert isinstance(mirror, Ledger)
    out = _same_for_every_page(store)
    assert out.startswith(f"ok {N} {mirror.checkpoint().head}")
    assert "extends" not in _same_for_every_page(store, checkpoint=seven)
    with pytest.raises(ValueError, match="`page` must be a positive integer"), \
            store.db.read() as s:
        store.ledger.verify(s, page=0)


@pytest.mark.parametrize("seq", [0, 1, 7, 8, 21, 22])
def test_the_first_bad_entry_is_named_whatever_the_page_size(store, seq):
    with store.db.write() as s:
        entry = bytes(s.execute(text("SELECT entry FROM ledger_entries WHERE seq = :q"),
                                {"q": seq}).scalar_one())
        edited = entry.replace(b'"n":', b'"m":')
        s.execute(text("UPDATE ledger_entries SET entry = :e, leaf_hash = :h WHERE seq = :q"),
                  {"e": edited, "h": hashlib.sha256(b"\x00" + edited).digest(), "q": seq})
    assert _same_for_every_page(store).startswith(
        f"error: ledger entry {seq}: the log up to it does not match the checkpoint signed "
        "when it was appended")
    with store.db.write() as s:
        s.execute(text("DELETE FROM ledger_entries WHERE seq = :q"), {"q": seq})
    missing = _same_for_every_page(store)
    if seq == N - 1:
        assert missing.startswith("error: the ledger head (23) does not match the 22 entries")
    else:
        assert missing == (f"error: ledger entry {seq} is missing (the next stored entry is "
                           f"{seq + 1})")

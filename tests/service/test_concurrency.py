"""Limits that hold under concurrency, through a real server on loopback, on both databases."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
from sqlalchemy import select

from adjudicator.store.models import FamilyCounter, Submission

from .conftest import ASSETS

ENTRY = (ASSETS / "service_entry.csv").read_bytes()


def _burst(live, who: str, n: int, key=lambda i: None) -> list[httpx.Response]:
    start = threading.Barrier(n)
    out: list[httpx.Response | Exception] = [None] * n  # type: ignore[list-item]

    def post(i: int) -> None:
        headers = live.auth(who)
        if key(i) is not None:
            headers["Idempotency-Key"] = key(i)
        with httpx.Client(base_url=live.url, timeout=300) as client:
            start.wait()
            try:
                out[i] = client.post("/challenges/c1/submissions", content=ENTRY,
                                     headers=headers)
            except Exception as exc:  # noqa: BLE001 - reported below
                out[i] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in out if isinstance(r, Exception)], out
    return out  # type: ignore[return-value]


def test_fifty_concurrent_uploads_with_a_cap_of_five(live):
    responses = _burst(live, "alice", 50)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 5, 409: 45}, {c: n for c, n in codes.items()}
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(r["error"] == "MultiplicityError" for r in refused)
    rt = live.app.state.runtime
    with rt.store.db.read() as s:
        subs = list(s.scalars(select(Submission).order_by(Submission.sequence)))
        counter = s.get(FamilyCounter, ("c1", "team-a"))
        assert [x.sequence for x in subs] == [1, 2, 3, 4, 5]
        assert counter.accepted == 5
        assert len({x.received_seq for x in subs}) == 5
        rt.store.ledger.verify(s)
        from adjudicator.store import verify_records

        verify_records(s)
    assert list(rt.store.artifacts.tmp.iterdir()) == []


def test_concurrent_retries_with_one_idempotency_key(live):
    responses = _burst(live, "bob", 12, key=lambda i: "same-key")
    assert sorted(r.status_code for r in responses) == [200] * 11 + [201]
    assert len({r.json()["id"] for r in responses}) == 1

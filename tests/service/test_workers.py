"""Several workers at once (setting ``service_workers``), on both databases: every job runs
exactly once, every result is the one a single worker writes, the ledger verifies, and a
claim whose worker died is taken over when its lease lapses."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from adjudicator.service.commands import verify_ledger
from adjudicator.store.models import Job, LedgerEntry, Submission

from .conftest import ASSETS, Api, add_tokens, make_settings

FIXED = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)
TEAMS = ("team-a", "team-b", "team-c", "team-d")
PER_TEAM = 5  # the protocol's max_submissions: 4 families x 5 = 20 jobs


def _entry(team: int, sequence: int) -> bytes:
    """A different entry per (team, sequence): the scores shifted by a small amount."""
    lines = (ASSETS / "service_entry.csv").read_text().splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        unit, score = line.split(",")
        out.append(f"{unit},{float(score) + 0.05 * ((i * (team + 2) + sequence) % 5):.6f}")
    return ("\n".join(out) + "\n").encode()


def _service(tmp_path: Path, database_url: str, workers: int, **kw: Any) -> Any:
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app
    from adjudicator.service.users import add_user

    app = create_app(make_settings(tmp_path, database_url, service_workers=workers),
                     worker=False, clock=lambda: FIXED, **kw)
    tokens = add_tokens(app.state.runtime)
    for team in TEAMS[2:]:
        tokens[team] = add_user(app.state.runtime, team, "participant", team)[1]
    tokens["team-a"], tokens["team-b"] = tokens["alice"], tokens["bob"]
    client = TestClient(app)
    client.__enter__()
    api = Api(client=client, app=app, tokens=tokens)
    api.challenge()
    # each family's submissions in a row: jobs 1..5 are team-a's 1..5, so workers taking
    # the oldest jobs would run a family's sequence side by side if nothing stopped them
    for t, team in enumerate(TEAMS):
        for sequence in range(1, PER_TEAM + 1):
            r = api.submit(team, body=_entry(t, sequence))
            assert r.status_code == 201, r.text
    return api


def _results(api: Api) -> dict[tuple[str, int], str | None]:
    with api.rt.store.db.read() as s:
        return {(x.family, x.sequence): x.result_sha256
                for x in s.scalars(select(Submission))}


def _wait_idle(api: Api, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with api.rt.store.db.read() as s:
            if not s.scalars(select(Job).where(Job.status.in_(("queued", "running")))).first():
                return
        time.sleep(0.1)
    pytest.fail("the workers did not finish the queued jobs")


def _counting(worker: Any) -> tuple[Counter[int], list[int]]:
    """Wrap ``worker.execute``: how often each job ran, and the most running at once."""
    runs: Counter[int] = Counter()
    peak = [0, 0]  # running now, most at once
    lock = threading.Lock()
    execute = worker.execute

    def counted(claim: Any) -> None:
        with lock:
            runs[claim.id] += 1
            peak[0] += 1
            peak[1] = max(peak)
        try:
            execute(claim)
        finally:
            with lock:
                peak[0] -= 1

    worker.execute = counted
    return runs, peak


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], str | None]:
    """The results of one worker taking the jobs in order (SQLite)."""
    tmp = tmp_path_factory.mktemp("one")
    api = _service(tmp, f"sqlite:///{tmp / 'db' / 'adjudicator.db'}", 1)
    try:
        assert api.drain() == len(TEAMS) * PER_TEAM
        results = _results(api)
    finally:
        api.client.__exit__(None, None, None)
    assert all(results.values()) and len(set(results.values())) == len(results)
    return results


def test_three_workers_drain_twenty_jobs_once_each(tmp_path, database_url, one_worker):
    api = _service(tmp_path, database_url, 3, poll=0.05)
    worker = api.app.state.worker
    assert worker.threads == 3
    runs, peak = _counting(worker)
    try:
        worker.start()
        _wait_idle(api)
        worker.stop(timeout=60)
        rt = api.rt
        with rt.store.db.read() as s:
            jobs = list(s.scalars(select(Job)))
            done = [e for e in s.scalars(select(LedgerEntry.entry))
                    if b'"adjudication_done"' in bytes(e)]
        assert len(jobs) == len(TEAMS) * PER_TEAM
        assert {j.status for j in jobs} == {"done"}
        assert [j.attempts for j in jobs] == [1] * len(jobs)  # claimed once each
        assert sorted(runs) == sorted(j.id for j in jobs) and set(runs.values()) == {1}
        assert len(done) == len(jobs)
        assert peak[1] >= 2  # the workers did run side by side
        assert _results(api) == one_worker
        result, records, files = verify_ledger(rt)
        assert result.size >= 2 * len(jobs)  # received and adjudicated, at least
        assert records >= len(jobs) and files >= len(jobs)
    finally:
        worker.stop(timeout=60)
        api.client.__exit__(None, None, None)


def test_a_dead_workers_job_is_taken_over_after_its_lease(tmp_path, database_url):
    from adjudicator.service.worker import Worker, _LostClaim

    api = _service(tmp_path, database_url, 2, poll=0.05)
    rt = api.rt
    # a worker that claims the first job and then dies: no heartbeat, nothing committed
    dead = Worker(rt, lease=1.0)
    claim = dead._claim()
    assert claim is not None and claim.attempts == 1
    pool = api.app.state.worker
    runs, _ = _counting(pool)
    try:
        pool.start()
        _wait_idle(api)
        pool.stop(timeout=60)
        with rt.store.db.read() as s:
            job = s.get(Job, claim.id)
            assert (job.status, job.attempts) == ("done", 2)  # taken over once
            assert all(j.status == "done" for j in s.scalars(select(Job)))
        assert runs[claim.id] == 1 and set(runs.values()) == {1}
        # the dead worker comes back to commit: its claim is lost, nothing is written
        with pytest.raises(_LostClaim):
            dead.execute(claim)
        with rt.store.db.read() as s:
            done = [e for e in s.scalars(select(LedgerEntry.entry))
                    if b'"adjudication_done"' in bytes(e)]
        assert len(done) == len(TEAMS) * PER_TEAM
        verify_ledger(rt)
    finally:
        pool.stop(timeout=60)
        api.client.__exit__(None, None, None)


def test_a_claim_waits_for_earlier_submissions_of_its_family(api):
    """Sequence 2 of a family is not claimed while sequence 1 runs: its history (in
    result.json) must be the one a single worker sees."""
    api.challenge()
    for _ in range(2):
        assert api.submit("alice").status_code == 201
    assert api.submit("bob").status_code == 201
    worker = api.app.state.worker
    first, other = worker._claim(), worker._claim()
    assert first is not None and other is not None
    with api.rt.store.db.read() as s:
        seqs = {c.id: (s.get(Submission, c.submission_id).family,
                       s.get(Submission, c.submission_id).sequence) for c in (first, other)}
    assert seqs == {first.id: ("team-a", 1), other.id: ("team-b", 1)}
    assert worker._claim() is None  # team-a's second waits for its first
    worker.execute(first)
    second = worker._claim()
    assert second is not None
    with api.rt.store.db.read() as s:
        sub = s.get(Submission, second.submission_id)
        assert (sub.family, sub.sequence) == ("team-a", 2)


def test_service_workers_setting(tmp_path, monkeypatch):
    from adjudicator.errors import ConfigurationError
    from adjudicator.service.worker import Worker
    from adjudicator.settings import load_settings

    monkeypatch.setenv("ADJUDICATOR_SERVICE_WORKERS", "4")
    assert load_settings(home=tmp_path).service_workers == 4
    monkeypatch.setenv("ADJUDICATOR_SERVICE_WORKERS", "0")
    with pytest.raises(ConfigurationError, match="service_workers"):
        load_settings(home=tmp_path)
    with pytest.raises(ValueError, match="`threads` must be a positive integer"):
        Worker(None, threads=0)  # type: ignore[arg-type]

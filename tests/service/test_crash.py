"""Crash safety: a server killed with SIGKILL in a burst of uploads and adjudications
restarts clean, and a row edited behind the service's back fails ``ledger verify`` there.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from adjudicator.store.models import Artifact, Job, Submission

from .conftest import ASSETS, ROOT, Api, add_tokens, free_port, make_settings

ENTRY = (ASSETS / "service_entry.csv").read_bytes()
WEAK = (ASSETS / "service_entry_weak.csv").read_bytes()
TEAMS = 8


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADJUDICATOR_")}
    env.update(ADJUDICATOR_HOME=str(tmp_path / "home"), ADJUDICATOR_DATABASE_URL=url)
    return env


def _start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adjudicator", "serve", "--port", str(port),
         "--job-lease", "2"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("the server did not come up")


def _prepare(tmp_path: Path, url: str) -> dict[str, str]:
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app
    from adjudicator.service.users import add_user

    app = create_app(make_settings(tmp_path, url), worker=False)
    tokens = add_tokens(app.state.runtime)
    for i in range(TEAMS):
        tokens[f"p{i}"] = add_user(app.state.runtime, f"p{i}", "participant", f"t{i}")[1]
    with TestClient(app) as client:
        Api(client=client, app=app, tokens=tokens).challenge()
    return tokens


@pytest.mark.slow
def test_sigkill_mid_burst_then_restart(tmp_path, database_url):
    tokens = _prepare(tmp_path, database_url)
    env = _env(tmp_path, database_url)
    port = free_port()
    server = _start(env, port)
    base = f"http://127.0.0.1:{port}"
    accepted = threading.Semaphore(0)
    results: list[int] = []

    def upload(i: int, j: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[f'p{i}']}"}
        try:
            r = httpx.post(f"{base}/challenges/c1/submissions", headers=headers,
                           content=ENTRY if j % 2 else WEAK, timeout=60)
            results.append(r.status_code)
            if r.status_code == 201:
                accepted.release()
        except httpx.HTTPError:
            results.append(-1)  # the server died under this request

    threads = [threading.Thread(target=upload, args=(i, j))
               for j in range(4) for i in range(TEAMS)]
    for t in threads:
        t.start()
    for _ in range(6):  # kill once a few uploads were accepted (and adjudications began)
        assert accepted.acquire(timeout=120)
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    for t in threads:
        t.join()
    assert -1 in results or len(results) == len(threads)

    server = _start(env, port)
    try:
        deadline = time.monotonic() + 300
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        while True:
            subs = httpx.get(f"{base}/challenges/c1/submissions", headers=admin,
                             timeout=30).json()
            if all(s["status"] != "received" for s in subs):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"jobs not finished after the restart: {subs}")
            time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    from adjudicator.settings import load_settings
    from adjudicator.store import open_store

    store = open_store(load_settings(home=tmp_path / "home", database_url=database_url))
    try:
        with store.db.read() as s:
            subs = list(s.scalars(select(Submission)))
            jobs = list(s.scalars(select(Job)))
            rows = set(s.scalars(select(Artifact.sha256)))
        assert len(subs) >= 6
        assert all(x.status == "adjudicated" for x in subs), [(x.id, x.error) for x in subs]
        assert {j.status for j in jobs} == {"done"}
        for x in subs:  # no half-written submission
            data = store.artifacts.path(x.sha256).read_bytes()
            assert hashlib.sha256(data).hexdigest() == x.sha256
            assert x.received_seq >= 0 and x.adjudicated_seq is not None
        assert set(store.artifacts.addresses()) == rows  # no orphaned file, none missing
        assert list(store.artifacts.tmp.iterdir()) == []
    finally:
        store.close()
    verify = subprocess.run([sys.executable, "-m", "adjudicator", "ledger", "verify"],
                            env=env, cwd=ROOT, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert f"{len(subs)} " in verify.stdout or "ok:" in verify.stdout


def _verify(monkeypatch, tmp_path, url, *args):
    from typer.testing import CliRunner

    from adjudicator.cli import app

    monkeypatch.setenv("ADJUDICATOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADJUDICATOR_DATABASE_URL", url)
    return CliRunner().invoke(app, ["ledger", "verify", *args])


def test_edited_rows_fail_ledger_verify_at_that_row(api, monkeypatch, tmp_path, database_url):
    api.challenge()
    sub = api.submit("alice").json()
    api.submit("bob", body=ASSETS / "service_entry_weak.csv")
    api.drain()
    ok = _verify(monkeypatch, tmp_path, database_url)
    assert ok.exit_code == 0, ok.output
    published = tmp_path / "published.note"
    published.write_text(api.client.get("/ledger/checkpoint").text)
    db = api.rt.store.db
    # (a) a domain row: the verdict of a submission changed in the table
    with db.write() as s:
        s.execute(text("UPDATE submissions SET verdict = 'NOT_CERTIFIED' WHERE id = :i"),
                  {"i": sub["id"]})
    bad = _verify(monkeypatch, tmp_path, database_url)
    assert bad.exit_code == 1
    assert f"submissions row {sub['id']} does not match ledger entry" in bad.output
    with db.write() as s:
        s.execute(text("UPDATE submissions SET verdict = 'CERTIFIED' WHERE id = :i"),
                  {"i": sub["id"]})
    # (b) a ledger row: its bytes and even its leaf hash rewritten consistently
    seq = sub["received_seq"]
    with db.read() as s:
        entry = bytes(s.execute(text("SELECT entry FROM ledger_entries WHERE seq = :q"),
                                {"q": seq}).scalar_one())
    forged = entry.replace(b"team-a", b"team-z")
    with db.write() as s:
        s.execute(text("UPDATE ledger_entries SET entry = :e WHERE seq = :q"),
                  {"e": forged, "q": seq})
    bad = _verify(monkeypatch, tmp_path, database_url)
    assert bad.exit_code == 1 and f"ledger entry {seq}:" in bad.output
    with db.write() as s:
        s.execute(text("UPDATE ledger_entries SET leaf_hash = :h WHERE seq = :q"),
                  {"h": hashlib.sha256(b"\x00" + forged).digest(), "q": seq})
    bad = _verify(monkeypatch, tmp_path, database_url)
    assert bad.exit_code == 1 and f"ledger entry {seq}:" in bad.output
    assert "checkpoint signed when it was appended" in bad.output
    with db.write() as s:
        s.execute(text("UPDATE ledger_entries SET entry = :e, leaf_hash = :h WHERE seq = :q"),
                  {"e": entry, "h": hashlib.sha256(b"\x00" + entry).digest(), "q": seq})
    assert _verify(monkeypatch, tmp_path, database_url).exit_code == 0
    # (c) the tail removed: only a checkpoint published earlier can tell
    with db.write() as s:
        last = s.execute(text("SELECT max(seq) FROM ledger_entries")).scalar_one()
        s.execute(text("DELETE FROM ledger_entries WHERE seq = :q"), {"q": last})
        s.execute(text("UPDATE ledger_head SET size = :n, frontier = :f"),
                  {"n": last, "f": _frontier(db, last)})
        s.execute(text("UPDATE submissions SET adjudicated_seq = NULL, status = 'received' "
                       "WHERE adjudicated_seq = :q"), {"q": last})
    assert _verify(monkeypatch, tmp_path, database_url).exit_code == 0
    bad = _verify(monkeypatch, tmp_path, database_url, "--checkpoint", str(published))
    assert bad.exit_code == 1 and f"entries {last}..{last} were removed" in bad.output
    # (d) a file of the store altered
    path = api.rt.store.artifacts.path(sub["sha256"])
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\n")
    bad = _verify(monkeypatch, tmp_path, database_url)
    assert bad.exit_code == 1 and f"artifacts row {sub['sha256']}" in bad.output


def _frontier(db, size: int) -> str:
    import json

    from adjudicator.ledger import leaf_hash
    from adjudicator.store.ledger import frontier_append

    frontier: list[bytes] = []
    with db.read() as s:
        rows = s.execute(text("SELECT entry FROM ledger_entries WHERE seq < :n ORDER BY seq"),
                         {"n": size}).scalars()
        for i, e in enumerate(rows):
            frontier = frontier_append(frontier, i, leaf_hash(bytes(e)))
    return json.dumps([h.hex() for h in frontier])


def test_moving_a_submission_to_another_team_fails_verify(api, monkeypatch, tmp_path,
                                                          database_url):
    api.challenge()
    sub = api.submit("alice").json()
    with api.rt.store.db.write() as s:
        bob_team = s.execute(text("SELECT id FROM teams WHERE name = 'team-b'")).scalar_one()
        s.execute(text("UPDATE submissions SET team_id = :t WHERE id = :i"),
                  {"t": bob_team, "i": sub["id"]})
    bad = _verify(monkeypatch, tmp_path, database_url)
    assert bad.exit_code == 1 and f"submissions row {sub['id']}" in bad.output
    assert "team" in bad.output

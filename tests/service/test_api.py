"""The HTTP API end to end on both databases: phases in both orders, submissions, results,
idempotency, validation before acceptance, body limits, the ledger's proofs."""

from __future__ import annotations

import gzip
import io
import json
import zlib

import pandas as pd
import pytest
from sqlalchemy import func, select

from adjudicator.ledger import verify_consistency, verify_inclusion
from adjudicator.store.models import Artifact, LedgerEntry, Submission

from .conftest import ASSETS


def _events(api):
    r = api.client.get("/ledger/entries?limit=1000", headers=api.auth("auditor"))
    assert r.status_code == 200
    return [e["event"] for e in r.json()["entries"]]


def _counts(api):
    with api.rt.store.db.read() as s:
        return (s.scalar(select(func.count()).select_from(Submission)),
                s.scalar(select(func.count()).select_from(Artifact)),
                s.scalar(select(func.count()).select_from(LedgerEntry)))


def test_retrospective_flow(api):
    cid = api.challenge()
    page = api.client.get(f"/challenges/{cid}").json()
    assert page["phase"] == "open" and page["order"] == "retrospective"
    assert page["truth"]["digest"].startswith("sha256:")
    r = api.submit("alice", key="first")
    assert r.status_code == 201, r.text
    sub = r.json()
    assert (sub["sequence"], sub["status"], sub["team"]) == (1, "received", "team-a")
    assert api.drain() == 1
    done = api.client.get(f"/submissions/{sub['id']}", headers=api.auth("alice")).json()
    assert done["status"] == "adjudicated" and done["verdict"] == "CERTIFIED"
    result = api.client.get(f"/submissions/{sub['id']}/result", headers=api.auth("alice"))
    doc = json.loads(result.content)
    assert doc["submission"]["digest"] == sub["digest"]
    assert doc["truth"]["digest"] == page["truth"]["digest"]
    assert doc["multiplicity"]["sequence"] == 1 and doc["submission"]["team"] == "team-a"
    # the ledger: truth before the window, then the submission, then its adjudication
    kinds = [e["type"] for e in _events(api)]
    assert kinds == ["protocol_registered", "truth_committed", "window_opened",
                     "submission_received", "adjudication_done"]
    adjudication = _events(api)[-1]
    assert adjudication["submission"] == sub["id"]
    assert adjudication["verdict"] == "CERTIFIED"
    # a second submission of the team sees the first in its history
    r2 = api.submit("alice2", body=ASSETS / "service_entry_weak.csv")
    assert r2.json()["sequence"] == 2
    api.drain()
    doc2 = json.loads(api.client.get(f"/submissions/{r2.json()['id']}/result",
                                     headers=api.auth("alice")).content)
    assert [h["sequence"] for h in doc2["multiplicity"]["history"]] == [1]
    assert doc2["multiplicity"]["alpha_k"] < doc["multiplicity"]["alpha_k"]
    assert doc2["verdict"] == "NOT_CERTIFIED"
    board = api.client.get(f"/challenges/{cid}/leaderboard").json()
    assert board["teams"] == [{"team": "team-a", "submissions": 2, "adjudicated": 2,
                               "certified": True}]
    assert "estimate" not in json.dumps(board)


def test_prospective_flow_locks_predictions_before_the_truth(api):
    cid = api.challenge("p1", order="prospective")
    assert api.client.get(f"/challenges/{cid}").json()["units_digest"].startswith("sha256:")
    admin = api.auth("admin")
    # predictions are validated against the units manifest
    bad = api.submit("alice", cid, ASSETS / "service_entry_missing_unit.csv")
    assert bad.status_code == 422 and "missing predictions" in bad.json()["detail"]
    ok = api.submit("alice", cid)
    assert ok.status_code == 201
    api.drain()  # nothing to adjudicate without the truth
    assert api.client.get(f"/submissions/{ok.json()['id']}",
                          headers=api.auth("alice")).json()["status"] == "received"
    truth = (ASSETS / "service_truth.csv").read_bytes()
    early = api.client.put(f"/challenges/{cid}/truth", content=truth, headers=admin)
    assert early.status_code == 409 and "after the window" in early.json()["detail"]
    assert api.client.post(f"/challenges/{cid}/close", headers=admin).status_code == 200
    late = api.submit("bob", cid)
    assert late.status_code == 409
    # a truth that does not cover the manifest is refused
    short = b"\n".join(truth.splitlines()[:-3]) + b"\n"
    r = api.client.put(f"/challenges/{cid}/truth", content=short, headers=admin)
    assert r.status_code == 422 and "manifest" in r.json()["detail"]
    r = api.client.put(f"/challenges/{cid}/truth", content=truth, headers=admin)
    assert r.status_code == 200, r.text
    assert api.drain() == 1
    s = api.client.get(f"/submissions/{ok.json()['id']}", headers=api.auth("alice")).json()
    assert s["verdict"] == "CERTIFIED"
    events = _events(api)
    kinds = [e["type"] for e in events]
    assert kinds == ["protocol_registered", "window_opened", "submission_received",
                     "window_closed", "truth_committed", "adjudication_done"]
    assert events[1]["truth"] is None and events[1]["units"] is not None


def test_phases_are_enforced(api):
    admin = api.auth("admin")
    cid = api.challenge(open=False)
    assert api.submit("alice").status_code == 409  # draft: not open
    truth = (ASSETS / "service_truth.csv").read_bytes()
    assert api.client.put(f"/challenges/{cid}/truth", content=truth,
                          headers=admin).status_code == 409  # committed already
    assert api.client.post(f"/challenges/{cid}/close", headers=admin).status_code == 409
    assert api.client.post(f"/challenges/{cid}/open", headers=admin).status_code == 200
    assert api.client.post(f"/challenges/{cid}/open", headers=admin).status_code == 409
    r = api.client.put(f"/challenges/{cid}/baselines/baseline",
                       content=(ASSETS / "service_baseline.csv").read_bytes(), headers=admin)
    assert r.status_code == 409  # baselines are fixed before the window opens
    unknown = api.client.put(f"/challenges/{cid}/baselines/nope", content=b"x",
                             headers=admin)
    assert unknown.status_code == 404
    # a retrospective challenge cannot open without its truth
    digest = api.register()
    api.client.post("/challenges", json={"id": "c2", "protocol": digest,
                                         "order": "retrospective"}, headers=admin)
    r = api.client.post("/challenges/c2/open", headers=admin)
    assert r.status_code == 409 and "truth" in r.json()["detail"]


def test_max_submissions_and_idempotency(api):
    api.challenge()
    for i in range(5):
        assert api.submit("alice", key=f"k{i}").status_code == 201
    refused = api.submit("alice2", key="k-extra")
    assert refused.status_code == 409 and refused.json()["error"] == "MultiplicityError"
    # a retry of an accepted upload still returns it, even at the cap
    again = api.submit("alice", key="k3")
    assert again.status_code == 200 and again.json()["sequence"] == 4
    # the same key with another body is refused
    other = api.submit("alice", body=ASSETS / "service_entry_weak.csv", key="k3")
    assert other.status_code == 422 and other.json()["error"] == "IdempotencyKeyError"
    # another team has its own family
    assert api.submit("bob", key="k3").json()["sequence"] == 1
    assert _counts(api)[0] == 6


def test_validation_before_acceptance(api, asset):
    api.challenge()
    before = _counts(api)
    for body in (b"", b"unit_id,score\n", (ASSETS / "service_truth.csv").read_bytes(),
                 (ASSETS / "service_entry_missing_unit.csv").read_bytes(),
                 asset("not_a_csv.bin").read_bytes(), asset("fake.parquet").read_bytes()):
        r = api.submit("alice", body=body)
        assert r.status_code == 422, (body[:30], r.text)
        assert "/tmp" not in r.json()["detail"] and "home" not in r.json()["detail"]
    assert _counts(api) == before
    assert list(api.rt.store.artifacts.tmp.iterdir()) == []


def test_body_limits(api):
    api.challenge()
    limit = api.rt.settings.max_upload_bytes
    before = _counts(api)
    big = b"unit_id,score\n" + b"u000,1\n" * (limit // 7 + 10)
    r = api.submit("alice", body=big)
    assert r.status_code == 413
    # no Content-Length: the stream is cut when it passes the limit
    def chunks():
        for _ in range(limit // 65536 + 4):
            yield b"x" * 65536
    r = api.client.post("/challenges/c1/submissions", content=chunks(),
                        headers=api.auth("alice"))
    assert r.status_code == 413
    # a gzip bomb: a few kilobytes on the wire, far more than the limit decoded
    bomb = gzip.compress(b"0" * (limit * 8))
    assert len(bomb) < limit // 10
    r = api.submit("alice", body=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413 and "decompressed" in r.json()["detail"]
    deflate_bomb = zlib.compress(b"0" * (limit * 8))
    r = api.submit("alice", body=deflate_bomb, headers={"Content-Encoding": "deflate"})
    assert r.status_code == 413
    r = api.submit("alice", body=b"abc", headers={"Content-Encoding": "br"})
    assert r.status_code == 422
    # a Parquet file whose columns decompress past the limit
    frame = pd.DataFrame({"unit_id": ["u000"] * (limit // 4), "score": [0.0] * (limit // 4)})
    buf = io.BytesIO()
    frame.to_parquet(buf, compression="zstd")
    assert len(buf.getvalue()) < limit
    r = api.submit("alice", body=buf.getvalue())
    assert r.status_code == 413 and "Parquet" in r.json()["detail"]
    assert _counts(api) == before
    # a gzip-encoded valid upload is accepted
    ok = api.submit("alice", body=gzip.compress((ASSETS / "service_entry.csv").read_bytes()),
                    headers={"Content-Encoding": "gzip"})
    assert ok.status_code == 201


def test_truth_is_sealed_at_rest(api):
    api.challenge()
    truth = (ASSETS / "service_truth.csv").read_bytes()
    store = api.rt.store.artifacts.root
    marker = truth.splitlines()[5]
    for f in store.rglob("*"):
        if f.is_file():
            assert marker not in f.read_bytes(), f
    keys = api.rt.settings.keys
    assert oct((keys / "truth.key").stat().st_mode & 0o777) == "0o600"
    with api.rt.store.db.read() as s:
        for (entry,) in s.execute(select(LedgerEntry.entry)):
            assert marker not in bytes(entry)


def test_ledger_proofs_verify_offline(api):
    api.challenge()
    sub = api.submit("alice").json()
    api.drain()
    from adjudicator.store.notes import NoteVerifier

    verifier = NoteVerifier(api.client.get("/ledger/key").text)
    head = verifier.checkpoint(api.client.get("/ledger/checkpoint").text)
    assert head.size == 5
    proof = api.client.get(f"/ledger/entries/{sub['received_seq']}/proof",
                           headers=api.auth("auditor")).json()
    import hashlib

    leaf = hashlib.sha256(b"\x00" + proof["entry"].encode()).digest()
    verify_inclusion(leaf, sub["received_seq"], proof["size"],
                     [bytes.fromhex(p) for p in proof["inclusion_proof"]],
                     verifier.checkpoint(proof["checkpoint"]).root)
    cons = api.client.get("/ledger/consistency?first=2").json()
    old = verifier.checkpoint(cons["first_checkpoint"])
    new = verifier.checkpoint(cons["second_checkpoint"])
    verify_consistency(old.size, old.root, new.size, new.root,
                       [bytes.fromhex(p) for p in cons["proof"]])
    assert json.loads(proof["entry"])["digest"] == sub["digest"]


def test_errors_have_one_shape(api):
    r = api.client.get("/challenges/nope")
    assert r.status_code == 404 and r.json() == {"error": "NotFoundError",
                                                 "detail": "no challenge 'nope'"}
    r = api.client.post("/protocols", content=b"adjudicator: protocol/v1\nid: x\n",
                        headers=api.auth("admin"))
    assert r.status_code == 422 and r.json()["error"] == "ProtocolError"


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", "Bearer"])
def test_bad_tokens_are_refused_not_downgraded(api, header):
    r = api.client.get("/challenges", headers={"Authorization": header})
    assert r.status_code == 401


def test_out_of_range_ids_are_not_server_errors(api):
    # PostgreSQL refuses integers past 2**31 - 1 in an INTEGER column: found as a 500
    for path in ("/submissions/99999999999999999", "/jobs/99999999999999999",
                 "/submissions/-9/result", "/ledger/entries/99999999999999/proof",
                 "/submissions/2147483647"):
        r = api.client.get(path, headers=api.auth("admin"))
        assert r.status_code in (404, 422), (path, r.status_code, r.text)


def test_nul_characters_are_refused_at_the_door(api):
    # PostgreSQL text cannot hold NUL: found as 500s, now 422 on both databases
    api.challenge()
    for path in ("/challenges/a%00b", "/challenges/a%00b/leaderboard",
                 "/protocols/sha256%00x", "/challenges/c1/submissions?name=a%00b"):
        r = api.client.get(path, headers=api.auth("admin"))
        assert r.status_code == 422, (path, r.status_code, r.text)
    r = api.client.post("/challenges", json={"id": "x", "protocol": "sha256:" + "0" * 64,
                                             "order": "retrospective", "title": "a\x00b"},
                        headers=api.auth("admin"))
    assert r.status_code == 422

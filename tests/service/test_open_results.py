"""Open results at close (issue 14): every adjudication published, failures included; notes;
refused withdrawals; CSV/Parquet with a schema; the progress report; the bundle checked
offline by ``adjudicator verify-bundle``, which names whatever was removed or added."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from adjudicator.adjudication import adjudicate
from adjudicator.cli import app as cli_app
from adjudicator.data import read_submission
from adjudicator.errors import ComputationError
from adjudicator.service.bundle import verify_bundle

from .conftest import ASSETS

CONSTANT = ASSETS / "service_entry_constant.csv"  # its adjudication fails (_FailingCompute)
WEAK = ASSETS / "service_entry_weak.csv"
PERFECT = ASSETS / "service_entry_perfect.csv"  # AUROC 1 on every resample: INCONCLUSIVE
FAILURE = "auroc: the metric is undefined on this test set (the test's compute says so)"


class _FailingCompute:
    """Where the worker runs adjudications (its ``compute`` seam): in this process, except
    that the CONSTANT entry's adjudication raises, as one that cannot run does. (Every
    score equal once failed on its own; a degenerate bootstrap is now INCONCLUSIVE or
    decided by another criterion, and bad files are refused at upload.)"""

    where = "process"

    def adjudicate(self, protocol, truth, submission, **kwargs):
        if submission.digest == read_submission(protocol, CONSTANT, truth).digest:
            raise ComputationError(FAILURE)
        return adjudicate(protocol, truth, submission, **kwargs)

    def close(self) -> None:
        pass


def _failing_constant(api) -> None:
    api.app.state.worker.compute = _FailingCompute()


def _closed_challenge(api, *, report: bool = False, protocol=None) -> dict[str, int]:
    """alice: strong, then constant (fails); alice2: weak; bob: strong; then close."""
    kwargs = {"protocol": protocol} if protocol is not None else {}
    _failing_constant(api)
    api.challenge(**kwargs)
    subs = {}
    for key, who, body in (("strong", "alice", ASSETS / "service_entry.csv"),
                           ("constant", "alice", CONSTANT), ("weak", "alice2", WEAK),
                           ("bob", "bob", ASSETS / "service_entry.csv")):
        r = api.submit(who, body=body)
        assert r.status_code == 201, r.text
        subs[key] = r.json()["id"]
    api.drain()
    if report:
        r = api.client.post(f"/submissions/{subs['strong']}/report", headers=api.auth("admin"))
        assert r.status_code == 202, r.text
        api.drain()
    assert api.client.post("/challenges/c1/close", headers=api.auth("admin")).status_code \
        == 200
    return subs


def _ledger_events(api) -> list[dict]:
    r = api.client.get("/ledger/entries?limit=1000", headers=api.auth("auditor"))
    return [e["event"] for e in r.json()["entries"]]


def test_every_adjudication_is_published_at_close_failures_included(api):
    _failing_constant(api)
    api.challenge()
    alice = api.submit("alice").json()
    api.drain()
    # before close: nobody but the committee and auditors reads the open results
    for who in (None, "alice", "bob"):
        r = api.client.get("/challenges/c1/results", headers=api.auth(who))
        assert r.status_code == 409 and "published when its window closes" in r.text
        assert api.client.get("/challenges/c1/results.csv",
                              headers=api.auth(who)).status_code == 409
    preview = api.client.get("/challenges/c1/results", headers=api.auth("auditor")).json()
    assert preview["published"] is False and len(preview["results"]) == 1
    assert api.client.get("/challenges/c1/results/bundle").status_code == 409

    for who, body in (("alice", CONSTANT), ("alice2", WEAK), ("bob", ASSETS /
                                                                "service_entry.csv")):
        assert api.submit(who, body=body).status_code == 201
    api.drain()
    assert api.client.post("/challenges/c1/close", headers=api.auth("admin")).status_code \
        == 200
    doc = api.client.get("/challenges/c1/results").json()  # the public reads it now
    assert doc["published"] is True and doc["publication"] == "named"
    rows = doc["results"]
    assert [r["submission"] for r in rows] == [alice["id"], alice["id"] + 1, alice["id"] + 2,
                                               alice["id"] + 3]
    by = {(r["team"], r["sequence"]): r for r in rows}
    strong, constant = by[("team-a", 1)], by[("team-a", 2)]
    weak, bob = by[("team-a", 3)], by[("team-b", 1)]
    assert strong["verdict"] == bob["verdict"] == "CERTIFIED"
    assert weak["verdict"] == "NOT_CERTIFIED" and weak["status"] == "adjudicated"
    assert constant["status"] == "failed" and constant["verdict"] is None
    assert constant["error"] == FAILURE and constant["ledger_seq"] is not None
    assert doc["counts"] == {"CERTIFIED": 2, "NOT_CERTIFIED": 1, "INCONCLUSIVE": 0,
                             "failed": 1, "pending": 0}
    # the row is the result document's numbers
    result = api.client.get(f"/submissions/{alice['id']}/result",
                            headers=api.auth("auditor")).json()
    assert strong["estimate"] == result["estimate"]
    assert (strong["interval_low"], strong["interval_high"]) == (result["interval"]["low"],
                                                                 result["interval"]["high"])
    assert strong["alpha_spent"] == result["multiplicity"]["alpha_k"]
    assert strong["result_sha256"] == hashlib.sha256(
        api.client.get(f"/submissions/{alice['id']}/result",
                       headers=api.auth("auditor")).content).hexdigest()
    # the failure is in the ledger, like every other outcome
    failed = [e for e in _ledger_events(api) if e["type"] == "adjudication_failed"]
    assert [e["submission"] for e in failed] == [constant["submission"]]

    # CSV and Parquet carry the same rows, typed by the schema
    schema = api.client.get("/challenges/c1/results/schema").json()
    names = [f["name"] for f in schema["fields"]]
    assert names == doc["fields"] and schema["primaryKey"] == ["submission"]
    text = api.client.get("/challenges/c1/results.csv").text
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == names and len(table) == 4
    assert [r["verdict"] for r in table] == ["CERTIFIED", "", "NOT_CERTIFIED", "CERTIFIED"]
    assert float(table[0]["estimate"]) == strong["estimate"]
    parquet = pq.read_table(io.BytesIO(api.client.get("/challenges/c1/results.parquet")
                                       .content))
    assert parquet.column_names == names and parquet.num_rows == 4
    assert parquet.column("estimate").to_pylist()[0] == strong["estimate"]
    assert str(parquet.schema.field("received_at").type) == "timestamp[us, tz=UTC]"
    assert json.loads(parquet.schema.metadata[b"adjudicator.schema"]) == schema


def test_a_perfectly_separating_entry_is_adjudicated_inconclusive_and_exported(api):
    """Every resample gives AUROC 1: no interval and no p-value for the threshold, so the
    verdict is INCONCLUSIVE; the submission is adjudicated, not failed, and the open
    results carry its empty interval."""
    api.challenge()
    sub = api.submit("alice", body=PERFECT).json()
    api.drain()
    row = api.client.get(f"/submissions/{sub['id']}", headers=api.auth("alice")).json()
    assert (row["status"], row["verdict"]) == ("adjudicated", "INCONCLUSIVE"), row
    result = api.client.get(f"/submissions/{sub['id']}/result",
                            headers=api.auth("auditor")).json()
    assert result["interval"]["low"] is None and result["standard_error"] is None
    assert result["criteria"][0]["passed"] is None and result["criteria"][0]["p_value"] is None
    assert "cannot measure the sampling uncertainty" in result["reasons"][0]
    assert [e["verdict"] for e in _ledger_events(api)
            if e["type"] == "adjudication_done"] == ["INCONCLUSIVE"]
    assert api.client.post("/challenges/c1/close", headers=api.auth("admin")).status_code \
        == 200
    doc = api.client.get("/challenges/c1/results").json()
    (published,) = doc["results"]
    assert published["verdict"] == "INCONCLUSIVE" and published["estimate"] == 1.0
    assert published["interval_low"] is None and published["interval_high"] is None
    assert doc["counts"]["INCONCLUSIVE"] == 1 and doc["counts"]["failed"] == 0
    (cells,) = list(csv.DictReader(io.StringIO(
        api.client.get("/challenges/c1/results.csv").text)))
    assert cells["verdict"] == "INCONCLUSIVE"
    assert cells["interval_low"] == cells["interval_high"] == ""
    parquet = pq.read_table(io.BytesIO(api.client.get("/challenges/c1/results.parquet")
                                       .content))
    assert parquet.column("interval_low").to_pylist() == [None]
    assert parquet.column("estimate").to_pylist() == [1.0]


def test_notes_are_escaped_limited_and_set_once(api):
    subs = _closed_challenge(api)
    alice = api.auth("alice")
    url = f"/submissions/{subs['weak']}/note"
    note = '=HYPERLINK("http://x") <b>did not beat the baseline</b>'
    r = api.client.put(url, json={"note": note}, headers=alice)  # another user of the team
    assert r.status_code == 200, r.text
    assert r.json()["note"] == note
    again = api.client.put(url, json={"note": "changed my mind"}, headers=alice)
    assert again.status_code == 409 and "not changed" in again.json()["detail"]
    for bad in ("x" * 281, "two\nlines", "bidi \u202e override", "", "nul \x00"):
        r = api.client.put(f"/submissions/{subs['strong']}/note", json={"note": bad},
                           headers=alice)
        assert r.status_code == 422, (bad, r.text)
    assert api.client.put(f"/submissions/{subs['strong']}/note", json={"note": "ok"},
                          headers=api.auth("bob")).status_code == 404  # not bob's
    for who, code in (("admin", 403), ("auditor", 403), (None, 401)):
        assert api.client.put(f"/submissions/{subs['strong']}/note", json={"note": "ok"},
                              headers=api.auth(who)).status_code == code
    row = next(r for r in api.client.get("/challenges/c1/results").json()["results"]
               if r["submission"] == subs["weak"])
    assert row["note"] == note  # JSON carries the text as it is
    cell = next(r for r in csv.DictReader(io.StringIO(
        api.client.get("/challenges/c1/results.csv").text))
        if r["submission"] == str(subs["weak"]))
    assert cell["note"] == "'" + note  # no formula for a spreadsheet to run
    events = [e for e in _ledger_events(api) if e["type"] == "note_attached"]
    assert [(e["submission"], e["note"]) for e in events] == [(subs["weak"], note)]


def test_deleting_or_hiding_a_submission_is_refused_and_recorded(api):
    subs = _closed_challenge(api)
    sid = subs["weak"]
    for method, action in (("DELETE", "delete"), ("PATCH", "hide")):
        r = api.client.request(method, f"/submissions/{sid}", headers=api.auth("alice2"),
                               json={"hidden": True})
        assert r.status_code == 405, r.text
        assert r.headers["allow"] == "GET"
        body = r.json()
        assert body["error"] == "WithdrawalRefusedError"
        assert "never withdrawn" in body["detail"] and "recorded in the ledger" in body["detail"]
    # the same attempt again: refused the same, on record once
    again = api.client.delete(f"/submissions/{sid}", headers=api.auth("alice2"))
    assert again.status_code == 405 and "on record" in again.json()["detail"]
    assert api.client.delete(f"/submissions/{sid}", headers=api.auth("admin")).status_code \
        == 405
    assert api.client.delete(f"/submissions/{sid}", headers=api.auth("bob")).status_code \
        == 404
    assert api.client.delete(f"/submissions/{sid}",
                             headers=api.auth("auditor")).status_code == 403
    assert api.client.delete(f"/submissions/{sid}").status_code == 401
    refused = [(e["submission"], e["action"], e["by"]) for e in _ledger_events(api)
               if e["type"] == "withdrawal_refused"]
    assert refused == [(sid, "delete", "participant"), (sid, "hide", "participant"),
                       (sid, "delete", "admin")]
    # and the result is still published, the ledger still verifies with its rows
    assert any(r["submission"] == sid and r["verdict"] == "NOT_CERTIFIED"
               for r in api.client.get("/challenges/c1/results").json()["results"])
    from adjudicator.store import verify_records

    with api.rt.store.db.read() as session:
        api.rt.store.ledger.verify(session)
        verify_records(session)


def _rezip(files: dict[str, bytes], path, *, fix_manifest: bool = True) -> None:
    files = dict(files)
    if fix_manifest:
        manifest = json.loads(files["bundle.json"])
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()
                             if n != "bundle.json"}
        files["bundle.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)


def _drop_row(files: dict[str, bytes], sid: int) -> dict[str, bytes]:
    doc = json.loads(files["results.json"])
    doc["results"] = [r for r in doc["results"] if r["submission"] != sid]
    lines = files["results.csv"].decode().splitlines(keepends=True)
    return {**files, "results.json": json.dumps(doc).encode(),
            "results.csv": "".join(line for line in lines
                                   if not line.startswith(f"c1,{sid},")).encode()}


def test_the_bundle_verifies_offline_and_names_what_was_removed_or_added(api, tmp_path):
    subs = _closed_challenge(api, report=True)
    assert api.client.put(f"/submissions/{subs['weak']}/note", json={"note": "too weak"},
                          headers=api.auth("alice2")).status_code == 200
    assert api.client.delete(f"/submissions/{subs['weak']}",
                             headers=api.auth("alice2")).status_code == 405
    r = api.client.get("/challenges/c1/results/bundle")  # anyone
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert api.client.get("/challenges/c1/results/bundle").content == r.content  # stable
    bundle = tmp_path / "c1.zip"
    bundle.write_bytes(r.content)
    key = tmp_path / "key.txt"
    key.write_text(api.client.get("/ledger/key").text)
    cert = api.rt.settings.keys / "signing-cert.pem"
    ok = verify_bundle(bundle, key=key.read_text(), cert=cert)
    assert ok.valid, ok.summary()
    assert ok.counts["submissions"] == 4 and ok.counts["results"] == 3
    assert (ok.counts["failures"], ok.counts["reports"], ok.counts["notes"]) == (1, 1, 1)
    assert ok.counts["refused_withdrawals"] == 1
    runner = CliRunner()
    out = runner.invoke(cli_app, ["verify-bundle", str(bundle), "--key", str(key),
                                  "--cert", str(cert)])
    assert out.exit_code == 0 and out.output.startswith("VALID"), out.output
    # without --key the bundle's own key is used, and the output says so
    own = runner.invoke(cli_app, ["verify-bundle", str(bundle)])
    assert own.exit_code == 0 and "key inside the bundle" in own.output

    with zipfile.ZipFile(bundle) as z:
        files = {n: z.read(n) for n in z.namelist()}
    entries = [json.loads(line) for line in files["ledger/entries.jsonl"].splitlines()]
    done = next(e for e in entries if json.loads(e["entry"])["type"] == "adjudication_done"
                and json.loads(e["entry"])["submission"] == subs["bob"])
    result = f"results/{subs['bob']}-{done['seq']}.json"
    assert result in files
    report = next(n for n in files if n.startswith("reports/"))

    def verdict(files_, *, fix_manifest=True):
        path = tmp_path / "tampered.zip"
        _rezip(files_, path, fix_manifest=fix_manifest)
        outcome = verify_bundle(path, key=key.read_text(), cert=cert)
        assert not outcome.valid and outcome.exit_code == 1
        cli = runner.invoke(cli_app, ["verify-bundle", str(path), "--key", str(key),
                                      "--cert", str(cert)])
        assert cli.exit_code == 1 and cli.output.startswith("INVALID")
        return "\n".join(outcome.reasons)

    # one result deleted (the manifest rewritten to match): named
    gone = {n: d for n, d in files.items() if n != result}
    assert f"the result of submission {subs['bob']}" in verdict(gone)
    assert f"{result} is listed in bundle.json but missing" in verdict(gone,
                                                                       fix_manifest=False)
    # one result added: named
    fake = json.loads(files[result])
    fake["submission"]["team"] = "ghost"
    added = {**files, "results/999-999.json": json.dumps(fake).encode()}
    assert "results/999-999.json is in the bundle but no adjudication_done" in verdict(added)
    # a row removed from the tables, or one added
    assert f"submission {subs['bob']} (ledger entry" in verdict(_drop_row(files, subs["bob"]))
    doc = json.loads(files["results.json"])
    doc["results"].append({**doc["results"][-1], "submission": 999})
    assert "row for submission 999" in verdict({**files,
                                                "results.json": json.dumps(doc).encode()})
    # the whole submission removed: its entries, its result, its rows: the chain breaks
    bob_seqs = {e["seq"] for e in entries if json.loads(e["entry"]).get("submission")
                == subs["bob"]}
    lines = [line for line, e in zip(files["ledger/entries.jsonl"].splitlines(keepends=True),
                                     entries, strict=True) if e["seq"] not in bob_seqs]
    erased = _drop_row({n: d for n, d in files.items() if n != result}, subs["bob"])
    erased["ledger/entries.jsonl"] = b"".join(lines)
    reasons = verdict(erased)
    assert f"ledger entry {min(bob_seqs)} of the challenge is missing" in reasons
    assert "the window closed with 4 submissions, the bundle holds 3" in reasons
    # the challenge's latest entry (the refused withdrawal) removed: the checkpoint says so
    last = b"".join(files["ledger/entries.jsonl"].splitlines(keepends=True)[:-1])
    assert "checkpoint ends with ledger entry" in verdict({**files,
                                                          "ledger/entries.jsonl": last})
    # an entry rewritten (NOT_CERTIFIED made CERTIFIED) is not in the signed checkpoint
    forged = files["ledger/entries.jsonl"].replace(b'\\"verdict\\":\\"NOT_CERTIFIED\\"',
                                                   b'\\"verdict\\":\\"CERTIFIED\\"')
    assert forged != files["ledger/entries.jsonl"]
    assert "is not in the signed checkpoint" in verdict({**files,
                                                        "ledger/entries.jsonl": forged})
    # a report removed, or swapped for another file
    assert f"the report of submission {subs['strong']}" in verdict(
        {n: d for n, d in files.items() if n != report})
    assert f"{report} is not the report" in verdict({**files, report: files[report][:-10]})
    # not a bundle at all: unusable
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    assert verify_bundle(junk).exit_code == 2
    assert runner.invoke(cli_app, ["verify-bundle", str(junk)]).exit_code == 2


def test_the_progress_report_lists_every_adjudication(api, tmp_path):
    subs = _closed_challenge(api)
    r = api.client.get("/challenges/c1/results/progress")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    from adjudicator.report import verify_report

    pdf = tmp_path / "progress.pdf"
    pdf.write_bytes(r.content)
    check = verify_report(pdf, cert=api.rt.settings.keys / "signing-cert.pem")
    assert check.valid and check.kind == "progress", check.summary()
    # the evidence it embeds (and prints the digest of) holds every row, failures included
    from adjudicator.report.render import render_progress_report

    rows = api.client.get("/challenges/c1/results").json()["results"]
    assert {r["submission"] for r in rows} == set(subs.values())
    rendered = render_progress_report(
        [{"date": "2026-11-29", "estimate": 0.8, "low": 0.7, "high": 0.9}],
        challenge={"title": "t", "metric": {"name": "auroc", "higher_is_better": True},
                   "baseline": {"name": "b", "value": 0.6}, "threshold": 0.75},
        as_of="2026-11-29", results=rows)
    listed = rendered.context["results"]
    assert [x["status"] for x in listed] == [r["status"] for r in rows]
    assert any(x["status"] == "failed" and x["error"] == FAILURE for x in listed)
    assert json.loads(rendered.evidence)["results"] == rows


@pytest.mark.parametrize("who", ["admin", "auditor"])
def test_the_committee_previews_the_open_results(api, who):
    api.challenge()
    api.submit("alice")
    api.drain()
    doc = api.client.get("/challenges/c1/results", headers=api.auth(who)).json()
    assert doc["published"] is False and doc["results"][0]["status"] == "adjudicated"


def test_pseudonymous_publication_names_no_team(api, tmp_path):
    subs = _closed_challenge(api, protocol=ASSETS / "service_board_pseudonymous.yaml")
    rows = api.client.get("/challenges/c1/results").json()["results"]
    teams = {r["submission"]: r["team"] for r in rows}
    a = {teams[subs["strong"]], teams[subs["constant"]], teams[subs["weak"]]}
    assert len(a) == 1 and teams[subs["bob"]] not in a  # stable per team, one per team
    assert all(t.startswith("team-") and len(t) == 17 for t in teams.values())
    assert all(r["name"] is None for r in rows)
    from adjudicator.service.open_results import pseudonym

    assert teams[subs["bob"]] == pseudonym(api.rt, "c1", "team-b")
    bundle = api.client.get("/challenges/c1/results/bundle").content
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        text = b"".join(z.read(n) for n in z.namelist() if not n.endswith(".pdf"))
    for name in (b'"team-a"', b'"team-b"', b"team-a,", b"team-b,", b'\\"team-a\\"',
                 b'\\"team-b\\"'):
        assert name not in text
    path = tmp_path / "b.zip"
    path.write_bytes(bundle)
    assert verify_bundle(path).valid
    # the public board shows the pseudonyms too; the team still sees its own name
    board = api.client.get("/challenges/c1/leaderboard/public").json()
    assert {t["team"] for t in board["teams"]} == set(teams.values())
    mine = api.client.get(f"/submissions/{subs['bob']}", headers=api.auth("bob")).json()
    assert mine["team"] == "team-b"
    from adjudicator.store import verify_records

    with api.rt.store.db.read() as session:
        api.rt.store.ledger.verify(session)
        verify_records(session)


def test_the_bundle_proofs_are_the_ledgers():
    """The bundle computes every proof in one pass; each equals Ledger.inclusion_proof."""
    from adjudicator.ledger import Ledger, leaf_hash
    from adjudicator.service.bundle import _inclusion_proofs

    for n in (1, 2, 3, 7, 8, 9, 100):
        ledger = Ledger()
        for i in range(n):
            ledger.append({"type": "window_opened", "i": i})
        leaves = [leaf_hash(ledger.entry(i)) for i in range(n)]
        proofs = _inclusion_proofs(leaves, list(range(n)))
        assert all(proofs[i] == ledger.inclusion_proof(i, n) for i in range(n)), n

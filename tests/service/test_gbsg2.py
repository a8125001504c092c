"""End to end on the real GBSG2 demo data: the service adjudicates, issues a signed report
that verifies offline, and the report's ledger evidence checks against a checkpoint."""

from __future__ import annotations

import hashlib
import json

import pytest

from adjudicator.demo_data import stage_gbsg2
from adjudicator.ledger import verify_inclusion
from adjudicator.store.notes import NoteVerifier

from .conftest import GBSG2_PROTOCOL


@pytest.fixture(scope="module")
def gbsg2(tmp_path_factory):
    return stage_gbsg2(tmp_path_factory.mktemp("gbsg2"), n_variants=1)


def _leaf(entry: str) -> bytes:
    return hashlib.sha256(b"\x00" + entry.encode()).digest()


@pytest.mark.slow
def test_gbsg2_retrospective_with_signed_report(api, gbsg2, tmp_path):
    api.challenge("gbsg2", protocol=GBSG2_PROTOCOL, truth=gbsg2.truth,
                  baselines={"clinical-cox": gbsg2.baseline})
    strong = api.submit("alice", "gbsg2", gbsg2.entries["strong"]).json()
    weak = api.submit("bob", "gbsg2", gbsg2.entries["weak"]).json()
    assert api.drain() == 2
    a = api.auth("admin")
    result = json.loads(api.client.get(f"/submissions/{strong['id']}/result", headers=a).content)
    assert result["verdict"] == "CERTIFIED"
    assert result["bayes"] is not None
    assert json.loads(api.client.get(f"/submissions/{weak['id']}/result",
                                     headers=a).content)["verdict"] == "NOT_CERTIFIED"
    # the same adjudication through the pure core gives the same numbers
    from adjudicator import adjudicate, load_protocol, read_submission, read_truth

    p = load_protocol(GBSG2_PROTOCOL)
    t = read_truth(p, gbsg2.truth)
    direct = adjudicate(p, t, read_submission(p, gbsg2.entries["strong"], t),
                        baselines={"clinical-cox": read_submission(p, gbsg2.baseline, t)},
                        sequence=1).to_dict()
    assert direct["estimate"] == result["estimate"]
    assert direct["interval"] == result["interval"]
    # a signed report, issued under a checkpoint, with the adjudication's inclusion proof
    assert api.client.post(f"/submissions/{strong['id']}/report", headers=a).status_code == 202
    assert api.drain() == 1
    pdf = api.client.get(f"/submissions/{strong['id']}/report",
                         headers=api.auth("alice")).content
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    from adjudicator.report.verify import verify_report

    cert = api.rt.settings.keys / "signing-cert.pem"
    check = verify_report(path, cert)
    assert check.reasons == () and check.verdict == "CERTIFIED", check
    proof = api.client.get(f"/submissions/{strong['id']}/report/proof",
                           headers=api.auth("alice")).json()
    assert proof["report_sha256"] == hashlib.sha256(pdf).hexdigest()
    verifier = NoteVerifier(api.client.get("/ledger/key").text)
    head = verifier.checkpoint(proof["checkpoint"])
    verify_inclusion(_leaf(proof["entry"]), proof["ledger_seq"], head.size,
                     [bytes.fromhex(h) for h in proof["inclusion_proof"]], head.root)
    assert json.loads(proof["entry"])["sha256"] == proof["report_sha256"]
    # the checkpoint the report was issued under proves the adjudication entry
    evidence = _embedded_result(path)
    ledger = evidence["ledger"]
    issued = verifier.checkpoint(ledger["checkpoint"])
    assert issued.size == ledger["size"] and issued.head == ledger["head"]
    verify_inclusion(_leaf(ledger["entry"]), ledger["sequence"], issued.size,
                     [bytes.fromhex(h) for h in ledger["inclusion_proof"]], issued.root)
    assert json.loads(ledger["entry"])["result_sha256"] == hashlib.sha256(
        api.client.get(f"/submissions/{strong['id']}/result", headers=a).content).hexdigest()


def _embedded_result(path) -> dict:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with path.open("rb") as fh:
        reader = PdfFileReader(fh)
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for i in range(0, len(names), 2):
            if str(names[i]) == "result.json":
                spec = names[i + 1].get_object()
                return json.loads(spec["/EF"]["/F"].get_object().data)
    raise AssertionError("no result.json embedded")


@pytest.mark.slow
def test_gbsg2_prospective_order_in_the_ledger(api, gbsg2):
    """Predictions locked first, truth committed after the window: the ledger shows it."""
    import pandas as pd

    units = pd.read_csv(gbsg2.truth)[["patient_id"]].to_csv(index=False).encode()
    digest = api.register(GBSG2_PROTOCOL)
    a = api.auth("admin")
    assert api.client.post("/challenges", json={"id": "pro", "protocol": digest,
                                                "order": "prospective"},
                           headers=a).status_code == 201
    assert api.client.put("/challenges/pro/units", content=units, headers=a).status_code == 200
    assert api.client.put("/challenges/pro/baselines/clinical-cox",
                          content=gbsg2.baseline.read_bytes(), headers=a).status_code == 200
    assert api.client.post("/challenges/pro/open", headers=a).status_code == 200
    sub = api.submit("alice", "pro", gbsg2.entries["variant-1"]).json()
    assert api.client.post("/challenges/pro/close", headers=a).status_code == 200
    r = api.client.put("/challenges/pro/truth", content=gbsg2.truth.read_bytes(), headers=a)
    assert r.status_code == 200, r.text
    assert api.drain() == 1
    done = api.client.get(f"/submissions/{sub['id']}", headers=a).json()
    assert done["status"] == "adjudicated"
    page = api.client.get("/challenges/pro").json()
    assert sub["received_seq"] < page["window"]["closed_seq"] < page["truth"]["ledger_seq"] \
        < done["adjudicated_seq"]

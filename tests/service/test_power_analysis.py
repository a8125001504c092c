"""The power figure in the challenge's record (``POST /challenges/{c}/power``), on both
databases: recorded with the given units or the committed truth's or manifest's, its ledger
entry's digest is the stored result's, only before the window opens, bad options refused
with nothing written, the committee's alone, shown on the challenge, checked by
``ledger verify``."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
from sqlalchemy import func, select

from adjudicator.errors import VerificationError
from adjudicator.power import minimum_detectable
from adjudicator.protocol import canonical_json, load_protocol
from adjudicator.service.commands import verify_ledger
from adjudicator.store.models import LedgerEntry, PowerAnalysis

from .conftest import PROTOCOL

FAST = {"simulations": 20, "resamples": 100}  # a fraction of a second per analysis


def _post(api, body, cid="c1", who="admin"):
    return api.client.post(f"/challenges/{cid}/power", json=body, headers=api.auth(who))


def _entries(api, kind="power_analysis"):
    r = api.client.get("/ledger/entries?limit=1000", headers=api.auth("auditor"))
    assert r.status_code == 200
    return [e for e in r.json()["entries"] if e["event"]["type"] == kind]


def _written(api):
    with api.rt.store.db.read() as s:
        return (s.scalar(select(func.count()).select_from(PowerAnalysis)),
                s.scalar(select(func.count()).select_from(LedgerEntry)))


def _sha(result):
    return "sha256:" + hashlib.sha256(canonical_json(result).encode("utf-8")).hexdigest()


def test_recorded_with_explicit_units(api):
    api.challenge(open=False)
    r = _post(api, {"units": 60, **FAST, "seed": "s1"})
    assert r.status_code == 201, r.text
    got = r.json()
    # the same call, made directly, gives the same numbers: every option was passed through
    direct = minimum_detectable(load_protocol(PROTOCOL), 60, seed="s1", **FAST)
    assert got["result"] == json.loads(canonical_json(direct.to_dict()))
    assert got["result"]["units"] == got["units"] == 60
    assert got["summary"] == direct.summary()
    # the ledger entry: protocol, inputs and the digest of exactly the stored result
    [entry] = _entries(api)
    event = entry["event"]
    assert entry["seq"] == got["ledger_seq"]
    assert event["challenge"] == "c1" and event["units"] == 60
    assert event["units_from"] == "request"
    assert event["protocol"] == api.client.get("/challenges/c1").json()["protocol"]["digest"]
    assert event["options"]["simulations"] == 20 and event["options"]["resamples"] == 100
    assert event["options"]["seed"] == "s1" and event["options"] == got["options"]
    assert event["result_digest"] == got["digest"] == _sha(got["result"])
    with api.rt.store.db.read() as s:
        row = s.scalars(select(PowerAnalysis)).one()
        assert _sha(json.loads(row.result)) == row.digest == event["result_digest"]
    # protocols 1 + challenges 1 + power_analyses 1 rows checked against their entries
    assert verify_ledger(api.rt)[1] == 3


def test_units_from_the_truth_and_several_analyses_newest_last(api):
    api.challenge(open=False)
    first = _post(api, FAST)
    assert first.status_code == 201, first.text
    assert first.json()["units"] == 80  # service_truth.csv has 80 units
    assert first.json()["result"]["units"] == 80
    second = _post(api, {"units": 60, "baseline_value": 0.7, **FAST})
    assert second.status_code == 201, second.text
    assert second.json()["result"]["baseline"]["name"] == "baseline"
    events = [e["event"] for e in _entries(api)]
    assert [e["units_from"] for e in events] == ["truth", "request"]
    power = api.client.get("/challenges/c1").json()["power"]
    assert [p["units"] for p in power] == [80, 60]
    assert power[0]["ledger_seq"] < power[1]["ledger_seq"]
    for p, answer in zip(power, (first.json(), second.json()), strict=True):
        assert set(p) >= {"result", "digest", "recorded_at", "ledger_seq"}
        assert p["digest"] == answer["digest"] == _sha(p["result"])
        assert p["result"] == answer["result"]
    # the challenge list carries the same
    listed = api.client.get("/challenges").json()
    assert listed[0]["power"] == power
    verify_ledger(api.rt)


def test_prospective_units_from_the_manifest_or_a_clear_refusal(api):
    api.challenge("p1", order="prospective", open=False)
    r = _post(api, FAST, cid="p1")
    assert r.status_code == 201, r.text
    assert r.json()["units"] == 80 and _entries(api)[0]["event"]["units_from"] == \
        "units manifest"
    # a challenge with neither truth nor manifest: units must be given
    digest = api.register()
    assert api.client.post("/challenges", json={"id": "p2", "protocol": digest,
                                                "order": "prospective"},
                           headers=api.auth("admin")).status_code == 201
    before = _written(api)
    r = _post(api, FAST, cid="p2")
    assert r.status_code == 409 and "give `units`" in r.json()["detail"], r.text
    assert _written(api) == before
    assert _post(api, {"units": 60, **FAST}, cid="p2").status_code == 201


def test_only_before_the_window_opens(api):
    api.challenge()  # open
    before = _written(api)
    r = _post(api, {"units": 60, **FAST})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "ConflictError" and "before the window opens" in \
        r.json()["detail"]
    assert api.client.post("/challenges/c1/close", headers=api.auth("admin")).status_code \
        == 200
    assert _post(api, {"units": 60, **FAST}).status_code == 409
    assert _written(api)[0] == before[0] == 0
    assert api.client.get("/challenges/c1").json()["power"] == []
    assert _post(api, {"units": 60, **FAST}, cid="nope").status_code == 404


def test_a_window_opened_while_it_ran_is_not_overtaken(api, monkeypatch):
    """The phase is checked again under the ledger lock after the simulation."""
    from adjudicator.service import power_analysis

    api.challenge(open=False)

    def opening_meanwhile(*args, **kwargs):
        result = minimum_detectable(*args, **kwargs)
        assert api.client.post("/challenges/c1/open",
                               headers=api.auth("admin")).status_code == 200
        return result

    monkeypatch.setattr(power_analysis, "minimum_detectable", opening_meanwhile)
    r = _post(api, {"units": 60, **FAST})
    assert r.status_code == 409 and "opened while" in r.json()["detail"], r.text
    assert _written(api)[0] == 0 and _entries(api) == []


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"family": {"no_such_option": 1}}, 422, "family.no_such_option: unknown option"),
    ({"family": {"positive_share": "half"}}, 422, "family.positive_share"),
    ({"family": {"positive_share": True}}, 422, "family.positive_share"),
    ({"family": {"positive_share": 1.5}}, 422, "positive share must be in (0, 1)"),
    ({"family": {"power": 0.9}}, 422, "give `power` at the top level"),
    ({"power": 1.5}, 422, "power must be in (0, 1)"),
    ({"units": 5}, 422, "units must be an integer >= 10"),
    ({"simulations": 3}, 422, "simulations must be an integer >= 10"),
    ({"baseline_value": 0.7, "baseline": "nobody"}, 422, "baseline 'nobody'"),
    ({"power": "0.8"}, 422, None),  # the body's own types (FastAPI's 422)
    ({"units": 60.5}, 422, None),
    ({"resamples": 10**9}, 422, None),
    ({"surprise": 1}, 422, None),
])
def test_bad_options_are_refused_and_nothing_is_written(api, body, status, says):
    api.challenge(open=False)
    before = _written(api)
    r = _post(api, {"units": 60, **FAST, **body})
    assert r.status_code == status, r.text
    if says is not None:
        assert r.json()["error"] == "InputError" and says in r.json()["detail"], r.text
    assert _written(api) == before


def test_family_options_follow_the_signature():
    """``family`` accepts every keyword option of minimum_detectable not named at the top
    level, so an option added to the core needs no change in the service."""
    import inspect

    from adjudicator.service.power_analysis import TOP_LEVEL, family_options

    params = inspect.signature(minimum_detectable).parameters
    assert set(family_options()) == set(params) - {"protocol", "units", *TOP_LEVEL}
    assert {"positive_share", "censoring", "score_sd"} <= set(family_options())
    assert set(TOP_LEVEL) <= set(params)


def test_family_options_reach_the_core(api):
    api.challenge(open=False)
    r = _post(api, {"units": 60, **FAST, "family": {"positive_share": 0.3}})
    assert r.status_code == 201, r.text
    assert r.json()["result"]["family"]["positive_share"] == 0.3
    assert _entries(api)[0]["event"]["options"]["positive_share"] == 0.3


def test_the_committee_only(api):
    api.challenge(open=False)
    for who, status in ((None, 401), ("alice", 403), ("bob", 403), ("auditor", 403)):
        r = api.client.post("/challenges/c1/power", json={"units": 60, **FAST},
                            headers=api.auth(who))
        assert r.status_code == status, (who, r.text)
    assert _written(api)[0] == 0


def test_ledger_verify_catches_an_edited_figure(api):
    api.challenge(open=False)
    assert _post(api, {"units": 60, **FAST}).status_code == 201
    verify_ledger(api.rt)
    with api.rt.store.db.write() as s:
        row = s.scalars(select(PowerAnalysis)).one()
        doc = json.loads(row.result)
        doc["absolute"]["minimum_detectable"] = 0.61  # a rosier figure
        row.result = canonical_json(doc)
    with pytest.raises(VerificationError, match="power_analyses row 1: the stored result"):
        verify_ledger(api.rt)
    with api.rt.store.db.write() as s:  # ... and its digest with it: the ledger disagrees
        row = s.scalars(select(PowerAnalysis)).one()
        row.digest = _sha(json.loads(row.result))
    with pytest.raises(VerificationError, match="power_analyses row 1 does not match ledger "
                                                "entry .*result_digest"):
        verify_ledger(api.rt)


def test_the_migration_matches_the_models(api):
    """0004 creates what the models declare (on SQLite and PostgreSQL alike)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from adjudicator.store.models import Base

    with api.rt.store.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "power_analyses" in repr(d)] == []



def test_the_results_bundle_carries_the_entry_and_verifies(api, tmp_path):
    """A power_analysis entry is one of the challenge's: in its chain and in its bundle."""
    from adjudicator.service.bundle import verify_bundle

    api.challenge(open=False)
    digest = _post(api, {"units": 60, **FAST}).json()["digest"]
    admin = api.auth("admin")
    assert api.client.post("/challenges/c1/open", headers=admin).status_code == 200
    assert api.submit("alice").status_code == 201
    api.drain()
    assert api.client.post("/challenges/c1/close", headers=admin).status_code == 200
    bundle = tmp_path / "c1.zip"
    bundle.write_bytes(api.client.get("/challenges/c1/results/bundle").content)
    outcome = verify_bundle(bundle, key=api.client.get("/ledger/key").text)  # no reports
    assert outcome.valid, outcome.summary()
    with zipfile.ZipFile(bundle) as z:
        entries = [json.loads(json.loads(line)["entry"])
                   for line in z.read("ledger/entries.jsonl").decode().splitlines()]
    assert [e["result_digest"] for e in entries if e["type"] == "power_analysis"] == [digest]
    verify_ledger(api.rt)


def test_opening_under_an_uncertifiable_figure_needs_an_explicit_acceptance(api):
    api.challenge(open=False)
    # with 10 units and 99% power even a near-perfect entry is not certified
    flagged = _post(api, {"units": 10, "power": 0.99, **FAST})
    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["result"]["certifiable"] is False
    refused = api.client.post("/challenges/c1/open", headers=api.auth("admin"))
    assert refused.status_code == 409
    assert "cannot certify" in refused.json()["detail"]
    assert f"ledger entry {flagged.json()['ledger_seq']}" in refused.json()["detail"]
    assert api.client.get("/challenges/c1").json()["phase"] == "draft"
    assert _entries(api, "window_opened") == []
    ok = api.client.post("/challenges/c1/open?accept_uncertifiable=true",
                         headers=api.auth("admin"))
    assert ok.status_code == 200, ok.text
    [opened] = _entries(api, "window_opened")
    assert opened["event"]["power_analysis"] == flagged.json()["ledger_seq"]
    assert opened["event"]["uncertifiable_accepted"] is True
    verify_ledger(api.rt)


def test_a_newer_certifiable_figure_opens_without_acceptance(api):
    api.challenge(open=False)
    assert _post(api, {"units": 10, "power": 0.99, **FAST}).json()["result"]["certifiable"] \
        is False
    newer = _post(api, FAST)  # the committed truth's 80 units
    assert newer.json()["result"]["certifiable"] is True
    ok = api.client.post("/challenges/c1/open", headers=api.auth("admin"))
    assert ok.status_code == 200, ok.text
    [opened] = _entries(api, "window_opened")
    assert opened["event"]["power_analysis"] == newer.json()["ledger_seq"]
    assert "uncertifiable_accepted" not in opened["event"]

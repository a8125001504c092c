"""The challenge page shows the latest recorded power analysis in a short block: the
minimum detectable metric or the NOT CERTIFIABLE flag, the units and alpha_1, escaped."""

from __future__ import annotations

import json

import yaml
from sqlalchemy import select

from adjudicator.report.format import num
from adjudicator.store.models import PowerAnalysis
from tests.service.conftest import PROTOCOL

from .conftest import HOSTILE

FAST = {"simulations": 20, "resamples": 100}


def _record(site, body, cid="c1"):
    r = site.api.client.post(f"/challenges/{cid}/power", json={**FAST, **body},
                             headers=site.api.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()


def test_the_latest_figure_is_on_the_challenge_page(site):
    site.api.challenge(open=False)
    assert "Power before launch" not in site.client(None).get("/web/challenges/c1").text
    _record(site, {"units": 60})
    latest = _record(site, {})  # the truth's 80 units
    for who in (None, "alice", "admin"):
        page = site.client(who).get("/web/challenges/c1").text
        assert "Power before launch" in page
        block = page[page.index('id="power"'):page.index("<h2>Commitments")]
        result = latest["result"]
        assert "minimum detectable auroc" in block
        assert num(result["absolute"]["minimum_detectable"]) in block
        assert "80 units" in block and "alpha_1 = 0.0250" in block
        assert latest["digest"] in block and f"ledger entry {latest['ledger_seq']}" in block
        assert "NOT CERTIFIABLE" not in block
        assert "The latest of 2 recorded analyses" in block
    data = site.client(None).get("/web/challenges/c1?format=json").json()
    assert [p["digest"] for p in data["power"]][-1] == latest["digest"]
    # a later submission's alpha (a family option of the core, passed through)
    third = _record(site, {"units": 60, "family": {"sequence": 3}})
    block = site.client(None).get("/web/challenges/c1").text
    block = block[block.index('id="power"'):block.index("<h2>Commitments")]
    assert f"alpha_3 = {num(third['result']['alpha_k'], 4)}" in block
    assert "submission number 3" in block and "60 units" in block


def test_a_threshold_out_of_reach_is_flagged(site, tmp_path):
    doc = yaml.safe_load(PROTOCOL.read_text())
    doc["id"], doc["threshold"]["absolute"] = "service-test-hard", 0.999
    path = tmp_path / "hard.yaml"
    path.write_text(yaml.safe_dump(doc))
    site.api.challenge("h1", protocol=path, open=False)
    got = _record(site, {"units": 60}, cid="h1")
    assert got["result"]["certifiable"] is False
    page = site.client(None).get("/web/challenges/h1").text
    block = page[page.index('id="power"'):page.index("<h2>Commitments")]
    assert "NOT CERTIFIABLE" in block and "60 units" in block


def test_the_block_is_escaped(site):
    """Text of the stored result (edited behind the service's back) shows as text."""
    site.api.challenge(open=False)
    _record(site, {"units": 60, "baseline_value": 0.7})
    with site.api.rt.store.db.write() as session:
        row = session.scalars(select(PowerAnalysis)).one()
        doc = json.loads(row.result)
        doc["metric"]["name"] = HOSTILE
        doc["baseline"]["name"] = HOSTILE
        row.result = json.dumps(doc)
    page = site.client(None).get("/web/challenges/c1").text
    assert "<script>window" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page

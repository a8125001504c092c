"""`make demo` runs the whole product on real data; its verdicts are those the data support."""

from __future__ import annotations

import pytest

from adjudicator.demo import TEAMS, run_demo
from adjudicator.report import verify_report

from .conftest import PROTOCOLS


@pytest.mark.slow
def test_demo_end_to_end_in_a_temporary_home(tmp_path, capsys):
    outcome = run_demo(PROTOCOLS, home=tmp_path / "home", reports=tmp_path / "reports")
    printed = capsys.readouterr().out

    # every report verifies (the demo checks too; check again independently)
    cert = outcome.home / "keys" / "signing-cert.pem"
    assert len(outcome.reports) == sum(len(v) for v in TEAMS.values()) + 2
    for path in outcome.reports.values():
        assert verify_report(path, cert=cert).valid, path
    assert "valid  ledger" in printed
    assert outcome.ledger_size > len(outcome.results)

    # the power before launch is in the challenge's record, before the window opened
    power = outcome.power
    assert power["units"] == 686 and power["result"]["units"] == 686
    assert power["result"]["family"]["censoring"] == 0.56
    assert power["result"]["absolute"]["certifiable"] is True
    assert 0.65 < power["result"]["absolute"]["minimum_detectable"] < 0.75
    assert 0 < power["result"]["baseline"]["minimum_detectable_improvement"] < 0.15
    assert power["ledger_seq"] < outcome.ledger_size
    assert "Power before launch" in printed and "minimum detectable" in printed

    by_entry = {r["submission"]["name"]: r for r in outcome.results}
    # the weak model (age alone) is not certified
    assert by_entry["weak"]["verdict"] == "NOT_CERTIFIED"
    # the strong model is certified exactly when its interval and p-values say so
    strong = by_entry["strong"]
    absolute = next(c for c in strong["criteria"] if c["kind"] == "absolute")
    assert (strong["verdict"] == "CERTIFIED") == all(c["passed"] for c in strong["criteria"])
    assert strong["interval"]["low"] > absolute["bound"] or strong["verdict"] != "CERTIFIED"
    # the many-variants team is charged for every try: alpha_k halves each time
    variants = sorted((r for r in outcome.results if r["submission"]["team"] == "variants-lab"),
                      key=lambda r: r["submission"]["sequence"])
    assert [r["submission"]["sequence"] for r in variants] == list(range(1, len(variants) + 1))
    alphas = [r["multiplicity"]["alpha_k"] for r in variants]
    assert all(b == pytest.approx(a / 2) for a, b in zip(alphas, alphas[1:], strict=False))
    assert sum(alphas) < 0.05

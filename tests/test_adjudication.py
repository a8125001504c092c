"""End to end on real data (GBSG2 from scikit-survival): verdicts, reasons, reproducibility."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adjudicator import InputError, MultiplicityError, load_protocol
from adjudicator.adjudication import adjudicate, score
from adjudicator.cli import app
from adjudicator.data import read_submission, read_truth
from adjudicator.demo_data import stage_gbsg2
from adjudicator.result_schema import result_schema, validate_result

from .conftest import PROTOCOLS

PROTOCOL = PROTOCOLS / "gbsg2-recurrence-free-survival.yaml"
NOW = datetime(2026, 11, 29, 12, 0, 0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = stage_gbsg2(tmp_path_factory.mktemp("gbsg2"), n_variants=2)
    protocol = load_protocol(PROTOCOL)
    truth = read_truth(protocol, files.truth)
    base = {"clinical-cox": read_submission(protocol, files.baseline, truth)}
    entries = {n: read_submission(protocol, p, truth) for n, p in files.entries.items()}
    return protocol, truth, base, entries, files


def test_strong_entry_is_certified_with_readable_reasons(demo):
    protocol, truth, base, entries, _ = demo
    r = adjudicate(protocol, truth, entries["strong"], baselines=base, team="oncology-ml",
                   now=NOW)
    doc = r.to_dict()
    assert doc["verdict"] == "CERTIFIED"
    names = [c["name"] for c in doc["criteria"]]
    assert names == ["absolute", "clinical-cox", "bayes:clinical-cox"]
    assert all(c["passed"] is True for c in doc["criteria"])
    assert doc["reasons"][0].startswith("Passed: harrell_c 0.68")
    assert doc["multiplicity"]["alpha_k"] == pytest.approx(0.025)  # geometric, r = 0.5, k = 1
    assert doc["interval"]["low"] < doc["estimate"] < doc["interval"]["high"]
    validate_result(doc)


def test_weak_entry_is_not_certified(demo):
    protocol, truth, base, entries, _ = demo
    doc = adjudicate(protocol, truth, entries["weak"], baselines=base, now=NOW).to_dict()
    assert doc["verdict"] == "NOT_CERTIFIED"
    assert any(r.startswith("Failed: harrell_c 0.50") for r in doc["reasons"])
    validate_result(doc)


def test_borderline_entry_resamples_more_and_says_why(demo):
    """variant-1's baseline p-value sits next to alpha: B doubles to the cap (20,000),
    and the criterion stays undecided: INCONCLUSIVE, with the Monte Carlo reason."""
    protocol, truth, base, entries, _ = demo
    r = adjudicate(protocol, truth, entries["variant-1"], baselines=base, now=NOW)
    doc = r.to_dict()
    assert doc["reproducibility"]["resamples"] > protocol.resampling.resamples
    if doc["verdict"] == "INCONCLUSIVE":
        assert doc["reproducibility"]["resamples"] == protocol.resampling.resample_cap
        assert any("Monte Carlo errors of alpha" in x for x in doc["reasons"])
    else:  # resolved by the extra resamples: then no criterion is left undecided
        assert all(c["passed"] is not None for c in doc["criteria"])


def test_same_inputs_same_bytes_timestamps_aside(demo):
    protocol, truth, base, entries, _ = demo
    a = adjudicate(protocol, truth, entries["strong"], baselines=base, now=NOW).to_dict()
    b = adjudicate(protocol, truth, entries["strong"], baselines=base,
                   now=datetime(2027, 1, 1)).to_dict()
    assert a.pop("timestamps") != b.pop("timestamps")
    assert json.dumps(a) == json.dumps(b)


def test_alpha_is_spent_along_a_teams_history(demo):
    protocol, truth, base, entries, _ = demo
    history = [{"sequence": 1, "alpha": 0.025, "verdict": "NOT_CERTIFIED"},
               {"sequence": 2, "alpha": 0.0125, "verdict": "NOT_CERTIFIED"}]
    doc = adjudicate(protocol, truth, entries["variant-2"], baselines=base, history=history,
                     team="many-variants", now=NOW).to_dict()
    m = doc["multiplicity"]
    assert m["sequence"] == 3 and doc["submission"]["sequence"] == 3
    assert m["alpha_k"] == pytest.approx(0.05 * 0.5 * 0.25)
    assert all(c["alpha"] == m["alpha_k"] for c in doc["criteria"] if c["kind"] != "bayes")


def test_a_submission_past_max_submissions_is_refused(demo):
    protocol, truth, base, entries, _ = demo
    history = [{"sequence": k, "alpha": 0.001, "verdict": "NOT_CERTIFIED"}
               for k in range(1, protocol.multiplicity.max_submissions + 1)]
    with pytest.raises(MultiplicityError):
        adjudicate(protocol, truth, entries["strong"], baselines=base, history=history)


def test_history_with_gaps_or_garbage_is_refused(demo):
    protocol, truth, base, entries, _ = demo
    with pytest.raises(InputError, match="without gaps"):
        adjudicate(protocol, truth, entries["strong"], baselines=base,
                   history=[{"sequence": 2, "alpha": 0.01, "verdict": "CERTIFIED"}])
    with pytest.raises(InputError, match=r"history\[0\]: a history entry needs"):
        adjudicate(protocol, truth, entries["strong"], baselines=base, history=[{"x": 1}])


def test_missing_or_unknown_baseline_is_refused(demo):
    protocol, truth, base, entries, _ = demo
    with pytest.raises(InputError, match="needs baseline"):
        adjudicate(protocol, truth, entries["strong"])
    with pytest.raises(InputError, match="not in the protocol: other"):
        adjudicate(protocol, truth, entries["strong"],
                   baselines={**base, "other": base["clinical-cox"]})


def test_score_reports_interval_and_p_values(demo):
    protocol, truth, base, entries, _ = demo
    s = score(protocol, truth, entries["strong"]).to_dict()
    assert set(s) >= {"protocol", "truth", "submission", "metric", "estimate", "n_units",
                      "interval", "resamples", "seed", "p_values"}
    assert s["protocol"]["digest"] == protocol.digest
    assert s["truth"]["digest"] == truth.digest
    assert s["n_units"] == 686 and s["resamples"] == protocol.resampling.resamples
    assert set(s["p_values"]) == {"absolute"}
    with_base = score(protocol, truth, entries["strong"], baselines=base).to_dict()
    assert set(with_base["p_values"]) == {"absolute", "baseline:clinical-cox"}
    assert with_base["estimate"] == s["estimate"]


def test_result_schema_names_the_contract_fields():
    props = result_schema()["properties"]
    for field in ("verdict", "estimate", "interval", "criteria", "protocol", "truth",
                  "submission", "reproducibility", "timestamps"):
        assert field in props


# -- the command line ------------------------------------------------------------------------


def test_cli_adjudicate_writes_result_json_and_exits_0(demo, tmp_path: Path):
    _, _, _, _, files = demo
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "adjudicate", "--protocol", str(PROTOCOL), "--truth", str(files.truth),
        "--submission", str(files.entries["weak"]),
        "--baseline", f"clinical-cox={files.baseline}", "--team", "t", "--out", str(out),
        "--no-report"])
    assert res.exit_code == 0, res.output
    assert "NOT_CERTIFIED" in res.output
    doc = json.loads((out / "result.json").read_text())
    validate_result(doc)
    assert doc["submission"]["team"] == "t"


def test_cli_adjudicate_bad_input_exits_2_and_writes_nothing(demo, tmp_path: Path):
    _, _, _, _, files = demo
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,risk\ngbsg2-0000,nan\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, [
        "adjudicate", "-p", str(PROTOCOL), "-t", str(files.truth), "-s", str(bad),
        "-b", f"clinical-cox={files.baseline}", "--out", str(out), "--no-report"])
    assert res.exit_code == 2
    assert str(bad) in res.output
    assert not out.exists()
    res = CliRunner().invoke(app, [
        "adjudicate", "-p", str(PROTOCOL), "-t", str(files.truth), "-s", str(bad),
        "-b", "no-equals-sign", "--out", str(out)])
    assert res.exit_code == 2 and "NAME=FILE" in res.output


def test_cli_score_json(demo):
    _, _, _, _, files = demo
    res = CliRunner().invoke(app, ["score", "-p", str(PROTOCOL), "-t", str(files.truth),
                                   "-s", str(files.entries["strong"]), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metric"] == "harrell_c"

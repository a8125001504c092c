"""End to end on real data (GBSG2 from scikit-survival): verdicts, reasons, reproducibility."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from adjudicator import InputError, MultiplicityError, load_protocol
from adjudicator.adjudication import adjudicate, score
from adjudicator.cli import app
from adjudicator.data import read_submission, read_truth
from adjudicator.demo_data import stage_gbsg2
from adjudicator.protocol import parse_protocol
from adjudicator.result_schema import result_schema, validate_result
from adjudicator.table import Table

from .conftest import ASSETS, PROTOCOLS

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


# -- degenerate bootstraps: INCONCLUSIVE, not an error ---------------------------------------


@pytest.fixture(scope="module")
def service():
    """The small binary protocol of the service tests (AUROC > 0.6, beat the baseline)."""
    protocol = load_protocol(ASSETS / "service_binary.yaml")
    truth = read_truth(protocol, ASSETS / "service_truth.csv")

    def read(name: str) -> Any:
        return read_submission(protocol, ASSETS / name, truth)

    return protocol, truth, {"baseline": read("service_baseline.csv")}, read


def _json(doc: dict) -> dict:
    """Round trip as the CLI and the service write it: no NaN, and valid result/v1."""
    out = json.loads(json.dumps(doc, allow_nan=False))
    validate_result(out)
    return out


def test_a_perfectly_separating_entry_is_inconclusive_not_an_error(service):
    protocol, truth, base, read = service
    r = adjudicate(protocol, truth, read("service_entry_perfect.csv"), baselines=base,
                   now=NOW)
    doc = _json(r.to_dict())
    assert doc["verdict"] == "INCONCLUSIVE"
    assert doc["estimate"] == 1.0
    assert doc["standard_error"] is None
    iv = doc["interval"]
    assert iv["low"] is None and iv["high"] is None and iv["method"] == "percentile"
    cause = "every one of the 200 bootstrap resamples gives auroc = 1"
    assert iv["degenerate"].startswith(cause)
    absolute, beats = doc["criteria"]
    assert absolute["passed"] is None and absolute["p_value"] is None
    assert absolute["mc_error"] is None and absolute["alpha"] == doc["multiplicity"]["alpha_k"]
    assert absolute["degenerate"].startswith(cause)
    assert doc["reasons"] == [absolute["reason"]]
    assert absolute["reason"].startswith(
        f"Undecided whether auroc 1 lies above the threshold 0.6: {cause}")
    assert "cannot measure the sampling uncertainty" in absolute["reason"]
    # the paired difference still varies with the baseline: decided as usual
    assert beats["passed"] is True and beats["p_value"] is not None
    assert "degenerate" not in beats and doc["baselines"][0]["interval"]["low"] is not None
    # no resampling to the cap for a criterion more resamples cannot decide
    assert doc["reproducibility"]["resamples"] == protocol.resampling.resamples


def test_a_constant_entry_fails_on_its_baseline_and_its_threshold_is_undecided(service):
    protocol, truth, base, read = service
    doc = _json(adjudicate(protocol, truth, read("service_entry_constant.csv"),
                           baselines=base, now=NOW).to_dict())
    # AUROC 0.5 on every resample: the threshold cannot be decided by the bootstrap, but
    # the entry fails to beat the baseline beyond doubt, and one failure decides
    assert doc["verdict"] == "NOT_CERTIFIED"
    absolute, beats = doc["criteria"]
    assert absolute["passed"] is None and "auroc = 0.5" in absolute["degenerate"]
    assert beats["passed"] is False and doc["reasons"] == [beats["reason"]]


def test_a_degenerate_baseline_difference_is_undecided(service):
    protocol, truth, base, read = service
    # the baseline's own predictions: the difference is 0 on every resample
    doc = _json(adjudicate(protocol, truth, read("service_baseline.csv"), baselines=base,
                           now=NOW).to_dict())
    absolute, beats = doc["criteria"]
    assert absolute["p_value"] is not None and doc["interval"]["low"] is not None
    assert beats["passed"] is None and beats["p_value"] is None
    assert re.match(r"every one of the [\d,]+ bootstrap resamples gives the difference to "
                    r"baseline 'baseline' = 0 \(the entry and the baseline score alike",
                    beats["degenerate"])
    assert beats["interval"]["low"] is None
    assert doc["baselines"][0]["interval"]["degenerate"] == beats["degenerate"]
    assert doc["verdict"] in ("INCONCLUSIVE", "NOT_CERTIFIED")
    assert beats["reason"] in doc["reasons"] or absolute["passed"] is False


def test_score_and_cli_of_a_degenerate_entry(service, tmp_path: Path):
    protocol, truth, base, read = service
    s = score(protocol, truth, read("service_entry_perfect.csv"), baselines=base).to_dict()
    assert s["interval"]["low"] is None
    assert s["p_values"]["absolute"]["p"] is None
    assert s["p_values"]["baseline:baseline"]["p"] is not None
    args = ["-p", str(ASSETS / "service_binary.yaml"), "-t", str(ASSETS / "service_truth.csv"),
            "-s", str(ASSETS / "service_entry_perfect.csv"),
            "-b", f"baseline={ASSETS / 'service_baseline.csv'}"]
    res = CliRunner().invoke(app, ["score", *args])
    assert res.exit_code == 0, res.output
    assert "no interval" in res.output and "p(absolute): none" in res.output
    res = CliRunner().invoke(app, ["adjudicate", *args, "--out", str(tmp_path),
                                   "--no-report"])
    assert res.exit_code == 0, res.output
    assert "INCONCLUSIVE" in res.output
    assert _json(json.loads((tmp_path / "result.json").read_text()))["verdict"] \
        == "INCONCLUSIVE"


@dataclass
class _Read:
    digest: str
    table: Table


@dataclass
class _Truth:
    digest: str
    n_units: int
    summary: dict


def test_a_degenerate_bayesian_comparison_is_undecided():
    # 0/1 scores: the per-unit differences take 2 values, which correlated-t refuses
    protocol = parse_protocol("""
adjudicator: protocol/v1
id: degenerate-bayes
version: 1
title: Degenerate Bayes
task: {kind: scores, unit: id, prediction: score}
metric: {name: mean_score, higher_is_better: true}
resampling: {method: percentile, resamples: 500}
threshold:
  absolute: 0.5
  baselines: [{name: old, margin: 0.0}]
bayes: {model: correlated-t, min_probability: 0.9}
""")
    n = 60
    units = np.array([f"u{i:03d}" for i in range(n)])

    def table(values: np.ndarray) -> Table:
        return Table(kind="scores", units=units, row_unit=np.arange(n),
                     columns={"score": values.astype(np.float64)})

    old = np.random.default_rng(3).random(n) < 0.5
    entry = _Read("sha256:" + "1" * 64, table(np.ones(n)))
    baseline = _Read("sha256:" + "2" * 64, table(old))
    truth = _Truth("sha256:" + "3" * 64, n, {"kind": "scores", "units": n})
    r = adjudicate(protocol, truth, entry, baselines={"old": baseline}, now=NOW)
    doc = _json(r.to_dict())
    absolute, beats, bayes = doc["criteria"]
    assert absolute["passed"] is None and "mean_score = 1" in absolute["degenerate"]
    assert beats["passed"] is True
    assert bayes["name"] == "bayes:old" and bayes["passed"] is None
    assert "2 distinct value" in bayes["degenerate"]
    assert bayes["reason"].startswith("Undecided: Bayesian correlated-t comparison with 'old'")
    assert bayes["statistic"] == pytest.approx(1.0 - old.mean())
    assert doc["bayes"]["results"] == [bayes] and r.bayes_results == ()
    assert doc["verdict"] == "INCONCLUSIVE"

"""adjudicator.power: minimum detectable metric by simulation, and `protocol power`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from adjudicator.cli import app
from adjudicator.errors import InputError
from adjudicator.power import minimum_detectable
from adjudicator.protocol import parse_protocol

ASSETS = Path(__file__).parent / "assets"


def _binary(threshold: float, method: str = "percentile") -> str:
    return f"""
adjudicator: protocol/v1
id: power-binary
version: 1
title: Power test (binary, AUROC)
task: {{kind: binary, unit: id, truth: {{label: y}}, positive: 1, prediction: p}}
metric: {{name: auroc}}
resampling: {{method: {method}, resamples: 400, confidence: 0.95}}
threshold:
  absolute: {threshold}
  baselines: [{{name: base, margin: 0.0}}]
multiplicity: {{alpha: 0.05, family: team, rule: geometric, ratio: 0.5, max_submissions: 5}}
"""


SCORES = """
adjudicator: protocol/v1
id: power-scores
version: 1
title: Power test (scores, mean)
task: {kind: scores, unit: task_id, truth: {}, prediction: score}
metric: {name: mean_score}
resampling: {method: percentile, resamples: 400, confidence: 0.95}
threshold: {absolute: 0.4}
multiplicity: {alpha: 0.05, family: team, rule: bonferroni, max_submissions: 2}
"""


def test_minimum_detectable_auroc_decreases_with_units() -> None:
    p = parse_protocol(_binary(0.6))
    small = minimum_detectable(p, 80, simulations=60, resamples=200)
    large = minimum_detectable(p, 400, simulations=60, resamples=200)
    assert small.absolute is not None and large.absolute is not None
    assert small.absolute["certifiable"] and large.absolute["certifiable"]
    a, b = small.absolute["minimum_detectable"], large.absolute["minimum_detectable"]
    # roughly 0.6 + 2.8 * SE: SE ~ 0.055 at 80 units, ~ 0.027 at 400
    assert 0.6 < b < a
    assert a - b > 0.03
    assert 0.7 < a < 0.85 and 0.64 < b < 0.72
    assert small.alpha_k == pytest.approx(0.025)  # alpha_1 of geometric(0.5), alpha 0.05
    assert small.absolute["rate"] >= 0.8


def test_threshold_near_the_maximum_is_not_certifiable() -> None:
    p = parse_protocol(_binary(0.999))
    r = minimum_detectable(p, 50, simulations=40, resamples=200)
    assert r.absolute is not None
    assert r.absolute["certifiable"] is False
    assert r.absolute["minimum_detectable"] is None
    assert r.certifiable is False
    assert "NOT CERTIFIABLE" in r.summary()
    assert r.absolute["best_metric"] < 0.999  # beyond the family's near-perfect entry
    # 0.99 is within the family's reach, but 50 units cannot show it at alpha_1 (a
    # perfectly separated sample has no bootstrap spread: no verdict, not certified)
    near = minimum_detectable(parse_protocol(_binary(0.99)), 50, simulations=40,
                              resamples=200)
    assert near.absolute is not None and near.absolute["best_metric"] > 0.99
    assert near.absolute["certifiable"] is False and near.absolute["best_rate"] < 0.8
    # the same protocol at 0.6 is certifiable with 50 units
    ok = minimum_detectable(parse_protocol(_binary(0.6)), 50, simulations=40, resamples=200)
    assert ok.certifiable is True


def test_reproducible_and_seeded() -> None:
    p = parse_protocol(_binary(0.6))
    one = minimum_detectable(p, 100, simulations=40, resamples=200)
    two = minimum_detectable(p, 100, simulations=40, resamples=200)
    assert one.to_dict() == two.to_dict()
    other = minimum_detectable(p, 100, simulations=40, resamples=200, seed="1")
    assert other.absolute is not None and one.absolute is not None
    assert other.absolute["minimum_detectable"] != one.absolute["minimum_detectable"]


def test_mean_score_matches_the_closed_form() -> None:
    p = parse_protocol(SCORES)
    n, sd = 100, 0.5
    r = minimum_detectable(p, n, simulations=400, resamples=400, score_sd=sd)
    assert r.absolute is not None and r.absolute["certifiable"]
    alpha = r.alpha_k
    assert alpha == pytest.approx(0.025)  # bonferroni over 2 submissions
    expected = 0.4 + (norm.ppf(1 - alpha) + norm.ppf(0.8)) * sd / math.sqrt(n)
    # simulation error of the crossing: the rate's SE is 0.02 with 400 test sets and its
    # slope at power 0.8 is 0.28 per SE unit of the mean, so about 0.07 SE units, plus the
    # bisection step; 0.2 SE units = 0.01 still tells alpha 0.025 (0.540) from 0.05 (0.524)
    assert r.absolute["minimum_detectable"] == pytest.approx(expected, abs=0.2 * sd / math.sqrt(n))


def test_improvement_over_a_baseline() -> None:
    p = parse_protocol(_binary(0.6))
    r = minimum_detectable(p, 200, baseline_value=0.7, simulations=40, resamples=200)
    assert r.baseline is not None and r.baseline["certifiable"]
    imp = r.baseline["minimum_detectable_improvement"]
    assert 0.03 < imp < 0.25
    assert r.baseline["minimum_detectable"] == pytest.approx(0.7 + imp, abs=0.005)


def test_bad_input() -> None:
    p = parse_protocol(_binary(0.6))
    with pytest.raises(InputError):
        minimum_detectable(p, 5)
    with pytest.raises(InputError):
        minimum_detectable(p, 100, power=1.5)
    with pytest.raises(InputError):
        minimum_detectable(p, 100, baseline_value=2.0, simulations=10, resamples=50)
    with pytest.raises(InputError, match="not supported"):
        minimum_detectable(parse_protocol((ASSETS / "compute_sets.yaml").read_text()), 100)
    with pytest.raises(InputError, match="no baseline"):
        minimum_detectable(parse_protocol(SCORES), 100, baseline_value=0.5)


def test_cli(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(SCORES)
    runner = CliRunner()
    ok = runner.invoke(app, ["protocol", "power", "--protocol", str(path), "--units", "100",
                             "--simulations", "20", "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["certifiable"] is True and doc["alpha_k"] == pytest.approx(0.025)
    assert doc["resamples"] == 400 and doc["simulations"] == 20
    text = runner.invoke(app, ["protocol", "power", "--protocol", str(path), "--units", "100",
                               "--simulations", "20", "--score-sd", "0.5"])
    assert text.exit_code == 0 and "minimum detectable true mean_score" in text.stdout
    assert "'score_sd': 0.5" in text.stdout
    for bad in (["--units", "3"], ["--units", "100", "--power", "0"],
                ["--units", "100", "--baseline-value", "0.3"], ["--units", "many"],
                ["--units", "100", "--score-sd", "0"]):
        res = runner.invoke(app, ["protocol", "power", "--protocol", str(path), *bad])
        assert res.exit_code == 2, (bad, res.output)
    missing = runner.invoke(app, ["protocol", "power", "--protocol",
                                  str(tmp_path / "nope.yaml"), "--units", "100"])
    assert missing.exit_code == 2

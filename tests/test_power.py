"""adjudicator.power: minimum detectable metric by simulation, and `protocol power`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
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


PEARSON = """
adjudicator: protocol/v1
id: power-pearson
version: 1
title: Power test (per-unit Pearson)
task: {kind: regression, unit: sample, keys: [gene], truth: {value: y}, prediction: pred}
metric: {name: per_unit_pearson_mean}
resampling: {method: percentile, resamples: 400, confidence: 0.95}
threshold:
  absolute: 0.5
  baselines: [{name: base, margin: 0.0}]
multiplicity: {alpha: 0.05, family: team, rule: bonferroni, max_submissions: 2}
"""


def _survival(metric: str = "harrell_c", threshold: float = 0.65) -> str:
    return f"""
adjudicator: protocol/v1
id: power-survival
version: 1
title: Power test (survival)
task: {{kind: survival, unit: id, truth: {{time: t, event: e}}, prediction: risk}}
metric: {{name: {metric}}}
resampling: {{method: percentile, resamples: 400, confidence: 0.95}}
threshold:
  absolute: {threshold}
  baselines: [{{name: cox, margin: 0.0}}]
multiplicity: {{alpha: 0.05, family: team, rule: bonferroni, max_submissions: 2}}
"""


SETS = """
adjudicator: protocol/v1
id: power-sets
version: 1
title: Power test (sets)
task: {kind: sets, unit: patient, truth: {element: mutation}, prediction: predicted}
metric: {name: set_f1, average: micro, zero_division: 0}
resampling: {method: percentile, resamples: 400, confidence: 0.95}
threshold:
  absolute: 0.4
  baselines: [{name: base, margin: 0.0}]
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
    sets = parse_protocol((ASSETS / "compute_sets.yaml").read_text())
    with pytest.raises(InputError, match="set size"):
        minimum_detectable(sets, 100, set_size=0)
    with pytest.raises(InputError, match="rows per unit"):
        minimum_detectable(parse_protocol(PEARSON), 100, rows_per_unit=2)
    with pytest.raises(InputError, match="hazard strength"):
        minimum_detectable(parse_protocol(_survival()), 100, hazard_strength=0.0)
    with pytest.raises(InputError, match="finite"):
        minimum_detectable(p, 100, baseline_value=math.nan)
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


def test_sets_match_the_closed_form() -> None:
    """Micro F1 with |P| = |T|: a ratio of sums, SE sqrt(q (1 - q) / (N E|T|))."""
    p = parse_protocol(SETS)
    n, size = 150, 4.0
    r = minimum_detectable(p, n, simulations=400, resamples=400, set_size=size)
    a = r.absolute
    assert a is not None and a["certifiable"]
    # the family's true F1 is q = logistic(d) (reference sample: 20,000 units)
    assert a["minimum_detectable"] == pytest.approx(1 / (1 + math.exp(-a["effect"])), abs=0.01)
    z = norm.ppf(1 - r.alpha_k) + norm.ppf(0.8)
    q = 0.4
    for _ in range(5):  # the SE at the crossing itself
        q = 0.4 + z * math.sqrt(q * (1 - q) / (n * size))
    se = math.sqrt(q * (1 - q) / (n * size))
    assert a["minimum_detectable"] == pytest.approx(q, abs=0.25 * se)


def test_sets_improvement_over_a_baseline() -> None:
    p = parse_protocol(SETS)
    r = minimum_detectable(p, 200, baseline_value=0.5, simulations=60, resamples=200)
    b = r.baseline
    assert b is not None and b["certifiable"]
    # two independent binomial draws per unit: the paired SE of the difference is about
    # sqrt(2 q (1 - q) / (N E|T|)) = 0.016, so about 2.8 of them
    assert 0.03 < b["minimum_detectable_improvement"] < 0.07
    assert r.family == {"kind": "sets", "set_size": 10.0}


def _mean_r(sigma: float, rows: int, units: int = 20_000) -> tuple[float, float]:
    """Mean and sd over units of the Pearson r of y and y + sigma e (numpy, not our kernel)."""
    rng = np.random.default_rng(7)
    y = rng.standard_normal((units, rows))
    x = y + sigma * rng.standard_normal((units, rows))
    yc, xc = y - y.mean(1, keepdims=True), x - x.mean(1, keepdims=True)
    r = (yc * xc).sum(1) / np.sqrt((yc * yc).sum(1) * (xc * xc).sum(1))
    return float(r.mean()), float(r.std())


def test_per_unit_pearson_mean() -> None:
    p = parse_protocol(PEARSON)
    n = 60
    r = minimum_detectable(p, n, simulations=300, resamples=400, rows_per_unit=10)
    a = r.absolute
    assert a is not None and a["certifiable"]
    assert r.family["rows_per_unit"] == 10
    mean, sd = _mean_r(math.exp(-a["effect"]), 10)
    # the family's true metric is the mean over units of each unit's r
    assert a["minimum_detectable"] == pytest.approx(mean, abs=0.005)
    # a mean over iid units: threshold + (z_alpha + z_power) sd / sqrt(N). Over five seeds
    # the simulated crossing sits 0.02 to 0.41 SE above it (mean 0.2: r is skewed at 10 rows
    # and the percentile p-value counts (k + 1) / (B + 1)); 0.45 SE bounds that
    expected = 0.5 + (norm.ppf(1 - r.alpha_k) + norm.ppf(0.8)) * sd / math.sqrt(n)
    assert a["minimum_detectable"] == pytest.approx(expected, abs=0.45 * sd / math.sqrt(n))
    # more rows per unit: each r is less noisy, so a smaller true mean is detectable
    more = minimum_detectable(p, n, simulations=100, resamples=200, rows_per_unit=40)
    assert more.absolute is not None
    assert more.absolute["minimum_detectable"] < a["minimum_detectable"] - 0.01
    imp = minimum_detectable(p, n, baseline_value=0.6, simulations=60, resamples=200)
    assert imp.baseline is not None and imp.baseline["certifiable"]
    assert 0.0 < imp.baseline["minimum_detectable_improvement"] < 0.15


def test_survival_absolute_and_baseline() -> None:
    p = parse_protocol(_survival())
    small = minimum_detectable(p, 150, baseline_value=0.65, simulations=40, resamples=200)
    large = minimum_detectable(p, 600, baseline_value=0.65, simulations=40, resamples=200)
    for r in (small, large):
        assert r.family == {"kind": "survival", "censoring": 0.3, "hazard_strength": 4.0}
        assert r.absolute is not None and r.absolute["certifiable"]
        assert r.baseline is not None and r.baseline["certifiable"]
    sa, la = small.absolute, large.absolute
    sb, lb = small.baseline, large.baseline
    assert sa is not None and la is not None and sb is not None and lb is not None
    assert 0.65 < la["minimum_detectable"] < sa["minimum_detectable"] < 0.85
    # four times the units: about half the detectable improvement
    ratio = lb["minimum_detectable_improvement"] / sb["minimum_detectable_improvement"]
    assert 0.3 < ratio < 0.75
    assert "minimum detectable improvement" in small.summary()


def test_survival_ceiling_picks_the_hazard_strength() -> None:
    # C-index ceiling: about 0.92 at strength 4, 0.96 at 8
    high = minimum_detectable(parse_protocol(_survival(threshold=0.93)), 400,
                              simulations=20, resamples=100)
    assert high.family["hazard_strength"] == 8.0
    assert high.absolute is not None and high.absolute["best_metric"] > 0.94
    fixed = minimum_detectable(parse_protocol(_survival(threshold=0.93)), 400,
                               simulations=20, resamples=100, hazard_strength=4.0)
    assert fixed.absolute is not None and fixed.absolute["certifiable"] is False
    assert any("hazard-strength" in n for n in fixed.notes)
    uno = minimum_detectable(parse_protocol(_survival("uno_c", 0.6)), 200, simulations=20,
                             resamples=100)
    assert uno.absolute is not None and uno.absolute["certifiable"]


def test_cli_family_options() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["protocol", "power", "--protocol",
                              str(ASSETS / "compute_sets.yaml"), "--units", "80",
                              "--simulations", "10", "--resamples", "50", "--set-size", "3",
                              "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["family"] == {"kind": "sets", "set_size": 3.0}
    bad = runner.invoke(app, ["protocol", "power", "--protocol",
                              str(ASSETS / "compute_sets.yaml"), "--units", "80",
                              "--set-size", "0"])
    assert bad.exit_code == 2 and "set size" in bad.output


def test_later_submission_uses_its_alpha_k() -> None:
    p = parse_protocol(_binary(0.6))  # geometric, ratio 0.5: alpha_k = 0.05 * 0.5^k
    first = minimum_detectable(p, 150, simulations=60, resamples=400)
    third = minimum_detectable(p, 150, simulations=60, resamples=400, sequence=3)
    assert third.alpha_k == pytest.approx(0.00625) and third.sequence == 3
    assert first.absolute is not None and third.absolute is not None
    assert third.absolute["minimum_detectable"] > first.absolute["minimum_detectable"] + 0.01
    assert "alpha_3 = 0.00625" in third.summary()
    with pytest.raises(InputError, match="sequence"):
        minimum_detectable(p, 150, sequence=6)  # past max_submissions 5

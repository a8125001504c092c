"""The public leaderboard: protocol block, split, feedback mechanisms, rankings, guarantees.

The slow test reproduces Blum and Hardt's boosting attack against each mechanism.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from adjudicator import leaderboard as lb
from adjudicator.data import submission_from_frame, table_from_frames, truth_from_frame
from adjudicator.errors import DegenerateResamplingError, InputError, ProtocolError
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol
from adjudicator.resampling import derive_seed

SECRET = "test-secret-not-for-production"

BINARY = {
    "adjudicator": "protocol/v1",
    "id": "board-binary",
    "version": 1,
    "title": "A binary challenge with a public board",
    "task": {"kind": "binary", "unit": "id", "truth": {"label": "y"}, "prediction": "p",
             "positive": 1, "strata": ["y"]},
    "metric": {"name": "auroc"},
    "threshold": {"absolute": 0.7},
}

LADDER = {"mechanism": "ladder", "step": 0.01}
THRESHOLDOUT = {"mechanism": "thresholdout", "threshold": 0.05, "noise": 0.002, "budget": 100}


def protocol(base=BINARY, metric=None, **board):
    data = json.loads(json.dumps(base))
    if metric is not None:
        data["metric"] = metric
    if board:
        data["leaderboard"] = {"public_fraction": 0.5, "feedback": LADDER, **board}
    return parse_protocol(yaml.safe_dump(data))


def binary_frame(n, seed=0, prevalence=0.5):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": [f"u{i:05d}" for i in range(n)],
                         "y": (rng.random(n) < prevalence).astype(int)})


def predictions(truth_frame, signal, seed):
    rng = np.random.default_rng(seed)
    score = signal * truth_frame["y"].to_numpy() + rng.normal(size=len(truth_frame))
    return pd.DataFrame({"id": truth_frame["id"], "p": score})


# -- the protocol block ----------------------------------------------------------------------


def test_absent_block_leaves_the_canonical_json_and_digest_alone():
    p = protocol()
    assert p.leaderboard is None
    assert "leaderboard" not in p.canonical
    with_board = protocol(feedback=LADDER)
    assert '"leaderboard":' in with_board.canonical
    assert with_board.digest != p.digest


def test_defaults_are_filled_in_so_the_digest_covers_them():
    implicit = protocol(feedback={"mechanism": "thresholdout", "threshold": 0.05,
                                  "noise": 0.002, "budget": 100})
    explicit = protocol(feedback={**THRESHOLDOUT, "holdout_fraction": 0.5,
                                  "resolution": 0.0001},
                        certify_on="private", scope="team", tie_bayes_factor=3)
    assert implicit.digest == explicit.digest
    fb = implicit.leaderboard.feedback
    assert (fb.holdout_fraction, fb.resolution, fb.step) == (0.5, 0.0001, None)
    assert protocol(feedback={"mechanism": "exact"}).leaderboard.feedback.resolution == 0.0001
    assert protocol(feedback=LADDER).leaderboard.feedback.resolution is None


@pytest.mark.parametrize(
    ("board", "message"),
    [
        ({"feedback": {"mechanism": "ladder"}},
         "leaderboard.feedback.step: the ladder mechanism needs it"),
        ({"feedback": {"mechanism": "thresholdout", "threshold": 0.1, "noise": 0.01}},
         "leaderboard.feedback.budget: the thresholdout mechanism needs it"),
        ({"feedback": {**LADDER, "noise": 0.1}},
         "leaderboard.feedback.noise: the ladder mechanism takes no noise (only thresholdout)"),
        ({"feedback": {"mechanism": "exact", "step": 0.1}},
         "leaderboard.feedback.step: the exact mechanism takes no step (only ladder)"),
        ({"feedback": {**LADDER, "resolution": 0.1}},
         "leaderboard.feedback.resolution: the ladder mechanism takes no resolution "
         "(only exact and thresholdout)"),
        ({"feedback": {"mechanism": "lader", "step": 0.1}},
         "leaderboard.feedback.mechanism: Input should be 'exact', 'ladder' or 'thresholdout'"),
        ({"feedback": {"mechanism": "ladder", "step": 0}},
         "leaderboard.feedback.step: must be positive, got 0.0"),
        ({"feedback": {"mechanism": "ladder", "step": float("inf")}},
         "leaderboard.feedback.step: must be a finite number, got inf"),
        ({"feedback": {**THRESHOLDOUT, "budget": True}},
         "leaderboard.feedback.budget: must be an integer"),
        ({"feedback": {**THRESHOLDOUT, "budget": 0}},
         "leaderboard.feedback.budget: Input should be greater than or equal to 1"),
        ({"feedback": {**THRESHOLDOUT, "holdout_fraction": 1}},
         "leaderboard.feedback.holdout_fraction: must be in (0, 1), got 1.0"),
        ({"public_fraction": 1.0}, "leaderboard.public_fraction: must be in (0, 1), got 1.0"),
        ({"public_fraction": "half"}, "leaderboard.public_fraction: must be a number"),
        ({"certify_on": "public"},
         "leaderboard.certify_on: Input should be 'private' or 'all'"),
        ({"scope": "everyone"}, "leaderboard.scope: Input should be 'team' or 'board'"),
        ({"tie_bayes_factor": 0.5}, "leaderboard.tie_bayes_factor: must be at least 1, got 0.5"),
        ({"colour": "red"}, "leaderboard.colour: unknown field"),
        ({"feedback": None}, "leaderboard.feedback"),
    ],
)
def test_invalid_blocks_are_refused_with_the_field_path(board, message):
    data = json.loads(json.dumps(BINARY))
    data["leaderboard"] = {"public_fraction": 0.5, "feedback": LADDER, **board}
    with pytest.raises(ProtocolError) as info:
        parse_protocol(yaml.safe_dump(data), source="p.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("p.yaml: ")


def test_missing_feedback_is_refused():
    data = json.loads(json.dumps(BINARY))
    data["leaderboard"] = {"public_fraction": 0.5}
    with pytest.raises(ProtocolError, match="leaderboard.feedback: required field is missing"):
        parse_protocol(yaml.safe_dump(data))


# -- the split --------------------------------------------------------------------------------


def test_split_is_deterministic_stratified_and_independent_of_row_order():
    p = protocol(public_fraction=0.3, feedback=THRESHOLDOUT)
    frame = binary_frame(1001, prevalence=0.2)
    s1 = lb.split_units(p, truth_from_frame(p, frame), secret=SECRET)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    s2 = lb.split_units(p, truth_from_frame(p, shuffled), secret=SECRET)
    assert s1.digest == s2.digest and np.array_equal(s1.roles, s2.roles)
    assert s1.digest.startswith("sha256:") and len(s1.digest) == 71
    # round(0.3 * 1001) = 300 public units, allocated by largest remainder within strata
    assert s1.public.sum() == 300
    y = frame.set_index("id").loc[s1.units, "y"].to_numpy()
    for label in (0, 1):
        n_s = (y == label).sum()
        assert abs(s1.public[y == label].sum() - 0.3 * n_s) < 1
    # the holdout is half the public part, within each stratum too, and disjoint from train
    assert s1.holdout.sum() == 150 and not (s1.holdout & s1.train).any()
    assert np.array_equal(s1.public, s1.holdout | s1.train)
    assert np.array_equal(s1.certification, s1.private)
    assert s1.to_dict()["units"] == {"private": 701, "public": 150, "holdout": 150}
    assert "u00001" not in json.dumps(s1.to_dict())  # unit ids stay out of the summary


def test_split_depends_on_the_secret_and_the_protocol():
    p = protocol(feedback=LADDER)
    frame = binary_frame(400)
    truth = truth_from_frame(p, frame)
    base = lb.split_units(p, truth, secret=SECRET)
    other = lb.split_units(p, truth, secret="another secret")
    public = lb.split_units(p, truth, secret=None)
    assert len({base.digest, other.digest, public.digest}) == 3
    assert not np.array_equal(base.roles, other.roles)
    assert (base.secret, public.secret) == (True, False)
    p2 = protocol(feedback={"mechanism": "ladder", "step": 0.02})
    assert lb.split_units(p2, truth_from_frame(p2, frame), secret=SECRET).digest != base.digest
    # certify_on: all certifies on every unit
    p3 = protocol(feedback=LADDER, certify_on="all")
    s3 = lb.split_units(p3, truth_from_frame(p3, frame), secret=SECRET)
    assert s3.certification.all()


def test_split_refusals():
    plain = protocol()
    with pytest.raises(ProtocolError, match="has no leaderboard block"):
        lb.split_units(plain, truth_from_frame(plain, binary_frame(10)), secret=None)
    p = protocol(feedback=LADDER)
    other = protocol(feedback={"mechanism": "exact"})
    with pytest.raises(InputError, match="read for another protocol"):
        lb.split_units(p, truth_from_frame(other, binary_frame(10)), secret=None)
    tiny = protocol(feedback=LADDER, public_fraction=0.1)
    with pytest.raises(InputError, match="leave the public part empty"):
        lb.split_units(tiny, truth_from_frame(tiny, binary_frame(4)), secret=None)
    with pytest.raises(ValueError, match="`secret` must be a non-empty string"):
        lb.split_units(p, truth_from_frame(p, binary_frame(10)), secret="")


def test_restrict_equals_scoring_the_subset_from_scratch():
    # rows inside units (task.keys) must follow their unit
    p = parse_protocol(yaml.safe_dump({
        "adjudicator": "protocol/v1", "id": "long", "version": 1, "title": "t",
        "task": {"kind": "regression", "unit": "pid", "keys": ["month"],
                 "truth": {"value": "egfr"}, "prediction": "pred"},
        "metric": {"name": "rmse"}, "threshold": {"absolute": 5.0},
    }))
    rng = np.random.default_rng(1)
    pids = np.repeat([f"p{i:03d}" for i in range(60)], 4)
    truth = pd.DataFrame({"pid": pids, "month": np.tile(["3", "6", "12", "24"], 60),
                          "egfr": rng.normal(60, 10, 240)})
    pred = truth[["pid", "month"]].assign(pred=truth["egfr"] + rng.normal(0, 5, 240))
    table = table_from_frames(p, truth, pred)
    mask = rng.random(table.n_units) < 0.4
    keep = set(table.units[mask])
    sub = table_from_frames(p, truth[truth.pid.isin(keep)], pred[pred.pid.isin(keep)])
    restricted = lb.restrict(table, mask)
    kernel = get_kernel(p.metric)
    assert kernel(restricted) == kernel(sub)
    assert np.array_equal(restricted.units, sub.units)
    assert np.array_equal(restricted.row_unit, sub.row_unit)
    with pytest.raises(ValueError, match="`mask` must be 60 booleans"):
        lb.restrict(table, mask[:-1])


# -- the private part never reaches a participant ------------------------------------------


SURVIVAL = {
    "adjudicator": "protocol/v1", "id": "board-survival", "version": 1, "title": "t",
    "task": {"kind": "survival", "unit": "pid", "truth": {"time": "t", "event": "e"},
             "prediction": "risk"},
    "metric": {"name": "uno_c"},  # its default truncation reads the largest time it sees
    "threshold": {"absolute": 0.6},
}


@pytest.mark.parametrize("feedback", [{"mechanism": "exact"}, LADDER, THRESHOLDOUT],
                         ids=["exact", "ladder", "thresholdout"])
def test_changing_private_labels_changes_no_public_response(feedback):
    p = protocol(SURVIVAL, **{"feedback": feedback, "public_fraction": 0.4})
    rng = np.random.default_rng(5)
    n = 300
    truth = pd.DataFrame({"pid": [f"p{i:03d}" for i in range(n)],
                          "t": rng.exponential(100, n).round(1),
                          "e": rng.integers(0, 2, n)})
    t1 = truth_from_frame(p, truth)
    split = lb.split_units(p, t1, secret=SECRET)  # fixed when the truth is committed
    private = set(split.units[split.private])
    changed = truth.copy()
    rows = changed.pid.isin(private).to_numpy()
    changed.loc[rows, "t"] = rng.exponential(300, rows.sum()).round(1) + 1000  # new maxima
    changed.loc[rows, "e"] = 1 - changed.loc[rows, "e"]
    t2 = truth_from_frame(p, changed)
    assert t2.digest != t1.digest

    subs = [pd.DataFrame({"pid": truth.pid, "risk": rng.normal(size=n) - k * truth.t / 100})
            for k in range(8)]
    scores1 = [lb.score_public(p, split, submission_from_frame(p, s, t1).table) for s in subs]
    scores2 = [lb.score_public(p, split, submission_from_frame(p, s, t2).table) for s in subs]
    assert scores1 == scores2  # bit for bit
    r1 = lb.replay(p, scores1, scope_key="team/a", secret=SECRET)
    r2 = lb.replay(p, scores2, scope_key="team/a", secret=SECRET)
    assert r1 == r2
    # the control: the same submissions scored on every unit do see the change
    kernel = get_kernel(p.metric)
    full1 = [kernel(submission_from_frame(p, s, t1).table) for s in subs]
    full2 = [kernel(submission_from_frame(p, s, t2).table) for s in subs]
    assert all(a != b for a, b in zip(full1, full2))


# -- mechanisms -------------------------------------------------------------------------------


def _scores(values):
    return [lb.PublicScore(v) for v in values]


def test_ladder_moves_only_by_more_than_a_step_and_rounds_to_it():
    p = protocol(feedback=LADDER)  # auroc: higher is better
    values = [0.700, 0.705, 0.7151, 0.7249, 0.7251, 0.73, 0.7351, 0.60]
    responses = lb.replay(p, _scores(values), scope_key="team/a", secret=None)
    assert [r.shown for r in responses] == [0.70, 0.70, 0.72, 0.72, 0.72, 0.72, 0.74, 0.74]
    assert [r.credited for r in responses] == [True, False, True, False, False, False, True,
                                               False]
    assert [r.index for r in responses] == list(range(1, 9))
    # exactly one step better is not "more than" a step (0.72 + 0.01, in floating point)
    # (0.06 + 0.01 is 0.06999... in binary, 0.07 - 0.01 is 0.06000...1)
    for pair in ([0.72, 0.73], [0.06, 0.07], [0.09, 0.10]):
        exact_step = lb.replay(p, _scores(pair), scope_key="b", secret=None)
        assert [r.credited for r in exact_step] == [True, False], pair
    lower = protocol(metric={"name": "brier"}, feedback=LADDER)
    exact_step = lb.replay(lower, _scores([0.07, 0.06]), scope_key="b", secret=None)
    assert [r.credited for r in exact_step] == [True, False]


def test_ladder_for_a_metric_where_lower_is_better():
    p = protocol(metric={"name": "brier"}, feedback={"mechanism": "ladder", "step": 0.02})
    # 0.25 shows as 0.26 (halves round up); 0.235 < 0.26 - 0.02 moves it to 0.24; 0.2249
    # and 0.22 (exactly one step) do not move it; 0.20 does
    values = [0.25, 0.235, 0.2249, 0.22, 0.20, 0.30]
    responses = lb.replay(p, _scores(values), scope_key="team/a", secret=None)
    assert [r.shown for r in responses] == [0.26, 0.24, 0.24, 0.24, 0.20, 0.20]
    assert [r.improved for r in responses] == [True, True, False, False, True, False]


def test_exact_rounds_and_marks_improvements_in_the_metric_direction():
    p = protocol(metric={"name": "brier"}, feedback={"mechanism": "exact", "resolution": 0.001})
    responses = lb.replay(p, _scores([0.2504, 0.2496, 0.30, 0.1]), scope_key="a", secret=None)
    assert [r.shown for r in responses] == [0.25, 0.25, 0.3, 0.1]
    assert [r.improved for r in responses] == [True, False, False, True]
    assert all(r.credited and r.budget_left is None for r in responses)


def test_thresholdout_answers_train_side_holdout_with_noise_and_spends_its_budget():
    p = protocol(feedback={"mechanism": "thresholdout", "threshold": 0.05, "noise": 0.001,
                           "budget": 2, "resolution": 0.0001})
    close = lb.PublicScore(0.70, train=0.71, holdout=0.70)  # |diff| = 0.01 < T
    far = lb.PublicScore(0.70, train=0.90, holdout=0.70)  # |diff| = 0.20 > T
    responses = lb.replay(p, [close, far, close, far, far, close], scope_key="team/a",
                          secret=SECRET)
    shown = [r.shown for r in responses]
    assert shown[0] == 0.71 and shown[2] == 0.71  # the training-side estimate, rounded
    for i in (1, 3):  # the holdout score plus Laplace(0.001) noise, rounded
        assert abs(shown[i] - 0.70) < 0.02
    assert shown[1] != shown[3]  # fresh noise for each holdout answer
    assert shown[4:] == [None, None]  # budget spent: nothing more is shown
    assert [r.budget_left for r in responses] == [2, 1, 1, 0, 0, 0]
    assert [r.credited for r in responses] == [True] * 4 + [False] * 2
    again = lb.replay(p, [close, far, close, far, far, close], scope_key="team/a",
                      secret=SECRET)
    assert again == responses  # replayable bit for bit
    other = lb.replay(p, [close, far, close, far], scope_key="team/b", secret=SECRET)
    assert other[1].shown != shown[1]  # each sequence has its own noise
    with pytest.raises(ValueError, match="needs the train and holdout scores"):
        lb.replay(p, [lb.PublicScore(0.7)], scope_key="a", secret=SECRET)


def test_thresholdout_noise_is_laplace_with_the_preregistered_scales():
    p = protocol(feedback={**THRESHOLDOUT, "noise": 0.01})
    m = lb.mechanism(p, scope_key="team/a", secret=SECRET)
    draws = np.array([m._draws(i) for i in range(1, 4001)])
    # E|Laplace(b)| = b; standard error of the mean of 4000 |draws| is b / sqrt(4000)
    for column, scale in zip(draws.T, (0.04, 0.01, 0.02)):
        assert abs(np.abs(column).mean() - scale) < 4 * scale / math.sqrt(4000)
        assert abs(np.median(column)) < 0.1 * scale
    # the stream is random access: a fresh mechanism draws the same block 17
    assert np.array_equal(lb.mechanism(p, scope_key="team/a", secret=SECRET)._draws(17),
                          draws[16])
    # and depends on the secret
    m2 = lb.mechanism(p, scope_key="team/a", secret="other")
    assert not np.array_equal(m2._draws(1), draws[0])


def test_mechanism_input_checks():
    p = protocol(feedback=LADDER)
    with pytest.raises(TypeError, match="PublicScore"):
        lb.replay(p, [0.5], scope_key="a", secret=None)
    with pytest.raises(ValueError, match="public score must be finite"):
        lb.replay(p, [lb.PublicScore(float("nan"))], scope_key="a", secret=None)
    with pytest.raises(ValueError, match="`scope_key` must be a non-empty string"):
        lb.feedback_seed(p, "", secret=None)
    with pytest.raises(ProtocolError, match="no leaderboard block"):
        lb.replay(protocol(), [], scope_key="a", secret=None)


def test_standings_show_ties_as_ties():
    r = lb.Response
    board = {
        "zeta": [r(1, 0.72, True, True), r(2, 0.72, False, False)],
        "alpha": [r(1, 0.70, True, True), r(2, 0.74, True, True)],
        "beta": [r(1, 0.74, True, True)],
        "gamma": [r(1, None, False, False, 0)],
        "delta": [r(1, 0.72, True, True)],
    }
    rows = lb.standings(board, higher_is_better=True)
    assert [(s.team, s.shown, s.rank) for s in rows] == [
        ("alpha", 0.74, 1), ("beta", 0.74, 1), ("delta", 0.72, 3), ("zeta", 0.72, 3),
        ("gamma", None, None),
    ]
    assert rows[0].submissions == 2
    lower = lb.standings(board, higher_is_better=False)
    assert [(s.team, s.rank) for s in lower][:3] == [("alpha", 1), ("delta", 2), ("zeta", 2)]


# -- final rankings ---------------------------------------------------------------------------


def _constructed():
    """Five entries on 20 resamples with hand-countable comparisons (higher is better)."""
    b = np.arange(20)
    lead = 0.80 + 0.001 * b
    close = np.where(b < 14, lead - 0.01, lead + 0.01)  # leader better in 14: K = 14/6
    far = np.where(b < 16, lead - 0.02, lead + 0.02)  # 16 of 20: K = 16/4 = 4 > 3
    twin = far.copy()  # identical to far: ties in every resample
    swamped = lead - 0.3  # leader better in all 20: K infinite
    reps = np.column_stack([lead, close, far, twin, swamped])
    names = ["lead", "close", "far", "twin", "swamped"]
    estimates = [0.81, 0.80, 0.79, 0.79, 0.5]
    return names, estimates, reps


def test_tie_groups_bayes_factors_and_rank_intervals_on_a_constructed_example():
    names, estimates, reps = _constructed()
    ranking = lb.rank_replicates(names, estimates, reps, higher_is_better=True)
    by = {e.name: e for e in ranking.entries}
    assert [e.name for e in ranking.entries] == ["lead", "close", "far", "twin", "swamped"]
    assert (by["lead"].rank, by["close"].rank, by["far"].rank, by["twin"].rank,
            by["swamped"].rank) == (1, 1, 3, 3, 5)
    assert [by[n].group for n in names] == [1, 1, 2, 2, 3]
    assert by["lead"].bayes_factor is None
    assert by["close"].bayes_factor == pytest.approx(14 / 6)
    assert by["far"].bayes_factor == 4.0 and by["far"].leader_better == 16
    assert by["twin"].group_bayes_factor == 0.0  # tied with far in every resample: 0 / 20
    assert by["swamped"].bayes_factor == math.inf and by["swamped"].leader_better == 20
    # ranks per resample (ties share the rank): lead is 1 in 14 resamples, 2 in two
    # (close beats it) and 4 in four (close, far and twin beat it): quantiles (1, 4);
    # close: 1 in two, 2 in 14, 3 in four; far and twin: 3 in 16, 1 (shared) in four
    assert by["lead"].rank_interval == (1, 4)
    assert by["close"].rank_interval == (1, 3)
    assert by["far"].rank_interval == (1, 3) and by["twin"].rank_interval == (1, 3)
    assert by["swamped"].rank_interval == (5, 5)
    assert ranking.leader.name == "lead"
    assert ranking.valid_resamples == ranking.resamples == 20
    out = ranking.to_dict()
    assert out["entries"][-1]["bayes_factor"] == "inf"
    json.dumps(out, allow_nan=False)


def test_lower_is_better_gives_the_same_groups_on_negated_values():
    names, estimates, reps = _constructed()
    higher = lb.rank_replicates(names, estimates, reps, higher_is_better=True)
    lower = lb.rank_replicates(names, [-e for e in estimates], -reps, higher_is_better=False)
    assert [(e.name, e.rank, e.group, e.bayes_factor, e.rank_interval) for e in higher.entries] \
        == [(e.name, e.rank, e.group, e.bayes_factor, e.rank_interval) for e in lower.entries]


def test_a_leader_that_wins_every_resample_gives_an_infinite_factor_not_an_error():
    reps = np.column_stack([np.full(50, 0.9), np.full(50, 0.8)])
    ranking = lb.rank_replicates(["a", "b"], [0.9, 0.8], reps, higher_is_better=True)
    b = ranking.entries[1]
    assert b.bayes_factor == math.inf and b.rank == 2 and b.group == 2
    assert b.rank_interval == (2, 2)
    # lower is better: the smaller value wins every resample
    ranking = lb.rank_replicates(["a", "b"], [0.9, 0.8], reps, higher_is_better=False)
    assert ranking.leader.name == "b" and ranking.entries[1].bayes_factor == math.inf
    # a factor of exactly 3 is still a tie (K <= 3), just above is not
    b75 = np.r_[np.full(75, 1.0), np.full(25, -1.0)]
    tie = lb.rank_replicates(["a", "b"], [1, 0], np.column_stack([b75, np.zeros(100)]),
                             higher_is_better=True)
    assert tie.entries[1].bayes_factor == 3.0 and tie.entries[1].rank == 1
    b76 = np.r_[np.full(76, 1.0), np.full(24, -1.0)]
    apart = lb.rank_replicates(["a", "b"], [1, 0], np.column_stack([b76, np.zeros(100)]),
                               higher_is_better=True)
    assert apart.entries[1].rank == 2


def test_undefined_resamples_are_left_out_and_all_undefined_is_an_error():
    names, estimates, reps = _constructed()
    with_nan = np.vstack([reps, np.full((3, 5), np.nan)])
    ranking = lb.rank_replicates(names, estimates, with_nan, higher_is_better=True)
    assert (ranking.resamples, ranking.valid_resamples) == (23, 20)
    assert ranking.entries[1].bayes_factor == pytest.approx(14 / 6)
    with pytest.raises(DegenerateResamplingError, match="every resample"):
        lb.rank_replicates(names, estimates, np.full((3, 5), np.nan), higher_is_better=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((["a", "a"], [1, 2], np.zeros((3, 2))), "`names` must not repeat"),
        (([], [], np.zeros((3, 0))), "`names` must be non-empty strings"),
        ((["a", "b"], [1, float("nan")], np.zeros((3, 2))), "`estimates` must be 2 finite"),
        ((["a", "b"], [1, 2], np.zeros((3, 3))), r"`replicates` must have shape \(B, 2\)"),
    ],
)
def test_rank_replicates_input_checks(args, message):
    with pytest.raises(ValueError, match=message):
        lb.rank_replicates(*args, higher_is_better=True)


def test_rank_entries_end_to_end_on_the_private_part():
    p = protocol(feedback=LADDER, public_fraction=0.4)
    frame = binary_frame(600, seed=2)
    truth = truth_from_frame(p, frame)
    split = lb.split_units(p, truth, secret=SECRET)
    base = predictions(frame, 1.5, seed=10)
    rng = np.random.default_rng(11)
    entries = {
        "strong": base,
        "strong-jitter": base.assign(p=base.p + rng.normal(0, 0.05, len(base))),
        "weak": predictions(frame, 0.3, seed=12),
        "strong-copy": base.copy(),
    }
    tables = {k: submission_from_frame(p, v, truth).table for k, v in entries.items()}
    ranking = lb.rank_entries(p, split, tables, resamples=400)
    by = {e.name: e for e in ranking.entries}
    assert ranking.part == "private" and ranking.n_units == int(split.private.sum()) == 360
    assert by["weak"].rank == 4 and by["weak"].bayes_factor == math.inf
    assert {by[n].group for n in ("strong", "strong-jitter", "strong-copy")} == {1}
    assert by["strong-copy"].group_bayes_factor in (None, 0.0)  # identical: never worse
    assert by["weak"].rank_interval == (4, 4)
    # the estimates are the metric on the private units only
    kernel = get_kernel(p.metric)
    private = lb.certification_table(p, split, tables["weak"])
    assert by["weak"].estimate == kernel(private)
    # reproducible, and the seed is recorded
    again = lb.rank_entries(p, split, tables, resamples=400)
    assert again.to_dict() == ranking.to_dict()
    assert ranking.to_dict()["seed"]["entropy"] == str(
        derive_seed(p.digest, "ranking", "leaderboard").entropy)
    # changing public labels changes nothing of a ranking on the private part
    flipped = frame.copy()
    public_ids = set(split.units[split.public])
    rows = flipped.id.isin(public_ids).to_numpy()
    flipped.loc[rows, "y"] = 1 - flipped.loc[rows, "y"]
    truth2 = truth_from_frame(p, flipped)
    tables2 = {k: submission_from_frame(p, v, truth2).table for k, v in entries.items()}
    assert lb.rank_entries(p, split, tables2, resamples=400).to_dict() == ranking.to_dict()
    # tables scored against another truth are refused
    with pytest.raises(InputError, match="holds other units than the split"):
        lb.rank_entries(p, split, {"x": table_from_frames(p, frame.iloc[:50],
                                                          base.iloc[:50])})
    with pytest.raises(InputError, match="scored against another truth"):
        lb.rank_entries(p, split, {"a": tables["weak"], "b": tables2["weak"]})


# -- guarantees ------------------------------------------------------------------------------


def test_ladder_bound_is_the_transcript_count_of_the_paper():
    # worst case: u = ceil(1 / 0.1) + 1 = 11 moves among k = 20, V = 12 values
    n, k, step, beta = 1000, 20, 0.1, 0.05
    log_t = math.log(math.comb(20, 11)) + 11 * math.log(12)
    expected = step / 2 + math.sqrt((log_t + math.log(2 * k / beta)) / (2 * n))
    assert lb.ladder_bound(n, k, step, beta=beta) == pytest.approx(expected, rel=1e-12)
    # with the observed number of moves, beta is shared over the 11 possible counts
    log_t2 = math.log(math.comb(20, 2)) + 2 * math.log(12)
    expected2 = step / 2 + math.sqrt((log_t2 + math.log(2 * k * 11 / beta)) / (2 * n))
    assert lb.ladder_bound(n, k, step, updates=2, beta=beta) == pytest.approx(expected2)
    assert lb.ladder_bound(4 * n, k, step, updates=2) < lb.ladder_bound(n, k, step, updates=2)
    with pytest.raises(ValueError, match=r"`updates` must be an integer in \[0, 11\]"):
        lb.ladder_bound(n, k, step, updates=12)
    with pytest.raises(ValueError, match="`beta` must be in"):
        lb.ladder_bound(n, k, step, beta=1.5)


def test_thresholdout_bound_parts():
    n, m, T, s, B, r, beta = 2000, 50, 0.05, 0.001, 10, 0.001, 0.05
    gap = T + 4 * s * math.log(4 * m / beta) + 2 * s * math.log(4 * (m + 1) / beta)
    grid = (1 + 2 * s * math.log(4 * m / beta)) / r + 2
    log_t = math.log(math.comb(m, 3)) + 3 * math.log(grid)
    eps = math.sqrt((log_t + math.log(2 * m * 4 * 11 / beta)) / (2 * n))
    assert lb.thresholdout_bound(n, m, T, s, B, r, overs=3) == pytest.approx(gap + r / 2 + eps)
    assert lb.thresholdout_bound(n, m, T, s, B, r) > lb.thresholdout_bound(n, m, T, s, B, r,
                                                                           overs=3)
    with pytest.raises(ValueError, match=r"`overs` must be an integer in \[0, 10\]"):
        lb.thresholdout_bound(n, m, T, s, B, r, overs=11)


# -- the boosting attack (Blum & Hardt 2015, section 3.1) ------------------------------------

ATTACK_UNITS = 6000  # 3000 public (thresholdout: 1500 train side, 1500 holdout), 3000 private
ATTACK_QUERIES = 1000  # random label vectors, then one majority vote
ATTACK_RUNS = 5
ATTACK_FEEDBACK = {
    "exact": {"mechanism": "exact"},
    "ladder": {"mechanism": "ladder", "step": 0.01},
    # T about 3 sd of the train-holdout difference (0.5 sqrt(2 / 1500) = 0.018)
    "thresholdout": {"mechanism": "thresholdout", "threshold": 0.06, "noise": 0.0005,
                     "budget": 20, "resolution": 0.001},
}


def boosting_attack(feedback, run):
    """One attack on a brier board (0/1 predictions: Brier = error rate, lower is better).

    The labels are fair coins independent of everything, so every prediction vector has
    population accuracy exactly 1/2: whatever a board shows above 1/2 is inflation.
    """
    p = protocol(metric={"name": "brier"}, public_fraction=0.5, feedback=feedback)
    rng = np.random.default_rng(1000 + run)
    frame = pd.DataFrame({"id": [f"u{i:05d}" for i in range(ATTACK_UNITS)],
                          "y": rng.integers(0, 2, ATTACK_UNITS)})
    truth = truth_from_frame(p, frame)
    split = lb.split_units(p, truth, secret=SECRET)
    assert np.array_equal(split.units, frame.id.to_numpy())
    y = frame.y.to_numpy()
    votes = rng.integers(0, 2, (ATTACK_QUERIES, ATTACK_UNITS)).astype(np.int8)

    def error(mask, v):  # the Brier score of 0/1 predictions on a part, vectorised
        return (v[:, mask] != y[mask]).mean(axis=1)

    def public_scores(v):
        if not split.holdout.any():
            return [lb.PublicScore(float(e)) for e in error(split.public, v)]
        return [lb.PublicScore(float(a), float(b), float(c)) for a, b, c in
                zip(error(split.public, v), error(split.train, v), error(split.holdout, v))]

    scores = public_scores(votes)
    # the vectorised scores are the service's scores (score_public through the kernel)
    for i in (0, 1):
        sub = frame[["id"]].assign(p=votes[i].astype(float))
        assert lb.score_public(p, split, submission_from_frame(p, sub, truth).table) \
            == pytest.approx(scores[i], abs=1e-12)

    board = lb.mechanism(p, scope_key="team/attacker", secret=SECRET)
    responses = [board.respond(s) for s in scores]
    # keep every vector the board credited with a score better than chance
    keep = [r.credited and r.shown is not None and r.shown < 0.5 for r in responses]
    kept = votes[np.array(keep)]
    final = (2 * kept.sum(axis=0) > len(kept)).astype(np.int8)[None] if len(kept) else votes[:1]
    budget_before = getattr(board, "budget_left", None)
    last = board.respond(public_scores(final)[0])
    responses.append(last)
    shown = [r.shown for r in responses if r.credited and r.shown is not None]
    return {
        "kept": len(kept),
        "final_shown_inflation": None if last.shown is None else 0.5 - last.shown,
        "board_error": max(abs(v - 0.5) for v in shown),  # Blum-Hardt's leaderboard error
        "public_inflation": 0.5 - float(error(split.public, final)[0]),
        "holdout_inflation": (0.5 - float(error(split.holdout, final)[0])
                              if split.holdout.any() else None),
        "private_inflation": 0.5 - float(error(split.private, final)[0]),
        "updates": getattr(board, "updates", None),
        "overs": getattr(board, "overs", None),
        "budget_left": last.budget_left,
        "final_from_holdout": budget_before is not None and last.budget_left == budget_before - 1,
    }


@pytest.mark.slow
def test_boosting_attack_inflates_only_the_exact_board_and_never_the_private_part():
    sd_public = 0.5 / math.sqrt(3000)  # chance fluctuation of an accuracy on 3000 units
    sd_private = 0.5 / math.sqrt(3000)
    sd_holdout = 0.5 / math.sqrt(1500)
    results = {name: [boosting_attack(fb, run) for run in range(ATTACK_RUNS)]
               for name, fb in ATTACK_FEEDBACK.items()}
    print("\nboosting attack:", json.dumps(results, indent=1))

    for name, runs in results.items():
        # (1) on the private part the attack stays at chance, in every run and on average
        private = np.array([r["private_inflation"] for r in runs])
        assert np.abs(private).max() < 4 * sd_private, name
        assert abs(private.mean()) < 4 * sd_private / math.sqrt(ATTACK_RUNS), name

    # (2) exact: the public score of the majority vote climbs well above chance
    exact = results["exact"]
    for r in exact:
        assert r["final_shown_inflation"] > 0.10  # > 10 sd of chance on 3000 public units
        assert r["final_shown_inflation"] > 10 * sd_public

    # (3) ladder: within Blum & Hardt's bound for the moves the board made (beta = 0.05):
    #     step / 2 + sqrt((ln C(k, u) + u ln V + ln(2 k u_max / beta)) / (2 n)),
    #     n = 3000 public units, k = 1001 submissions, step 0.01, V = 102, u_max = 101
    for r, e in zip(results["ladder"], exact):
        bound = lb.ladder_bound(3000, ATTACK_QUERIES + 1, 0.01, updates=r["updates"])
        assert r["board_error"] <= bound
        assert bound < e["board_error"]  # the bound is tight enough to exclude exact's board
        assert r["final_shown_inflation"] < 0.5 * e["final_shown_inflation"]

    # (4) thresholdout: every answer within the bound assembled from Dwork et al. (2015)
    #     for T = 0.06, sigma = 0.0005, B = 20, resolution 0.001, m = 1001 answers, a
    #     holdout of 1500 units and the observed number b of holdout answers (beta = 0.05):
    #     T + 4 sigma ln(4m/beta) + 2 sigma ln(4(m+1)/beta) + resolution/2
    #       + sqrt((ln C(m, b) + b ln G + ln(8 m (B+1) / beta)) / (2 * 1500)), about 0.2;
    #     at this holdout size it is loose (it cannot exclude exact's 0.13), so the attack's
    #     own outcome is checked as well
    for r in results["thresholdout"]:
        assert r["overs"] <= 20 and r["budget_left"] == 20 - r["overs"]
        bound = lb.thresholdout_bound(1500, ATTACK_QUERIES + 1, 0.06, 0.0005, 20, 0.001,
                                      overs=r["overs"])
        assert r["board_error"] <= bound < 0.3
        # the train side is overfit as on an exact board, the holdout is not, so the
        # majority vote's answer comes from the holdout, at chance within simulation error
        assert r["public_inflation"] > 0.05 and r["final_from_holdout"]
        assert abs(r["holdout_inflation"]) < 4 * sd_holdout
        assert r["final_shown_inflation"] is not None
        assert abs(r["final_shown_inflation"]) < 4 * sd_holdout < 0.10

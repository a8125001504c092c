"""Reading truth and submissions: the scored table, digests, and every refusal by name."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.utils import concordance_index as lifelines_cindex
from sklearn.metrics import roc_auc_score

from adjudicator.data import (
    DEFAULT_MAX_BYTES,
    Submission,
    Truth,
    read_submission,
    read_truth,
    submission_from_frame,
    table_from_frames,
    truth_from_frame,
)
from adjudicator.errors import InputError
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol

HEAD = "adjudicator: protocol/v1\nid: t\nversion: 1\ntitle: T\nthreshold: {absolute: 0.5}\n"

BINARY = HEAD + """\
task:
  kind: binary
  unit: patient
  truth: {label: outcome}
  positive: Poor
  prediction: p_poor
  strata: [site]
metric: {name: auroc}
"""
SURVIVAL = HEAD + """\
task:
  kind: survival
  unit: id
  truth: {time: days, event: died}
  prediction: predicted_days
  direction: lower
metric: {name: harrell_c}
"""
SETS = HEAD + """\
task:
  kind: sets
  unit: patient
  truth: {element: mutation}
  prediction: predicted_mutation
metric: {name: set_f1, average: micro}
"""
LONG = HEAD + """\
task:
  kind: regression
  unit: perturbation
  keys: [gene]
  truth: {value: lfc}
  prediction: pred
  strata: [batch]
metric: {name: per_unit_pearson_mean}
"""
SCORES = HEAD + """\
task:
  kind: scores
  unit: task_id
  truth: {}
  prediction: score
metric: {name: mean_score}
"""


@pytest.fixture
def binary():
    return parse_protocol(BINARY)


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return str(info.value)


# -- reading and joining ------------------------------------------------------------------


def test_binary_truth_and_submission_give_the_scored_table(binary, asset):
    truth = read_truth(binary, asset("truth_binary.csv"))
    assert isinstance(truth, Truth)
    assert (truth.n_units, truth.n_rows) == (8, 8)
    assert truth.summary["positives"] == 3 and truth.summary["negatives"] == 5
    assert truth.summary["kind"] == "binary" and truth.protocol_digest == binary.digest
    assert list(truth.units) == [f"p0{i}" for i in range(1, 9)]
    assert truth.summary["strata"] == {"north": 4, "south": 4}
    assert truth.source.endswith("truth_binary.csv")
    assert truth.digest.startswith("sha256:") and len(truth.digest) == 71
    sub = read_submission(binary, asset("sub_binary.csv"), truth)
    assert isinstance(sub, Submission)
    t = sub.table
    assert t.kind == "binary"
    assert list(t.units) == [f"p0{i}" for i in range(1, 9)]
    np.testing.assert_array_equal(t["y"], [0, 0, 1, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(t["score"], [0.1, 0.3, 0.8, 0.7, 0.3, 0.2, 0.9, 0.6])
    np.testing.assert_array_equal(t.strata, [0, 1, 1, 0, 0, 1, 0, 1])  # north=0, south=1
    np.testing.assert_array_equal(truth.strata, t.strata)
    auc = get_kernel(binary.metric)(t)
    assert auc == pytest.approx(roc_auc_score(t["y"], t["score"]), abs=1e-12)


def test_direction_lower_negates_the_prediction(binary, asset):
    lower = parse_protocol(BINARY.replace("prediction: p_poor", "prediction: p_poor\n  "
                                          "direction: lower"))
    truth = read_truth(lower, asset("truth_binary.csv"))
    t = read_submission(lower, asset("sub_binary.csv"), truth).table
    np.testing.assert_array_equal(t["score"], -np.array([0.1, 0.3, 0.8, 0.7, 0.3, 0.2, 0.9, 0.6]))


def test_survival_time_predictions_and_lifelines(asset):
    p = parse_protocol(SURVIVAL)
    truth = read_truth(p, asset("truth_survival.csv"))
    assert truth.summary["events"] == 4 and truth.summary["censored"] == 2
    t = read_submission(p, asset("sub_survival_times.csv"), truth).table
    df = pd.read_csv(asset("truth_survival.csv")).merge(
        pd.read_csv(asset("sub_survival_times.csv")))
    expected = lifelines_cindex(df["days"], df["predicted_days"], df["died"])
    assert get_kernel(p.metric)(t) == pytest.approx(expected, abs=1e-12)
    np.testing.assert_array_equal(t["event"], [1, 0, 1, 1, 0, 1])


def test_sets_with_empty_sets(asset):
    p = parse_protocol(SETS)
    truth = read_truth(p, asset("truth_sets.csv"))
    assert truth.summary["empty_sets"] == 1
    t = read_submission(p, asset("sub_sets.csv"), truth).table
    assert list(t.units) == ["p1", "p2", "p3", "p4"]
    np.testing.assert_array_equal(t["tp"], [1, 0, 0, 2])
    np.testing.assert_array_equal(t["n_pred"], [2, 0, 1, 2])
    np.testing.assert_array_equal(t["n_true"], [2, 1, 0, 2])
    assert get_kernel(p.metric)(t) == pytest.approx(2 * 3 / (5 + 5))


def test_long_format_with_keys_and_strata(asset):
    p = parse_protocol(LONG)
    truth = read_truth(p, asset("truth_long.csv"))
    assert (truth.n_units, truth.n_rows) == (2, 6)
    t = read_submission(p, asset("sub_long.csv"), truth).table
    np.testing.assert_array_equal(t.row_unit, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(t["y"], [0.5, -1.0, 2.0, 1.5, 0.1, -0.4])
    np.testing.assert_array_equal(t["pred"], [0.4, -0.5, 1.0, 1.0, 0.2, -0.1])
    np.testing.assert_array_equal(t.strata, [0, 1])
    expected = np.mean([np.corrcoef([0.5, -1.0, 2.0], [0.4, -0.5, 1.0])[0, 1],
                        np.corrcoef([1.5, 0.1, -0.4], [1.0, 0.2, -0.1])[0, 1]])
    assert get_kernel(p.metric)(t) == pytest.approx(expected, abs=1e-12)


def test_scores_and_the_pure_path():
    p = parse_protocol(SCORES)
    t = table_from_frames(p, pd.DataFrame({"task_id": ["b", "a"]}),
                          pd.DataFrame({"task_id": ["a", "b"], "score": [1.0, 0.5]}))
    assert list(t.units) == ["a", "b"]
    np.testing.assert_array_equal(t["score"], [1.0, 0.5])
    assert get_kernel(p.metric)(t) == 0.75


def test_typed_frames_are_accepted(binary):
    truth = pd.DataFrame({"patient": [3, 1, 2], "outcome": ["Poor", "Good", "Poor"],
                          "site": ["a", "a", "b"]})
    sub = pd.DataFrame({"patient": [1, 2, 3], "p_poor": [0.2, 0.6, 0.9]})
    t = table_from_frames(binary, truth, sub)
    assert list(t.units) == ["1", "2", "3"]
    np.testing.assert_array_equal(t["y"], [0, 1, 1])


# -- digests ------------------------------------------------------------------------------


def test_truth_digest_ignores_row_order_format_spelling_and_unused_columns(binary, asset,
                                                                          tmp_path):
    base = read_truth(binary, asset("truth_binary.csv")).digest
    df = pd.read_csv(asset("truth_binary.csv"), dtype=str)
    shuffled = df.sample(frac=1, random_state=3).drop(columns=["age"])
    shuffled.to_parquet(tmp_path / "truth.parquet")
    assert read_truth(binary, tmp_path / "truth.parquet").digest == base
    shuffled[["site", "outcome", "patient"]].to_csv(tmp_path / "t.csv", index=False)
    assert read_truth(binary, tmp_path / "t.csv").digest == base
    changed = df.copy()
    changed.loc[0, "outcome"] = "Good"
    changed.to_csv(tmp_path / "changed.csv", index=False)
    assert read_truth(binary, tmp_path / "changed.csv").digest != base
    moved = df.copy()
    moved.loc[0, "site"] = "south"
    moved.to_csv(tmp_path / "moved.csv", index=False)
    assert read_truth(binary, tmp_path / "moved.csv").digest != base  # strata are committed


def test_survival_truth_digest_ignores_number_spelling(tmp_path):
    p = parse_protocol(SURVIVAL)
    (tmp_path / "a.csv").write_text("id,days,died\na,5,1\nb,0.70,0\n")
    (tmp_path / "b.csv").write_text("days,died,id\n7e-1,false,b\n5.0,true,a\n")
    (tmp_path / "c.csv").write_text("id,days,died\na,5,1\nb,0.71,0\n")
    d = [read_truth(p, tmp_path / f"{x}.csv").digest for x in "abc"]
    assert d[0] == d[1] != d[2]


def test_submission_digest_ignores_order_and_spelling(binary, asset, tmp_path):
    truth = read_truth(binary, asset("truth_binary.csv"))
    a = read_submission(binary, asset("sub_binary.csv"), truth)
    b = read_submission(binary, asset("sub_reordered_spelling.csv"), truth)
    assert a.digest == b.digest
    np.testing.assert_array_equal(a.table["score"], b.table["score"])
    pd.read_csv(asset("sub_binary.csv")).to_parquet(tmp_path / "s.parquet")
    assert read_submission(binary, tmp_path / "s.parquet", truth).digest == a.digest
    other = pd.read_csv(asset("sub_binary.csv"))
    other.loc[0, "p_poor"] = 0.11
    other.to_csv(tmp_path / "other.csv", index=False)
    assert read_submission(binary, tmp_path / "other.csv", truth).digest != a.digest


# -- refusals: every message names the file and the problem -------------------------------


@pytest.mark.parametrize(
    ("name", "patterns"),
    [
        ("sub_nan.csv", ["column 'p_poor'", "2 NaN or infinite prediction", "'p02'", "'p04'"]),
        ("sub_html_ids.csv", ["1 unit id(s) not in the truth", "'<script>alert(1)</script>'"]),
        ("sub_duplicated.csv", ["1 duplicated row(s) in the submission", "'p03'", "rows 9"]),
        ("sub_unknown_ids.csv", ["7 unit id(s) not in the truth", "'x00'", "and 2 more"]),
        ("sub_missing.csv", ["missing predictions for 3 truth unit(s)", "'p04'", "'p07'"]),
        ("sub_leak.csv", ["truth column(s) 'outcome'", "leak"]),
        ("sub_extra_column.csv", ["unexpected column(s) 'notes'"]),
        ("sub_wrong_dtype.csv", ["column 'p_poor'", "wrong type", "'high'", "row(s) 2"]),
        ("sub_empty_cell.csv", ["column 'p_poor'", "missing prediction", "row(s) 2"]),
        ("sub_ragged.csv", ["not a valid CSV file", "Expected 2 fields"]),
        ("sub_dup_header.csv", ["duplicated column name(s) 'p_poor'"]),
        ("empty.csv", ["file is empty"]),
        ("whitespace.csv", ["file is empty"]),
        ("header_only.csv", ["has a header but no rows"]),
        ("not_a_csv.bin", ["not a CSV or Parquet file", "binary content"]),
        ("sub_latin1.csv", ["not UTF-8 text"]),
        ("fake.parquet", ["named like Parquet but is not a Parquet file"]),
        ("truncated.parquet", ["not a readable Parquet file"]),
    ],
)
def test_refused_submissions(binary, asset, name, patterns):
    truth = read_truth(binary, asset("truth_binary.csv"))
    message = refused(read_submission, binary, asset(name), truth)
    assert message.startswith(str(asset(name)) + ": ")
    for pattern in patterns:
        assert pattern in message, (pattern, message)


@pytest.mark.parametrize(
    ("name", "patterns"),
    [
        ("truth_three_labels.csv", ["column 'outcome'", "3 distinct labels", "two classes"]),
        ("truth_no_positive.csv", ["no row has the positive class 'Poor'", "'good'", "'poor'"]),
        ("truth_duplicated.csv", ["1 duplicated row(s) in the truth", "'p01'"]),
        ("truth_control_chars.csv", ["control characters", "row(s) 2"]),
        ("truth_missing_column.csv", ["missing column(s) 'outcome'", "found 'patient', 'label'"]),
        ("empty.csv", ["file is empty"]),
        ("not_a_csv.bin", ["not a CSV or Parquet file"]),
    ],
)
def test_refused_truths(binary, asset, name, patterns):
    message = refused(read_truth, binary, asset(name))
    assert message.startswith(str(asset(name)) + ": ")
    for pattern in patterns:
        assert pattern in message, (pattern, message)


def test_refused_survival_truths(asset):
    p = parse_protocol(SURVIVAL)
    msg = refused(read_truth, p, asset("truth_survival_R_status.csv"))
    assert "column 'died'" in msg and "other than 0/1" in msg and "1/2" in msg
    msg = refused(read_truth, p, asset("truth_survival_negative_time.csv"))
    assert "column 'days'" in msg and "1 negative value" in msg and "'b'" in msg


def test_refused_sets(asset):
    p = parse_protocol(SETS)
    truth = read_truth(p, asset("truth_sets.csv"))
    msg = refused(read_submission, p, asset("sub_sets_missing_unit.csv"), truth)
    assert "missing predictions for 2 truth unit(s)" in msg and "'p3'" in msg
    assert "empty element" in msg
    msg = refused(read_submission, p, asset("sub_sets_duplicated.csv"), truth)
    assert "duplicated row(s)" in msg and "'p1 / KRAS_G12D'" in msg
    msg = refused(read_submission, p, asset("sub_sets_empty_and_element.csv"), truth)
    assert "empty element" in msg and "'p1'" in msg


def test_refused_long_format(asset):
    p = parse_protocol(LONG)
    truth = read_truth(p, asset("truth_long.csv"))
    msg = refused(read_submission, p, asset("sub_long_missing_row.csv"), truth)
    assert "1 row(s) (unit / keys) not in the truth: 'KO2 / g9'" in msg
    msg = refused(read_truth, p, asset("truth_long_strata_vary.csv"))
    assert "strata column(s) 'batch' vary within 1 unit(s): 'KO1'" in msg


def test_probabilities_must_be_probabilities(asset):
    p = parse_protocol(BINARY.replace("{name: auroc}", "{name: brier}"))
    truth = read_truth(p, asset("truth_binary.csv"))
    msg = refused(read_submission, p, asset("sub_out_of_range.csv"), truth)
    assert "2 prediction(s) outside [0, 1]" in msg and "'p02'" in msg and "'p05'" in msg
    lower = parse_protocol(BINARY.replace("{name: auroc}", "{name: log_loss}").replace(
        "prediction: p_poor", "prediction: p_poor\n  direction: lower"))
    msg = refused(read_submission, lower, asset("sub_binary.csv"),
                  read_truth(lower, asset("truth_binary.csv")))
    assert "log_loss scores probabilities" in msg and "direction: lower" in msg
    # AUROC takes any real score
    assert read_submission(parse_protocol(BINARY), asset("sub_out_of_range.csv"),
                           read_truth(parse_protocol(BINARY), asset("truth_binary.csv")))


def test_size_limit_is_checked_before_reading(binary, asset):
    assert DEFAULT_MAX_BYTES == 2 * 1024**3
    size = os.path.getsize(asset("truth_binary.csv"))
    msg = refused(read_truth, binary, asset("truth_binary.csv"), max_bytes=size - 1)
    assert f"file is {size} bytes, over the size limit of {size - 1} bytes" in msg
    truth = read_truth(binary, asset("truth_binary.csv"), max_bytes=size)
    msg = refused(read_submission, binary, asset("sub_binary.csv"), truth, max_bytes=10)
    assert "over the size limit of 10 bytes" in msg


def test_parquet_size_limit_counts_decompressed_bytes(binary, asset, tmp_path):
    truth = read_truth(binary, asset("truth_binary.csv"))
    frame = pd.DataFrame({"patient": ["p01"] * 100_000, "p_poor": [0.5] * 100_000})
    frame.to_parquet(tmp_path / "bomb.parquet", compression="zstd", use_dictionary=False)
    size = os.path.getsize(tmp_path / "bomb.parquet")
    assert size < 20_000  # 100k rows of ~14 bytes each, compressed
    msg = refused(read_submission, binary, tmp_path / "bomb.parquet", truth,
                  max_bytes=20_000)
    assert "decompress to" in msg and "over the size limit of 20000 bytes" in msg


def test_missing_file_and_directory(binary, tmp_path):
    assert "no such file" in refused(read_truth, binary, tmp_path / "nope.csv")
    assert "no such file" in refused(read_truth, binary, tmp_path)


def test_parquet_refusals(binary, asset, tmp_path):
    truth = read_truth(binary, asset("truth_binary.csv"))
    frame = pd.DataFrame({"patient": [1.0, 2.0], "p_poor": [0.1, 0.2]})
    frame.to_parquet(tmp_path / "f.parquet")
    msg = refused(read_submission, binary, tmp_path / "f.parquet", truth)
    assert "column 'patient'" in msg and "floating-point" in msg
    pd.DataFrame({"patient": ["p01"], "p_poor": [True]}).to_parquet(tmp_path / "b.parquet")
    msg = refused(read_submission, binary, tmp_path / "b.parquet", truth)
    assert "wrong type" in msg
    frame = pd.DataFrame({"patient": ["p01", None], "p_poor": [0.1, 0.2]})
    frame.to_parquet(tmp_path / "n.parquet")
    msg = refused(read_submission, binary, tmp_path / "n.parquet", truth)
    assert "missing or non-text id" in msg


def test_a_truth_read_for_another_protocol_is_refused(binary, asset):
    truth = read_truth(binary, asset("truth_binary.csv"))
    other = parse_protocol(BINARY.replace("id: t", "id: other"))
    msg = refused(read_submission, other, asset("sub_binary.csv"), truth)
    assert "another protocol" in msg


def test_long_ids_are_cut_in_messages(binary, asset):
    truth = read_truth(binary, asset("truth_binary.csv"))
    sub = pd.DataFrame({"patient": ["<b>" + "x" * 200], "p_poor": [0.5]})
    msg = refused(submission_from_frame, binary, sub, truth, source="upload")
    assert msg.startswith("upload: ") and "'<b>xxxxxxxx" in msg and "...'" in msg
    assert "x" * 100 not in msg


def test_html_ids_are_data_not_markup(binary):
    ids = ["<script>alert(1)</script>", "a&b", '"q"']
    truth = truth_from_frame(binary, pd.DataFrame({"patient": ids, "outcome": ["Poor", "Good",
                                                   "Good"], "site": ["n", "n", "s"]}))
    t = table_from_frames(binary, pd.DataFrame({"patient": ids, "outcome": ["Poor", "Good",
                          "Good"], "site": ["n", "n", "s"]}),
                          pd.DataFrame({"patient": ids, "p_poor": [0.9, 0.1, 0.2]}))
    assert set(t.units) == set(ids)
    assert truth.n_units == 3


def test_nothing_is_written_when_refusing(binary, asset, tmp_path):
    work = tmp_path / "inbox"
    work.mkdir()
    for name in ("truth_binary.csv", "sub_nan.csv", "not_a_csv.bin", "sub_leak.csv"):
        shutil.copy(asset(name), work / name)
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in work.iterdir()}
    truth = read_truth(binary, work / "truth_binary.csv")
    for name in ("sub_nan.csv", "not_a_csv.bin", "sub_leak.csv"):
        refused(read_submission, binary, work / name, truth)
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in work.iterdir()}
    assert before == after


def test_scores_files(asset):
    p = parse_protocol(SCORES)
    truth = read_truth(p, asset("truth_scores.csv"))
    assert (truth.n_units, truth.summary["rows"]) == (3, 3)
    t = read_submission(p, asset("sub_scores.csv"), truth).table
    assert get_kernel(p.metric)(t) == 0.5
    assert get_kernel(p.metric).per_unit(t).tolist() == [1.0, 0.0, 0.5]


def _frames_for(protocol, rng):
    """A small random truth and submission shaped by the protocol's task."""
    task = protocol.task
    units = [f"u{i:03d}" for i in range(40)]
    combos = list(np.ndindex(*(3,) * len(task.keys))) if task.keys else [()]
    rows = [(u, *(f"k{j}" for j in combo)) for u in units for combo in combos]
    ids = pd.DataFrame(rows, columns=[task.unit, *task.keys])
    truth, sub = ids.copy(), ids.copy()
    pred = task.prediction_columns[0]
    n = len(ids)
    if task.kind == "binary":
        truth[task.truth["label"]] = np.where(np.arange(n) % 3 == 0, task.positive, 0)
        sub[pred] = rng.random(n)
    elif task.kind == "survival":
        truth[task.truth["time"]] = rng.integers(1, 3000, n)
        truth[task.truth["event"]] = rng.integers(0, 2, n)
        sub[pred] = rng.normal(size=n)
    elif task.kind == "regression":
        truth[task.truth["value"]] = rng.normal(size=n)
        sub[pred] = truth[task.truth["value"]] + rng.normal(size=n)
    elif task.kind == "sets":
        truth = pd.DataFrame({task.unit: np.repeat(units, 2),
                              task.truth["element"]: rng.choice(list("ABCDEFG"), 80)})
        truth = truth.drop_duplicates()
        sub = pd.DataFrame({task.unit: units, pred: rng.choice(list("ABCDEFG"), 40)})
    for col in task.strata:
        if col not in truth:
            truth[col] = "s"
    return truth, sub


def test_every_example_protocol_reads_and_scores():
    from adjudicator.protocol import load_protocol

    from .conftest import PROTOCOLS

    rng = np.random.default_rng(4)
    paths = sorted(PROTOCOLS.glob("*.yaml"))
    assert len(paths) >= 5
    for path in paths:
        protocol = load_protocol(path)
        truth, sub = _frames_for(protocol, rng)
        table = table_from_frames(protocol, truth, sub)
        value = get_kernel(protocol.metric)(table)
        assert np.isfinite(value), path.name
        if protocol.task.strata:
            assert table.strata is not None and len(table.strata) == table.n_units


def test_real_data_end_to_end_through_files(reference, tmp_path):
    # pROC's aSAH: the committee's truth and a participant's s100b scores, as files
    p = parse_protocol(BINARY.replace("strata: [site]", "strata: [outcome]"))
    df = pd.read_csv(reference("pROC_aSAH.csv"))
    ids = [f"asah-{i:03d}" for i in range(len(df))]
    pd.DataFrame({"patient": ids, "outcome": df["outcome"]}).to_parquet(tmp_path / "t.parquet")
    pd.DataFrame({"patient": ids, "p_poor": df["s100b"]}).to_csv(tmp_path / "s.csv", index=False)
    truth = read_truth(p, tmp_path / "t.parquet")
    assert truth.summary["positives"] == 41 and truth.summary["negatives"] == 72
    t = read_submission(p, tmp_path / "s.csv", truth).table
    assert round(get_kernel(p.metric)(t), 4) == 0.7314  # pROC's published AUC


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(1, 12), n_keys=st.integers(1, 4))
def test_digests_and_tables_do_not_depend_on_row_order(seed, n_units, n_keys):
    p = parse_protocol(LONG.replace("  strata: [batch]\n", ""))
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"g{k}") for u in range(n_units) for k in range(n_keys)]
    ids = pd.DataFrame(rows, columns=["perturbation", "gene"])
    truth = ids.assign(lfc=rng.integers(-3, 4, len(ids)) / 2)
    sub = ids.assign(pred=rng.normal(size=len(ids)))
    a_truth = truth_from_frame(p, truth)
    a = submission_from_frame(p, sub, a_truth)
    order = rng.permutation(len(ids))
    b_truth = truth_from_frame(p, truth.iloc[order].astype(str))  # as text, as from CSV
    b = submission_from_frame(p, sub.iloc[rng.permutation(len(ids))], b_truth)
    assert a_truth.digest == b_truth.digest and a.digest == b.digest
    for name in ("y", "pred"):
        np.testing.assert_array_equal(a.table[name], b.table[name])
    np.testing.assert_array_equal(a.table.row_unit, b.table.row_unit)

"""Metric kernels: agreement with the reference libraries, and the guarantees of weights.

References: scikit-learn, scikit-survival, lifelines and scipy, unweighted, to 1e-12, on
random data with ties and on real data (sksurv's GBSG2 and WHAS500 predictions, sklearn's
breast cancer, pROC's aSAH, R survival's lung). Properties (hypothesis): an integer weight
is the unit repeated, scaling a weight row changes nothing, batched equals row by row,
chunked equals unchunked, leave-one-out equals refitting without the unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifelines.utils import concordance_index as lifelines_cindex
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sksurv.datasets import load_gbsg2
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

from adjudicator.errors import ComputationError, InputError
from adjudicator.metrics import KERNELS, Kernel, _base, get_kernel
from adjudicator.metrics.binary import Auprc, Auroc, Brier, LogLoss
from adjudicator.metrics.regression import Mae, Pearson, PerUnitPearsonMean, Rmse, Spearman
from adjudicator.metrics.scores import MeanScore
from adjudicator.metrics.sets import SetKernel
from adjudicator.metrics.survival import HarrellC, UnoC
from adjudicator.protocol import METRICS, Correlation, PlainMetric, SetMetric
from adjudicator.protocol import MeanScore as MeanScoreSpec
from adjudicator.protocol import UnoC as UnoCSpec
from adjudicator.table import Table

TOL = 1e-12


# -- building tables ----------------------------------------------------------------------


def _table(kind: str, columns: dict[str, np.ndarray], row_unit: np.ndarray | None = None):
    n = len(next(iter(columns.values())))
    if row_unit is None:
        row_unit = np.arange(n)
    n_units = int(row_unit.max()) + 1 if n else 0
    units = np.array([f"u{i:05d}" for i in range(n_units)])
    return Table(kind=kind, units=units, row_unit=np.asarray(row_unit, dtype=np.int64),
                 columns={k: np.asarray(v) for k, v in columns.items()})


def binary(y, s, row_unit=None):
    return _table("binary", {"y": np.asarray(y, bool), "score": np.asarray(s, float)}, row_unit)


def survival(t, e, s, row_unit=None):
    return _table("survival", {"time": np.asarray(t, float), "event": np.asarray(e, bool),
                               "score": np.asarray(s, float)}, row_unit)


def regression(y, p, row_unit=None):
    return _table("regression", {"y": np.asarray(y, float), "pred": np.asarray(p, float)},
                  row_unit)


def sets(tp, n_pred, n_true):
    return _table("sets", {"tp": np.asarray(tp), "n_pred": np.asarray(n_pred),
                           "n_true": np.asarray(n_true)})


def random_table(kind: str, rng: np.random.Generator, n_units: int, multi: bool) -> Table:
    """Small random data with many ties; several rows per unit when ``multi``."""
    counts = rng.integers(1, 4, n_units) if multi else np.ones(n_units, dtype=int)
    row_unit = np.repeat(np.arange(n_units), counts)
    n = len(row_unit)
    if kind == "binary":
        return binary(rng.random(n) < 0.4, rng.integers(0, 5, n) / 4, row_unit)
    if kind == "survival":
        return survival(rng.integers(1, 8, n), rng.random(n) < 0.6, rng.integers(0, 5, n),
                        row_unit)
    if kind == "regression":
        y = rng.integers(0, 4, n).astype(float)
        return regression(y, 0.5 * y + rng.integers(0, 4, n), row_unit)
    if kind == "sets":
        n_true = rng.integers(0, 4, n_units)
        n_pred = rng.integers(0, 4, n_units)
        tp = np.array([rng.integers(0, min(a, b) + 1) for a, b in zip(n_true, n_pred)])
        return sets(tp, n_pred, n_true)
    return _table("scores", {"score": rng.normal(size=n)}, row_unit)


def repeat_units(table: Table, k: np.ndarray) -> Table:
    """The table with unit u present k[u] times (its rows copied)."""
    rows, new_unit = [], []
    u_next = 0
    for u in range(table.n_units):
        unit_rows = np.flatnonzero(table.row_unit == u)
        for _ in range(int(k[u])):
            rows.extend(unit_rows)
            new_unit.extend([u_next] * len(unit_rows))
            u_next += 1
    rows = np.asarray(rows, dtype=np.int64)
    return _table(table.kind, {c: v[rows] for c, v in table.columns.items()},
                  np.asarray(new_unit, dtype=np.int64))


# every kernel, with its options; (kernel, kind, multi-row allowed, exact under repetition)
CASES = [
    (Auroc(), "binary", True, True),
    (Auprc(), "binary", True, True),
    (Brier(), "binary", True, False),
    (LogLoss(), "binary", True, False),
    (HarrellC(), "survival", True, True),
    (UnoC(), "survival", False, False),
    (UnoC(truncation=5.0), "survival", False, False),
    (Rmse(), "regression", True, False),
    (Mae(), "regression", True, False),
    (Pearson(), "regression", True, False),
    (Pearson(constant="zero"), "regression", True, False),
    (Spearman(), "regression", True, False),
    (PerUnitPearsonMean(constant="zero"), "regression", True, False),
    (PerUnitPearsonMean(), "regression", True, False),
    (SetKernel("set_precision", "micro", 0), "sets", False, True),
    (SetKernel("set_recall", "micro", 1), "sets", False, True),
    (SetKernel("set_f1", "micro", 0), "sets", False, True),
    (SetKernel("set_precision", "macro", 1), "sets", False, False),
    (SetKernel("set_recall", "macro", 0), "sets", False, False),
    (SetKernel("set_f1", "macro", 1), "sets", False, False),
    (MeanScore(), "scores", True, False),
]
CASE_IDS = [
    f"{k.name}-{getattr(k, 'average', '')}{getattr(k, 'zero_division', '')}"
    f"{getattr(k, 'constant', '')}{getattr(k, 'truncation', '') or ''}"
    for k, *_ in CASES
]


def plain_or_nan(kernel: Kernel, table: Table) -> float:
    try:
        return kernel(table)
    except (ComputationError, InputError):
        return float("nan")


def assert_same(a: float, b: float, exact: bool) -> None:
    if np.isnan(a) or np.isnan(b):
        assert np.isnan(a) and np.isnan(b), (a, b)
    elif exact:
        assert a == b, (a, b)
    else:
        assert a == pytest.approx(b, rel=TOL, abs=TOL)


# -- the guarantees of weights (hypothesis) -----------------------------------------------

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("kernel", "kind", "multi", "exact"), CASES, ids=CASE_IDS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(2, 16), multi_draw=st.booleans())
def test_integer_weight_is_the_unit_repeated(kernel, kind, multi, exact, seed, n_units,
                                             multi_draw):
    rng = np.random.default_rng(seed)
    if kernel.name == "per_unit_pearson_mean":
        multi_draw = True
    table = random_table(kind, rng, n_units, multi and multi_draw)
    k = rng.integers(0, 4, n_units)
    weighted = kernel(table, k[None, :])
    assert weighted.shape == (1,)
    assert_same(float(weighted[0]), plain_or_nan(kernel, repeat_units(table, k)), exact)


@pytest.mark.parametrize(("kernel", "kind", "multi", "exact"), CASES, ids=CASE_IDS)
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(2, 16))
def test_scaling_batching_and_chunking_change_nothing(kernel, kind, multi, exact, seed,
                                                     n_units):
    rng = np.random.default_rng(seed)
    table = random_table(kind, rng, n_units, multi or kernel.name == "per_unit_pearson_mean")
    w = rng.dirichlet(np.ones(n_units), size=5) * n_units
    w[0, rng.integers(0, n_units)] = 0.0
    values = kernel(table, w)
    assert values.shape == (5,) and values.dtype == np.float64
    # a power of two rescales every sum exactly; another constant to rounding
    np.testing.assert_array_equal(kernel(table, 2.0 * w), values)
    np.testing.assert_allclose(kernel(table, 3.7 * w), values, rtol=1e-12, atol=1e-12)
    # batched equals row by row, exactly
    rows = np.array([kernel(table, w[b:b + 1])[0] for b in range(5)])
    np.testing.assert_array_equal(rows, values)
    # integer weights as ints or floats
    k = rng.integers(0, 3, (3, n_units))
    np.testing.assert_array_equal(kernel(table, k), kernel(table, k.astype(float)))
    # all ones is the plain metric
    assert_same(float(kernel(table, np.ones((1, n_units)))[0]), plain_or_nan(kernel, table),
                True)


def test_chunks_do_not_change_results(monkeypatch):
    rng = np.random.default_rng(3)
    for kernel, kind, multi, _ in CASES:
        table = random_table(kind, rng, 30, multi)
        w = rng.integers(0, 3, (23, 30))
        whole = kernel(table, w)
        monkeypatch.setattr(_base, "CHUNK_CELLS", 7)  # a chunk of one row
        np.testing.assert_array_equal(kernel(table, w), whole)
        monkeypatch.undo()


def test_zero_weight_removes_the_unit_exactly():
    rng = np.random.default_rng(5)
    for kernel, kind, multi, exact in CASES:
        table = random_table(kind, rng, 40, multi)
        w = np.ones(40)
        w[::3] = 0
        assert_same(float(kernel(table, w[None])[0]),
                    plain_or_nan(kernel, repeat_units(table, w.astype(int))), exact)


# -- leave-one-out and per-unit values ----------------------------------------------------


@pytest.mark.parametrize(("kernel", "kind", "multi", "exact"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("multi_rows", [False, True])
def test_leave_one_out_equals_the_metric_without_the_unit(kernel, kind, multi, exact,
                                                          multi_rows):
    rng = np.random.default_rng(11)
    table = random_table(kind, rng, 25, multi and multi_rows)
    loo = kernel.leave_one_out(table)
    if kernel.name in ("auprc", "uno_c", "pearson", "spearman"):
        assert loo is None
        return
    assert loo.shape == (table.n_units,)
    w = 1.0 - np.eye(table.n_units)
    np.testing.assert_allclose(loo, kernel(table, w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", [Auroc(), HarrellC()], ids=["auroc", "harrell_c"])
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_units=st.integers(2, 20), multi=st.booleans())
def test_placement_leave_one_out_is_exact(kernel, seed, n_units, multi):
    rng = np.random.default_rng(seed)
    table = random_table(kernel.kind, rng, n_units, multi)
    loo = kernel.leave_one_out(table)
    for u in range(n_units):
        keep = np.ones(n_units, dtype=int)
        keep[u] = 0
        # sums of half-integers on both sides: equal to the last bit
        assert_same(float(loo[u]), plain_or_nan(kernel, repeat_units(table, keep)), True)


def test_auroc_and_harrell_leave_one_out_match_the_references():
    rng = np.random.default_rng(12)
    y = rng.random(60) < 0.5
    s = rng.integers(0, 6, 60).astype(float)
    loo = Auroc().leave_one_out(binary(y, s))
    t = rng.integers(1, 10, 60).astype(float)
    e = rng.random(60) < 0.6
    loo_c = HarrellC().leave_one_out(survival(t, e, s))
    for u in range(60):
        keep = np.arange(60) != u
        assert loo[u] == pytest.approx(roc_auc_score(y[keep], s[keep]), abs=TOL)
        ref = concordance_index_censored(e[keep], t[keep], s[keep], tied_tol=0)[0]
        assert loo_c[u] == pytest.approx(ref, abs=TOL)


def test_auroc_leave_one_out_on_200k_units():
    # O(n log n) placements: refitting 200k times would take hours
    rng = np.random.default_rng(0)
    n = 200_000
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    table = binary(y, s)
    loo = Auroc().leave_one_out(table)
    full = Auroc()(table)
    assert loo.shape == (n,)
    assert np.all(np.abs(loo - full) < 1e-4)
    for u in (0, 17, n - 1):
        keep = np.arange(n) != u
        assert loo[u] == pytest.approx(roc_auc_score(y[keep], s[keep]), abs=TOL)


@pytest.mark.parametrize(("kernel", "kind", "multi", "exact"), CASES, ids=CASE_IDS)
def test_per_unit_values_average_to_the_metric(kernel, kind, multi, exact):
    rng = np.random.default_rng(13)
    table = random_table(kind, rng, 30, kernel.name == "per_unit_pearson_mean")
    pu = kernel.per_unit(table)
    decomposes = kernel.name in ("brier", "log_loss", "mae", "mean_score", "rmse",
                                 "per_unit_pearson_mean") or (
        kind == "sets" and kernel.average == "macro")
    if not decomposes:
        assert pu is None
        return
    assert pu.shape == (table.n_units,)
    value = plain_or_nan(kernel, table)
    if kernel.name == "rmse":
        value = value**2  # rmse decomposes as the mean squared error
    if not np.isnan(value):
        assert pu.mean() == pytest.approx(value, rel=TOL, abs=TOL)


def test_per_unit_is_none_for_unequal_row_counts():
    table = regression([1, 2, 3], [1, 2, 4], row_unit=np.array([0, 0, 1]))
    assert Mae().per_unit(table) is None


# -- references: binary -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_binary_kernels_match_sklearn_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 500
    y = rng.random(n) < 0.3
    s = rng.integers(0, 20, n) / 19  # heavy ties, probabilities including 0 and 1
    t = binary(y, s)
    assert Auroc()(t) == pytest.approx(roc_auc_score(y, s), abs=TOL)
    assert Auprc()(t) == pytest.approx(average_precision_score(y, s), abs=TOL)
    assert Brier()(t) == pytest.approx(brier_score_loss(y, s), abs=TOL)
    assert LogLoss()(t) == pytest.approx(log_loss(y, s), abs=TOL)


def test_binary_kernels_match_sklearn_on_breast_cancer():
    data = load_breast_cancer()
    y = data.target == 0  # malignant is the positive class
    for j in range(0, 30, 7):
        s = data.data[:, j]
        t = binary(y, s)
        assert Auroc()(t) == pytest.approx(roc_auc_score(y, s), abs=TOL)
        assert Auprc()(t) == pytest.approx(average_precision_score(y, s), abs=TOL)
    p = (data.data[:, 0] - data.data[:, 0].min()) / np.ptp(data.data[:, 0])
    t = binary(y, p)
    assert Brier()(t) == pytest.approx(brier_score_loss(y, p), abs=TOL)
    assert LogLoss()(t) == pytest.approx(log_loss(y, p), abs=TOL)


def test_auroc_on_pROC_aSAH_matches_sklearn_and_the_published_value(reference):
    df = pd.read_csv(reference("pROC_aSAH.csv"))
    y = (df["outcome"] == "Poor").to_numpy()
    s = df["s100b"].to_numpy(float)
    t = binary(y, s)
    assert Auroc()(t) == pytest.approx(roc_auc_score(y, s), abs=TOL)
    assert round(Auroc()(t), 4) == 0.7314  # pROC's documented AUC of s100b
    # no automatic direction: the reversed score ranks backwards
    assert Auroc()(binary(y, -s)) == pytest.approx(1 - 0.7314, abs=1e-4)


def test_auprc_is_the_step_sum_not_the_trapezoid():
    y = np.array([1, 0, 1, 0, 0, 1], bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    # thresholds: P = 1, 1/2, 2/3, 2/4, 2/5, 3/6 at recall 1/3, 1/3, 2/3, ..., 1
    assert Auprc()(binary(y, s)) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3, abs=TOL)


# -- references: survival -----------------------------------------------------------------


def _survival_refs(t, e, s, tau=None):
    t = np.asarray(t, float)
    e = np.asarray(e, bool)
    s = np.asarray(s, float)
    table = survival(t, e, s)
    harrell = HarrellC()(table)
    assert harrell == pytest.approx(
        concordance_index_censored(e, t, s, tied_tol=0)[0], abs=TOL)
    # lifelines takes survival-time-like scores: negate the risk
    assert harrell == pytest.approx(lifelines_cindex(t, -s, e), abs=TOL)
    y = Surv.from_arrays(e, t)
    assert UnoC(truncation=tau)(table) == pytest.approx(
        concordance_index_ipcw(y, y, s, tau=tau, tied_tol=0)[0], abs=TOL)


@pytest.mark.parametrize("seed", range(5))
def test_concordance_matches_sksurv_and_lifelines_on_random_data_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 300
    t = rng.integers(1, 40, n).astype(float)
    e = rng.random(n) < 0.6
    e[t == t.max()] = False  # else G(t_max) = 0 and Uno's C is undefined (sksurv raises)
    s = rng.integers(0, 15, n).astype(float)
    _survival_refs(t, e, s)
    _survival_refs(t, e, s, tau=25.0)


def test_concordance_on_gbsg2():
    x, y = load_gbsg2()
    t, e = y["time"], y["cens"]
    for col in ("pnodes", "tsize", "age"):
        _survival_refs(t, e, x[col].to_numpy(float))
    _survival_refs(t, e, x["pnodes"].to_numpy(float), tau=1825.0)


def test_concordance_on_whas500_predictions(reference):
    df = pd.read_csv(reference("sksurv_whas500_predictions.csv"))
    t, e, s = df["time"].to_numpy(float), df["event"].to_numpy(bool), df["risk"].to_numpy()
    table = survival(t, e, s)
    # scikit-survival's default tolerance agrees here (no scores within 1e-8)
    assert HarrellC()(table) == pytest.approx(concordance_index_censored(e, t, s)[0], abs=TOL)
    _survival_refs(t, e, s, tau=1000.0)


def test_concordance_on_R_lung(reference):
    df = pd.read_csv(reference("R_survival_lung.csv")).dropna(subset=["ph.ecog"])
    t = df["time"].to_numpy(float)
    e = (df["status"] == 2).to_numpy()  # R's survival codes death as 2
    for col in ("ph.ecog", "age"):
        s = df[col].to_numpy(float)
        assert HarrellC()(survival(t, e, s)) == pytest.approx(
            lifelines_cindex(t, -s, e), abs=TOL)
        assert HarrellC()(survival(t, e, s)) == pytest.approx(
            concordance_index_censored(e, t, s, tied_tol=0)[0], abs=TOL)


def test_uno_c_undefined_when_censoring_survival_is_zero_at_an_event():
    t = [1, 2, 3, 3]
    e = [1, 0, 1, 0]  # an event tied with the last censoring: G(3) = 0
    table = survival(t, e, [0.5, 0.2, 0.9, 0.1])
    with pytest.raises(ComputationError, match="censoring survival function G is 0"):
        UnoC()(table)
    values = UnoC()(table, np.array([[1, 1, 1, 1], [1, 1, 1, 0]]))
    assert np.isnan(values[0]) and np.isfinite(values[1])
    assert UnoC(truncation=3.0)(table) > 0  # truncating below the tie avoids it


# -- references: regression, sets, scores -------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_regression_kernels_match_sklearn_and_scipy(seed):
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.integers(0, 10, n).astype(float)
    p = 0.7 * y + rng.integers(0, 6, n)
    t = regression(y, p)
    assert Rmse()(t) == pytest.approx(np.sqrt(mean_squared_error(y, p)), abs=TOL)
    assert Mae()(t) == pytest.approx(mean_absolute_error(y, p), abs=TOL)
    assert Pearson()(t) == pytest.approx(ss.pearsonr(y, p)[0], abs=TOL)
    assert Spearman()(t) == pytest.approx(ss.spearmanr(y, p)[0], abs=TOL)


def test_regression_on_real_data():
    x, _ = load_gbsg2()
    a, b = x["age"].to_numpy(float), x["tsize"].to_numpy(float)
    t = regression(a, b)
    assert Pearson()(t) == pytest.approx(ss.pearsonr(a, b)[0], abs=TOL)
    assert Spearman()(t) == pytest.approx(ss.spearmanr(a, b)[0], abs=TOL)
    assert Rmse()(t) == pytest.approx(np.sqrt(mean_squared_error(a, b)), abs=TOL)


def test_per_unit_pearson_mean_matches_scipy_per_unit():
    rng = np.random.default_rng(2)
    row_unit = np.repeat(np.arange(12), 20)
    y = rng.normal(size=len(row_unit))
    p = y + rng.normal(size=len(row_unit))
    ref = np.mean([ss.pearsonr(y[row_unit == u], p[row_unit == u])[0] for u in range(12)])
    assert PerUnitPearsonMean()(regression(y, p, row_unit)) == pytest.approx(ref, abs=TOL)


def test_constant_vector_rule():
    t = regression([1.0, 2.0, 3.0], [0.3, 0.3, 0.3])
    with pytest.raises(ComputationError, match=r"predictions are constant.*constant: error"):
        Pearson()(t)
    with pytest.raises(ComputationError, match="constant"):
        Spearman()(t)
    assert Pearson(constant="zero")(t) == 0.0
    assert Spearman(constant="zero")(t) == 0.0
    # a weight row that leaves one distinct value is undefined, not a garbage number
    t2 = regression([0.1, 0.1, 0.2], [1.0, 2.0, 3.0])
    assert np.isnan(Pearson()(t2, np.array([[1.0, 1.0, 0.0]]))[0])
    pu = regression([1, 2, 3, 4], [5, 5, 1, 2], row_unit=np.array([0, 0, 1, 1]))
    with pytest.raises(ComputationError, match=r"1 unit\(s\).*'u00000'"):
        PerUnitPearsonMean()(pu)
    assert PerUnitPearsonMean(constant="zero")(pu) == pytest.approx(0.5)


@pytest.mark.parametrize("zero_division", [0, 1])
def test_set_kernels_match_sklearn(zero_division):
    rng = np.random.default_rng(7)
    n_units, n_labels = 60, 8
    truth = rng.random((n_units, n_labels)) < 0.25
    pred = rng.random((n_units, n_labels)) < 0.25
    truth[0] = False  # an empty true set
    pred[1] = False  # an empty predicted set
    truth[2] = pred[2] = False  # both empty: 0/0
    t = sets((truth & pred).sum(1), pred.sum(1), truth.sum(1))
    refs = {"set_precision": precision_score, "set_recall": recall_score, "set_f1": f1_score}
    for name, ref in refs.items():
        for ours, theirs in (("micro", "micro"), ("macro", "samples")):
            expected = ref(truth, pred, average=theirs, zero_division=zero_division)
            got = SetKernel(name, ours, zero_division)(t)
            assert got == pytest.approx(expected, abs=TOL), (name, ours)


def test_micro_set_zero_division():
    t = sets([0, 0], [0, 0], [1, 2])
    assert SetKernel("set_precision", "micro", 0)(t) == 0.0
    assert SetKernel("set_precision", "micro", 1)(t) == 1.0


def test_mean_score():
    s = np.array([0.2, 0.4, 0.9])
    t = _table("scores", {"score": s})
    assert MeanScore()(t) == pytest.approx(s.mean(), abs=TOL)
    assert MeanScore(higher_is_better=False).higher_is_better is False
    np.testing.assert_allclose(MeanScore()(t, np.array([[1, 0, 1], [0, 0, 2]])),
                               [0.55, 0.9], rtol=TOL)


# -- undefined results and the door -------------------------------------------------------


def test_undefined_plain_metric_raises_and_weighted_row_is_nan():
    t = binary([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.3])
    w = np.array([[1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0]])
    for kernel in (Auroc(), Auprc()):
        v = kernel(t, w)
        assert np.isfinite(v[0]) and np.isnan(v[3])
    assert np.isnan(Auroc()(t, w)[1]) and np.isnan(Auroc()(t, w)[2])
    with pytest.raises(ComputationError, match="auroc: .*1 positive and one negative"
                       r"|auroc: .*positive and one negative row \(has 0 positive"):
        Auroc()(binary([0, 0], [0.1, 0.2]))
    with pytest.raises(ComputationError, match="auprc: .*no row of the positive class"):
        Auprc()(binary([0, 0], [0.1, 0.2]))
    with pytest.raises(ComputationError, match="harrell_c: undefined: no comparable pairs"):
        HarrellC()(survival([1, 2], [0, 0], [0.1, 0.2]))
    assert np.isnan(Brier()(t, w)[3])


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones(4), "2-D"),
        (np.ones((2, 3)), "one column per unit"),
        (-np.ones((1, 4)), "non-negative"),
        (np.full((1, 4), np.nan), "finite"),
        (np.ones((1, 4), bool), "integer or float"),
        (np.array([["a"] * 4]), "integer or float"),
    ],
)
def test_weights_are_checked_at_the_door(weights, message):
    with pytest.raises(InputError, match=f"`weights`.*{message}"):
        Auroc()(binary([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.3]), weights)


def test_kernel_refuses_a_table_of_another_kind():
    with pytest.raises(InputError, match="auroc scores a binary task, got a regression table"):
        Auroc()(regression([1, 2], [1, 2]))


def test_get_kernel_covers_every_protocol_metric_with_its_options():
    assert set(KERNELS) == set(METRICS)
    specs = [
        PlainMetric(name="auroc"), UnoCSpec(name="uno_c", truncation=365.0),
        Correlation(name="spearman", constant="zero"),
        SetMetric(name="set_f1", average="macro", zero_division=1),
        MeanScoreSpec.model_validate({"name": "mean_score", "higher_is_better": False}),
    ]
    for name in ("auprc", "brier", "log_loss", "harrell_c", "rmse", "mae"):
        specs.append(PlainMetric(name=name))
    specs += [Correlation(name="pearson"), Correlation(name="per_unit_pearson_mean"),
              SetMetric(name="set_precision"), SetMetric(name="set_recall")]
    for spec in specs:
        kernel = get_kernel(spec)
        assert kernel.name == spec.name
        assert kernel.higher_is_better == spec.higher_is_better
    for spec in specs:
        assert len(get_kernel(spec).conventions) > 20, spec.name
    assert "tau = 365.0" in get_kernel(specs[1]).conventions
    assert "no truncation" in get_kernel(UnoCSpec(name="uno_c")).conventions
    assert "counts as correlation 0" in get_kernel(specs[2]).conventions
    assert "macro" in get_kernel(specs[3]).conventions
    assert "0/0 counts as 1" in get_kernel(specs[3]).conventions
    assert "not the trapezoid" in get_kernel(PlainMetric(name="auprc")).conventions
    assert "lower is better" in get_kernel(specs[4]).conventions
    assert get_kernel(specs[1]).truncation == 365.0
    assert get_kernel(specs[2]).constant == "zero"
    k = get_kernel(specs[3])
    assert (k.average, k.zero_division) == ("macro", 1.0)
    assert get_kernel(specs[4]).higher_is_better is False

"""Where heavy work runs: the same result.json in process and on Dask clusters, for every
task kind, whatever the unit of work, and when a worker is killed mid-computation.

The clusters are real ``LocalCluster`` s of worker *processes* on loopback (one worker
thread each, no dashboard), one per test module and size, closed at the end. Workers are
killed by a worker plugin at a chosen task's start (``os._exit``), so the kill lands at
the same point on every run: no timing.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster, WorkerPlugin

from adjudicator import resampling as rs
from adjudicator.adjudication import adjudicate
from adjudicator.compute import ClusterError, Compute, DaskExecutor
from adjudicator.data import submission_from_frame, truth_from_frame
from adjudicator.errors import ConfigurationError
from adjudicator.protocol import load_protocol
from adjudicator.settings import load_settings

from .conftest import ASSETS

KINDS = ("binary", "survival", "regression", "sets", "scores")
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


# -- inputs: one small challenge per task kind ------------------------------------------------


def _frames(kind: str, rng: np.random.Generator, n: int = 120):
    """Truth and predictions (entry, and a baseline where the protocol names one)."""
    ids = [f"u{i:04d}" for i in range(n)]
    if kind == "binary":
        y = (np.arange(n) % 3 == 0).astype(int)
        truth = pd.DataFrame({"id": ids, "y": y})
        preds = {name: pd.DataFrame({"id": ids, "p": s * y + rng.normal(size=n)})
                 for name, s in (("entry", 1.2), ("base", 0.6))}
    elif kind == "survival":
        risk = rng.normal(size=n)
        truth = pd.DataFrame({"id": ids, "days": rng.exponential(1000 * np.exp(-risk)).round() + 1,
                              "died": (rng.random(n) < 0.7).astype(int)})
        preds = {name: pd.DataFrame({"id": ids, "risk": risk + s * rng.normal(size=n)})
                 for name, s in (("entry", 0.5), ("base", 1.5))}
    elif kind == "regression":  # three rows per patient (task.keys: month)
        truth = pd.DataFrame([(u, m) for u in ids[: n // 2] for m in (3, 6, 12)],
                             columns=["patient", "month"])
        truth["egfr"] = rng.normal(60, 10, len(truth))
        preds = {name: truth[["patient", "month"]].assign(
            pred=truth["egfr"] + rng.normal(0, s, len(truth)))
            for name, s in (("entry", 1.0), ("base", 1.3))}
    elif kind == "sets":
        muts = [f"M{j}" for j in range(8)]
        truth = pd.DataFrame({"patient": np.repeat(ids, 2),
                              "mutation": rng.choice(muts, 2 * n)}).drop_duplicates()
        hits = truth.groupby("patient").head(1).rename(columns={"mutation": "predicted_mutation"})
        noise = pd.DataFrame({"patient": ids, "predicted_mutation": rng.choice(muts, n)})
        preds = {"entry": pd.concat([hits, noise]).drop_duplicates()}
    else:  # scores
        truth = pd.DataFrame({"task_id": ids})
        preds = {"entry": pd.DataFrame({"task_id": ids, "score": rng.beta(3, 2, n)})}
    return truth, preds


def _inputs(kind: str):
    protocol = load_protocol(ASSETS / f"compute_{kind}.yaml")
    truth_frame, preds = _frames(kind, np.random.default_rng(KINDS.index(kind)))
    truth = truth_from_frame(protocol, truth_frame)
    entry = submission_from_frame(protocol, preds.pop("entry"), truth, source="entry")
    baselines = {n: submission_from_frame(protocol, f, truth, source=n) for n, f in preds.items()}
    return protocol, truth, entry, baselines


def _json(result) -> str:
    """result.json as written (adjudicator.cli), timestamps aside."""
    doc = result.to_dict()
    doc.pop("timestamps")
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)


@pytest.fixture(scope="module")
def inputs():
    return {kind: _inputs(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def reference(inputs):
    """result.json of each kind, adjudicated in this process by the core alone."""
    return {kind: _json(adjudicate(p, t, e, baselines=b, now=NOW))
            for kind, (p, t, e, b) in inputs.items()}


# -- the seam, in process ---------------------------------------------------------------------


def _mean_statistic(x):
    def statistic(w):
        return (w @ x / w.sum(axis=1))[:, None]

    return statistic


def test_a_thread_pool_executor_gives_the_same_bits_as_the_engine():
    x = np.random.default_rng(1).normal(size=101)
    stat = _mean_statistic(x)
    ref = rs.bootstrap(stat, 101, resamples=2500, seed=3)
    with ThreadPoolExecutor(2) as pool:
        got = rs.bootstrap(stat, 101, resamples=2500, seed=3, executor=pool)
        first = rs.bootstrap(stat, 101, resamples=1000, seed=3, executor=pool)
        more = rs.extend(first, stat, 1500, executor=pool)  # ranges not block-aligned
        ratio = rs.bootstrap(rs.Ratio.mean(x), 101, resamples=2500, seed=3, executor=pool,
                             strata=np.arange(101) % 3)
    assert got.values.tobytes() == ref.values.tobytes()
    assert more.values.tobytes() == ref.values.tobytes()
    plain = rs.bootstrap(rs.Ratio.mean(x), 101, resamples=2500, seed=3, strata=np.arange(101) % 3)
    assert ratio.values.tobytes() == plain.values.tobytes()


class _Recording:
    """An executor that records the ranges it was given and computes them in order."""

    def __init__(self, tamper=None):
        self.ranges = []
        self.tamper = tamper

    def map(self, fn, *iterables):
        out = []
        for start, stop in zip(*iterables, strict=True):
            self.ranges.append((start, stop))
            out.append(fn(start, stop))
        return iter(self.tamper(out) if self.tamper else out)


def test_the_engine_hands_out_block_aligned_ranges_and_checks_what_comes_back():
    stat = _mean_statistic(np.arange(30.0))
    rec = _Recording()
    first = rs.bootstrap(stat, 30, resamples=1000, seed=5, executor=rec)
    rs.extend(first, stat, 2100, executor=rec)
    assert rec.ranges == [(0, 1000), (1000, 1024), (1024, 2048), (2048, 3072), (3072, 3100)]
    assert isinstance(rs.RangeTask(stat, 30, np.random.SeedSequence(5), "bootstrap", None,
                                   None)(0, 3), np.ndarray)
    with pytest.raises(ValueError, match="one \\(stop - start, k\\) array per range"):
        rs.bootstrap(stat, 30, resamples=2000, seed=5, executor=_Recording(lambda o: o[:1]))
    with pytest.raises(ValueError, match="one \\(stop - start, k\\) array per range"):
        rs.bootstrap(stat, 30, resamples=2000, seed=5,
                     executor=_Recording(lambda o: [a[:-1] for a in o]))
    with pytest.raises(ValueError, match="`workers` \\(threads in this process\\) or "
                                         "`executor`, not both"):
        rs.bootstrap(stat, 30, resamples=10, seed=5, workers=2, executor=_Recording())


@pytest.mark.parametrize("kind", KINDS)
def test_in_process_compute_and_a_thread_pool_give_the_reference(kind, inputs, reference):
    p, t, e, b = inputs[kind]
    with Compute.in_process(workers=2) as compute:
        assert compute.where == "process"
        assert _json(compute.adjudicate(p, t, e, baselines=b, now=NOW)) == reference[kind]
    with ThreadPoolExecutor(2) as pool:
        assert _json(adjudicate(p, t, e, baselines=b, now=NOW, executor=pool)) == reference[kind]


def test_adjudicate_many_in_process_is_each_adjudication(inputs):
    p, t, e, b = inputs["binary"]
    base_as_entry = submission_from_frame(
        p, _frames("binary", np.random.default_rng(9))[1]["entry"], t, source="other")
    with Compute.in_process() as compute:
        many = compute.adjudicate_many(
            p, t, [(e, {"team": "a"}), (base_as_entry, {"team": "b", "sequence": 2})],
            baselines=b, now=NOW)
        with pytest.raises(ValueError, match="unknown adjudication option"):
            compute.adjudicate_many(p, t, [(e, {"colour": "red"})], baselines=b)
    assert [_json(r) for r in many] == [
        _json(adjudicate(p, t, e, baselines=b, team="a", now=NOW)),
        _json(adjudicate(p, t, base_as_entry, baselines=b, team="b", sequence=2, now=NOW))]


def test_construction_is_validated():
    with pytest.raises(ValueError, match="`unit` must be one of"):
        Compute(unit="rows")
    with pytest.raises(ValueError, match="`workers` must be a positive integer"):
        Compute(workers=0)
    with pytest.raises(ValueError, match="`attempts` must be a positive integer"):
        DaskExecutor(object(), attempts=0)
    with Compute.from_settings(load_settings(workers=3)) as compute:
        assert (compute.where, compute.workers) == ("process", 3)


def test_an_unreachable_scheduler_is_a_configuration_error():
    from .service.conftest import free_port

    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ConfigurationError, match=f"cannot reach the Dask scheduler at {address}"):
        Compute.connect(address, timeout=1)


def test_service_compute_needs_a_scheduler():
    with pytest.raises(ConfigurationError, match="service_compute: .*'adjudications' needs a "
                                                 "Dask scheduler"):
        load_settings(service_compute="adjudications")
    s = load_settings(dask_scheduler="tcp://127.0.0.1:8786", service_compute="blocks")
    assert s.service_compute == "blocks"
    assert load_settings().service_compute == "process"


# -- on real clusters --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def client(request):
    """A LocalCluster of 1 or 2 worker processes and a client of it."""
    with LocalCluster(n_workers=request.param, processes=True, threads_per_worker=1,
                      dashboard_address=None, host="127.0.0.1") as cluster, \
            Client(cluster, set_as_default=False) as c:
        yield c, request.param


@pytest.fixture
def cluster(client):
    """The module's client, once every worker is up (a killed one is restarted)."""
    c, n = client
    c.wait_for_workers(n)
    return c


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["blocks", "adjudications"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_cluster_gives_the_same_result_json(kind, unit, cluster, inputs, reference):
    p, t, e, b = inputs[kind]
    with Compute(cluster, unit=unit) as compute:
        assert compute.where.startswith("tcp://127.0.0.1:")
        got = _json(compute.adjudicate(p, t, e, baselines=b, now=NOW))
    assert got == reference[kind]


@pytest.mark.slow
def test_score_and_adjudicate_many_on_a_cluster(cluster, inputs):
    p, t, e, b = inputs["survival"]
    other = submission_from_frame(
        p, _frames("survival", np.random.default_rng(7))[1]["entry"], t, source="other")
    jobs = [(e, {"team": "a"}), (other, {"team": "b"}), (e, {"team": "a", "sequence": 2})]
    with Compute.in_process() as here, Compute(cluster, unit="blocks") as there:
        assert there.score(p, t, e, baselines=b).to_dict() == here.score(
            p, t, e, baselines=b).to_dict()
        want = [_json(r) for r in here.adjudicate_many(p, t, jobs, baselines=b, now=NOW)]
        got = [_json(r) for r in there.adjudicate_many(p, t, jobs, baselines=b, now=NOW)]
    assert got == want
    assert json.loads(got[2])["multiplicity"]["sequence"] == 2


class KillOnce(WorkerPlugin):
    """Kill the worker (``os._exit``) when the first task whose key starts with ``prefix``
    and ends with ``suffix`` starts executing; once per marker file, across workers."""

    name = "adjudicator-test-kill-once"

    def __init__(self, marker: str, prefix: str, suffix: str) -> None:
        self.marker, self.prefix, self.suffix = marker, prefix, suffix

    def transition(self, key, start, finish, **kwargs):
        k = str(key)
        if finish != "executing" or not (k.startswith(self.prefix) and k.endswith(self.suffix)):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(1)


@pytest.mark.slow
@pytest.mark.parametrize(("unit", "prefix", "suffix"), [
    ("blocks", "adjudicator-resamples-", "-0-1"),  # the second block of the first round
    ("adjudications", "adjudicator-adjudication-", "-0-0"),
])
def test_a_worker_killed_mid_computation_changes_nothing(unit, prefix, suffix, cluster,
                                                         inputs, reference, tmp_path):
    """With 2 workers the scheduler re-runs the lost task elsewhere (the scattered tables
    have a replica); with 1 worker the scattered tables die with it, and compute scatters
    them again and resubmits what was unfinished."""
    p, t, e, b = inputs["binary"]
    marker = tmp_path / "killed"
    cluster.register_plugin(KillOnce(str(marker), prefix, suffix))
    try:
        with Compute(cluster, unit=unit) as compute:
            got = _json(compute.adjudicate(p, t, e, baselines=b, now=NOW))
    finally:
        cluster.unregister_worker_plugin(KillOnce.name)
    assert marker.exists(), "no worker was killed: the test did not test anything"
    assert got == reference["binary"]


def _kill_worker(_):  # pragma: no cover - runs on a worker and never returns
    os._exit(1)


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "allowed_failures", "message"), [
    # one worker: its death takes the scattered function along; attempts=1 gives up at once
    (1, 3, "lost the inputs of 1 _kill_worker task\\(s\\) 1 times"),
    # two workers: the function has a replica; the scheduler gives up at the first death
    (2, 0, "killed the Dask workers that ran it"),
])
def test_a_task_that_kills_its_worker_is_a_cluster_error(workers, allowed_failures, message):
    """A task that always kills its worker ends in a ClusterError that says so. On a
    cluster of its own: a nanny that restarts a worker into a killing task again may
    never recover, and the shared clusters must stay healthy."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                         dashboard_address=None, host="127.0.0.1") as cluster, \
            Client(cluster, set_as_default=False) as c:
        executor = DaskExecutor(c, attempts=1)
        with pytest.raises(ClusterError, match=message):
            list(executor.map(_kill_worker, [0]))
        executor.release()


@pytest.mark.slow
def test_a_worker_with_other_versions_is_refused(cluster):
    dask = DaskExecutor(cluster)
    dask.fingerprint = ("0.0.0", (("numpy", "1.0.0"),))  # as if this process were another build
    stat = _mean_statistic(np.arange(30.0))
    try:
        with pytest.raises(ConfigurationError, match=r"a Dask worker runs other versions than "
                                                     r"this process: .*numpy 2\.\S+ \(client "
                                                     r"1\.0\.0\)"):
            rs.bootstrap(stat, 30, resamples=100, seed=1, executor=dask)
    finally:
        dask.release()


# -- the command line and the service on a cluster ---------------------------------------------


@pytest.mark.slow
def test_cli_score_with_scheduler_prints_what_it_prints_in_process(cluster, tmp_path):
    from typer.testing import CliRunner

    from adjudicator.cli import app

    truth, preds = _frames("binary", np.random.default_rng(0))
    truth.to_csv(tmp_path / "truth.csv", index=False)
    preds["entry"].to_csv(tmp_path / "entry.csv", index=False)
    preds["base"].to_csv(tmp_path / "base.csv", index=False)
    args = ["score", "-p", str(ASSETS / "compute_binary.yaml"), "-t", str(tmp_path / "truth.csv"),
            "-s", str(tmp_path / "entry.csv"), "-b", f"base={tmp_path / 'base.csv'}", "--json"]
    runner = CliRunner()
    here = runner.invoke(app, args)
    there = runner.invoke(app, [*args, "--scheduler", cluster.scheduler.address])
    assert here.exit_code == 0, here.output
    assert there.exit_code == 0, there.output
    assert there.stdout == here.stdout


def _service_result(tmp_path: Path, **settings) -> dict:
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    from .service.conftest import Api, add_tokens, make_settings

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", **settings),
                     clock=lambda: NOW, worker=False)
    tokens = add_tokens(app.state.runtime)
    with TestClient(app) as client:
        api = Api(client=client, app=app, tokens=tokens)
        api.challenge()
        sub = api.submit("alice")
        assert sub.status_code == 201, sub.text
        assert api.drain() == 1
        r = client.get(f"/submissions/{sub.json()['id']}/result", headers=api.auth("alice"))
        assert r.status_code == 200, r.text
        where = app.state.worker.compute.where
        app.state.worker.stop()
    doc = json.loads(r.content)
    doc.pop("timestamps")
    return {"doc": doc, "where": where}


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["blocks", "adjudications"])
def test_the_service_worker_hands_adjudications_to_the_cluster(unit, cluster, tmp_path):
    here = _service_result(tmp_path / "here")
    there = _service_result(tmp_path / "there", dask_scheduler=cluster.scheduler.address,
                            service_compute=unit)
    assert here["where"] == "process"
    assert there["where"] == cluster.scheduler.address
    assert there["doc"] == here["doc"]
    assert here["doc"]["verdict"] in ("CERTIFIED", "NOT_CERTIFIED", "INCONCLUSIVE")

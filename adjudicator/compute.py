"""Where heavy work runs: in this process, or on a Dask cluster (``dask.distributed``).

One object, :class:`Compute`, answers the question for the command line and the service::

    with Compute.from_settings(settings) as compute:     # ADJUDICATOR_DASK_SCHEDULER
        result = compute.adjudicate(protocol, truth, entry, baselines=baselines)

Two units of work
    *Resample blocks* (``unit="blocks"``, the default on a cluster): the adjudication runs
    here and hands its bootstrap to the cluster, one task per block of
    :data:`~adjudicator.resampling.BLOCK_SIZE` resamples (a block range -> its replicate
    values). The statistic, which holds the scored tables, is scattered to every worker
    once per adjudication (``client.scatter(..., broadcast=True)``); each task carries only
    a seed and two indices, and runs where the tables already live. One large adjudication
    uses the whole cluster.

    *Whole adjudications* (``unit="adjudications"``, and :meth:`Compute.adjudicate_many`):
    one task per submission, the adjudication running in process on a worker. Baselines
    shared by many submissions are scattered once; the truth travels as its digest and
    summary only (the truth's labels travel inside each scored table, as they must).

The seam
    The statistical core never imports Dask. :func:`adjudicator.resampling.bootstrap` and
    :func:`~adjudicator.adjudication.adjudicate` take an ``executor``: anything with
    ``concurrent.futures``' ``map`` (:class:`~adjudicator.resampling.Executor`). In
    process it is None (the engine's own threads over chunks, ``workers`` of them) or any
    thread pool; on a cluster it is a :class:`DaskExecutor`. Every resample is a pure
    function of (seed, index) and the kernels sum in a fixed order, so the values are the
    same bits wherever a block ran: ``result.json`` is identical, timestamps aside.

Failures
    A worker that dies mid-task is replaced by the scheduler and its tasks re-run
    elsewhere (they are pure, so a re-run gives the same bits). When the scattered tables
    were lost with it (a one-worker cluster), the tables are scattered again and the
    unfinished tasks resubmitted, up to ``attempts`` times; then :class:`ClusterError`.
    A task that kills three workers in a row is not retried (``KilledWorker``): that is a
    task too large for a worker, not bad luck. A task's own exception (bad input,
    undefined statistics) is raised as is, never retried.

Reproducibility guard
    A result records this process's package and code versions. Every task first checks
    that its worker runs the same adjudicator release and the same
    :func:`~adjudicator.versions.package_versions` (numpy, scipy, numba, ...) and refuses
    with a :class:`~adjudicator.errors.ConfigurationError` otherwise, so a worker with
    another numpy can never change a number behind the record's back. (The git commit is
    not compared: deploy workers from the same image or wheel as the service.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from datetime import UTC, datetime
from typing import Any, Literal

from . import __version__
from .adjudication import AdjudicationResult, HistoryItem, Score, adjudicate, score
from .errors import ConfigurationError
from .resampling import RangeTask
from .settings import Settings
from .versions import package_versions

__all__ = ["ClusterError", "Compute", "DaskExecutor", "Unit"]

Unit = Literal["blocks", "adjudications"]
_UNITS = ("blocks", "adjudications")


class ClusterError(RuntimeError):
    """The cluster lost the work more often than allowed (not a property of the input:
    the service retries the job)."""


# -- what runs on a worker (module level, so it pickles by reference) -------------------------


def _fingerprint() -> tuple[str, tuple[tuple[str, str], ...]]:
    # the release, not the git commit: a checkout's HEAD moves under a running process
    # without changing the code it has loaded, so comparing commits would refuse for nothing
    return __version__, tuple(sorted(package_versions().items()))


def _check_worker(expected: tuple[str, tuple[tuple[str, str], ...]]) -> None:
    here = _fingerprint()
    if here != expected:
        theirs, ours = dict(here[1]), dict(expected[1])
        diff = [f"{k} {theirs.get(k)} (client {ours.get(k)})"
                for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
        if here[0] != expected[0]:
            diff.insert(0, f"adjudicator {here[0]} (client {expected[0]})")
        raise ConfigurationError(
            "a Dask worker runs other versions than this process: " + ", ".join(diff)
            + "; results would not be reproducible: install the same build on every worker"
        )


def _range_on_worker(expected: Any, statistic: Any, task: RangeTask, start: int,
                     stop: int) -> Any:
    _check_worker(expected)
    return dataclasses.replace(task, statistic=statistic)(start, stop)


def _call_on_worker(expected: Any, fn: Callable[..., Any], *args: Any) -> Any:
    _check_worker(expected)
    return fn(*args)


def _adjudicate_on_worker(expected: Any, protocol: Any, truth: Any, submission: Any,
                          baselines: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Any:
    _check_worker(expected)
    return adjudicate(protocol, truth, submission, baselines=baselines, workers=1, **kwargs)


@dataclasses.dataclass(frozen=True)
class _TruthFacts:
    """What an adjudication needs of the truth (its rows stay in this process)."""

    digest: str
    n_units: int
    summary: Mapping[str, Any]


# -- the executor -----------------------------------------------------------------------------


class DaskExecutor:
    """Run tasks on a Dask cluster, with large inputs scattered once.

    :meth:`map` is the :class:`~adjudicator.resampling.Executor` the resampling engine
    calls: given a :class:`~adjudicator.resampling.RangeTask`, its statistic (and the
    tables it holds) is scattered to every worker once, cached for the executor's life, and
    each range is one small task. Any other callable is scattered itself and called once
    per argument tuple.

    Parameters
    ----------
    client
        A connected ``distributed.Client``.
    attempts
        How often unfinished tasks are submitted in all, when the cluster loses their
        inputs.
    wait
        Seconds to wait for a worker to come back (a nanny restarts a dead one) before
        submitting again.

    Attributes
    ----------
    fingerprint
        This process's adjudicator release and package versions: every task checks its
        worker against them first.
    """

    def __init__(self, client: Any, *, attempts: int = 3, wait: float = 120.0) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"`attempts` must be a positive integer, got {attempts!r}")
        if not wait > 0:
            raise ValueError(f"`wait` must be positive, got {wait!r}")
        self.client = client
        self.attempts = attempts
        self.wait = wait
        self.fingerprint = _fingerprint()
        self._shared: dict[int, tuple[Any, Any]] = {}  # id(obj) -> (obj, future)

    def share(self, obj: Any, *, broadcast: bool = True) -> Any:
        """A future of ``obj`` on the cluster: scattered on first use, then reused.

        The object is held until :meth:`release`, so its id cannot be reused meanwhile.
        """
        hit = self._shared.get(id(obj))
        if hit is not None and hit[1].status == "finished":
            return hit[1]
        [future] = self.client.scatter([obj], broadcast=broadcast, hash=False)
        self._shared[id(obj)] = (obj, future)
        return future

    def release(self) -> None:
        """Forget every scattered object (the cluster frees them)."""
        futures = [f for _, f in self._shared.values()]
        self._shared.clear()
        if futures:
            self.client.cancel(futures)

    def map(self, fn: Callable[..., Any], /, *iterables: Iterable[Any]) -> Iterator[Any]:
        """``fn(*args)`` for each argument tuple, on the cluster; results in order."""
        calls = list(zip(*iterables, strict=True))
        if isinstance(fn, RangeTask):
            task = fn
            light = dataclasses.replace(task, statistic=None)  # type: ignore[arg-type]

            def submit(args: tuple[Any, ...], key: str) -> Any:
                return self.client.submit(
                    _range_on_worker, self.fingerprint, self.share(task.statistic), light,
                    *args, key=key, pure=False)

            name = "resamples"
        else:

            def submit(args: tuple[Any, ...], key: str) -> Any:
                return self.client.submit(_call_on_worker, self.fingerprint, self.share(fn),
                                          *args, key=key, pure=False)

            name = getattr(fn, "__name__", "task")
        return iter(self.run(submit, calls, name=name))

    def run(self, submit: Callable[[tuple[Any, ...], str], Any],
            calls: Sequence[tuple[Any, ...]], *, name: str) -> list[Any]:
        """Submit every call (``submit(args, key)`` returns a future); gather in order.

        Calls whose inputs the cluster lost are resubmitted (inputs scattered again), up to
        ``attempts`` times.
        """
        from distributed import as_completed

        results: list[Any] = [None] * len(calls)
        pending = set(range(len(calls)))
        tag = uuid.uuid4().hex[:8]
        lost: BaseException | None = None
        for attempt in range(self.attempts):
            if attempt:  # a dead worker's nanny restarts it: scatter once one is up
                self._await_worker(name)
            try:
                futures = {submit(calls[i], f"adjudicator-{name}-{tag}-{attempt}-{i}"): i
                           for i in sorted(pending)}
            except TimeoutError as exc:  # scatter found no worker to hold the inputs
                raise ClusterError(f"no Dask worker to send the {name} inputs to: {exc}"
                                   ) from None
            try:
                for future in as_completed(futures, loop=self.client.loop):  # type: ignore[no-untyped-call]
                    i = futures[future]
                    results[i] = self._result(future, name)
                    pending.discard(i)
                    future.release()
                return results
            except CancelledError as exc:  # inputs lost with a worker: scatter again
                lost = exc
                self.client.cancel([f for f, i in futures.items() if i in pending])
                self._forget_lost()
        raise ClusterError(
            f"the Dask cluster lost the inputs of {len(pending)} {name} task(s) "
            f"{self.attempts} times (workers dying?): {lost}"
        )

    @staticmethod
    def _result(future: Any, name: str) -> Any:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise ClusterError(
                f"a {name} task killed the Dask workers that ran it, repeatedly (too "
                f"large for a worker's memory?): {exc}"
            ) from None

    def _await_worker(self, name: str) -> None:
        try:
            self.client.wait_for_workers(1, timeout=self.wait)
        except TimeoutError:
            raise ClusterError(
                f"the Dask cluster lost {name} work and no worker came back within "
                f"{self.wait:g} s") from None

    def _forget_lost(self) -> None:
        for key, (_, future) in list(self._shared.items()):
            if future.status != "finished":
                del self._shared[key]


# -- the one place that decides ------------------------------------------------------------


class Compute:
    """Where adjudications and their resampling run.

    Build it with :meth:`in_process`, :meth:`connect` or :meth:`from_settings`; use it as
    a context manager (it closes the cluster connection it opened). Each call scatters its
    own inputs and releases them when it returns, so one object can serve many
    adjudications, from several threads.

    Parameters
    ----------
    client
        A ``distributed.Client``, or None to compute in this process.
    workers
        Threads over resample chunks in process (ignored on a cluster).
    unit
        On a cluster: ``blocks`` (the adjudication here, its resample blocks on the
        cluster) or ``adjudications`` (each adjudication one task on a worker).
    attempts
        See :class:`DaskExecutor`.
    owns_client
        Close ``client`` on :meth:`close` (what :meth:`connect` sets).
    """

    def __init__(self, client: Any = None, *, workers: int = 1, unit: Unit = "blocks",
                 attempts: int = 3, owns_client: bool = False) -> None:
        if unit not in _UNITS:
            raise ValueError(f"`unit` must be one of {_UNITS}, got {unit!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"`workers` must be a positive integer, got {workers!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"`attempts` must be a positive integer, got {attempts!r}")
        self.client = client
        self.workers = workers
        self.unit: Unit = unit
        self.attempts = attempts
        self._owns_client = owns_client

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def in_process(cls, workers: int = 1) -> Compute:
        """Everything here, ``workers`` threads over resample chunks."""
        return cls(workers=workers)

    @classmethod
    def connect(cls, address: str, *, unit: Unit = "blocks", timeout: float = 10.0,
                attempts: int = 3) -> Compute:
        """Connect to the Dask scheduler at ``address`` (``tcp://host:8786``).

        Raises :class:`~adjudicator.errors.ConfigurationError` when it cannot be reached.
        """
        from distributed import Client

        try:
            client = Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot reach the Dask scheduler at {address}: {exc}") from None
        return cls(client, unit=unit, attempts=attempts, owns_client=True)

    @classmethod
    def from_settings(cls, settings: Settings, *, unit: Unit | None = None) -> Compute:
        """In process unless ``settings.dask_scheduler`` names a cluster.

        ``unit`` defaults to ``blocks`` (one large adjudication uses the whole cluster).
        """
        if settings.dask_scheduler is None:
            return cls.in_process(settings.workers)
        return cls.connect(settings.dask_scheduler, unit=unit or "blocks")

    def close(self) -> None:
        """Close the connection if this object opened it."""
        if self._owns_client and self.client is not None:
            self.client.close()

    def __enter__(self) -> Compute:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        """``process`` or the scheduler's address."""
        return "process" if self.client is None else str(self.client.scheduler.address)

    @contextlib.contextmanager
    def executor(self) -> Iterator[DaskExecutor | None]:
        """What to give the resampling engine (``executor=``) for one computation: None in
        process (pass ``workers`` instead), else a :class:`DaskExecutor` whose scattered
        data is released on exit."""
        if self.client is None:
            yield None
            return
        dask = DaskExecutor(self.client, attempts=self.attempts)
        try:
            yield dask
        finally:
            dask.release()

    # -- the work -------------------------------------------------------------------------

    def score(self, protocol: Any, truth: Any, submission: Any, *,
              baselines: Mapping[str, Any] | None = None) -> Score:
        """:func:`adjudicator.adjudication.score`, its resample blocks placed here."""
        with self.executor() as dask:
            return score(protocol, truth, submission, baselines=baselines,
                         **_engine(dask, self.workers))

    def adjudicate(
        self,
        protocol: Any,
        truth: Any,
        submission: Any,
        *,
        baselines: Mapping[str, Any] | None = None,
        history: Sequence[HistoryItem | Mapping[str, Any]] = (),
        sequence: int | None = None,
        team: str | None = None,
        name: str | None = None,
        now: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
        split: Any = None,
    ) -> AdjudicationResult:
        """:func:`adjudicator.adjudication.adjudicate`, run where this object says.

        With ``unit="adjudications"`` on a cluster, the whole adjudication is one task
        (``progress`` is then not reported). ``now`` defaults to this process's clock.
        """
        opts: dict[str, Any] = dict(
            history=tuple(history), sequence=sequence, team=team, name=name,
            now=now if now is not None else datetime.now(UTC))
        if split is not None:  # a protocol with a public leaderboard
            opts["split"] = split
        with self.executor() as dask:
            if dask is None or self.unit == "blocks":
                return adjudicate(protocol, truth, submission, baselines=baselines,
                                  progress=progress, **opts, **_engine(dask, self.workers))
            [result] = _adjudications(dask, protocol, truth, [(submission, opts)],
                                      baselines or {})
            return result

    def adjudicate_many(
        self,
        protocol: Any,
        truth: Any,
        submissions: Sequence[tuple[Any, Mapping[str, Any]]],
        *,
        baselines: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> list[AdjudicationResult]:
        """Many adjudications against one truth and one set of baselines, in order.

        ``submissions`` holds ``(submission, options)`` pairs, options being keyword
        arguments of :meth:`adjudicate` (``history``, ``sequence``, ``team``, ``name``,
        ``now``, ``split``). On a cluster each is one task and the baselines are
        scattered once; in process they run one after another.
        """
        moment = now if now is not None else datetime.now(UTC)
        items = [(s, {"now": moment, **dict(opts)}) for s, opts in submissions]
        for _, opts in items:
            unknown = set(opts) - _OPTIONS
            if unknown:
                raise ValueError(f"unknown adjudication option(s): {sorted(unknown)}")
            opts["history"] = tuple(opts.get("history", ()))
        with self.executor() as dask:
            if dask is None:
                return [adjudicate(protocol, truth, s, baselines=baselines, **opts,
                                   workers=self.workers) for s, opts in items]
            return _adjudications(dask, protocol, truth, items, baselines or {})


_OPTIONS = {"history", "sequence", "team", "name", "now", "split"}


def _engine(dask: DaskExecutor | None, workers: int) -> dict[str, Any]:
    return {"workers": workers} if dask is None else {"executor": dask}


def _adjudications(dask: DaskExecutor, protocol: Any, truth: Any,
                   items: Sequence[tuple[Any, Mapping[str, Any]]],
                   baselines: Mapping[str, Any]) -> list[AdjudicationResult]:
    """One task per adjudication; baselines broadcast once, each submission sent to one
    worker (the task runs where it lands)."""
    facts = _TruthFacts(truth.digest, int(truth.n_units), dict(truth.summary))
    shared = dict(baselines)

    def submit(args: tuple[Any, ...], key: str) -> Any:
        submission, opts = args
        return dask.client.submit(
            _adjudicate_on_worker, dask.fingerprint, protocol, facts,
            dask.share(submission, broadcast=False),
            {n: dask.share(b) for n, b in shared.items()}, opts, key=key, pure=False)

    return dask.run(submit, list(items), name="adjudication")

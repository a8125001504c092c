"""Reading the sequestered truth and a submission: validation, digests, the scored table.

Files come from outside and are hostile until validated. :func:`read_truth` and
:func:`read_submission` accept CSV (UTF-8, a header row) and Parquet (recognised by its
``PAR1`` magic bytes, not by its name) and refuse, with an
:class:`~adjudicator.errors.InputError` naming the file and the column, row or ids (the
first few and the count): a missing or unreadable file, a file over ``max_bytes``
(default 2 GiB), an empty file, bytes that are neither CSV nor Parquet, duplicated or
missing columns, empty ids, ids with control characters, duplicated rows, values of the
wrong type, NaN or infinite numbers, submission rows whose ids are not in the truth,
truth rows with no prediction, and a submission that carries a truth column (a leak
attempt) or any column the protocol does not name. Nothing is written anywhere.

Conventions
-----------
* Ids (unit, keys, set elements, strata) are text: CSV cells exactly as written (``007``
  stays ``007``), Parquet strings or integers (floating-point ids are refused). Rows are
  sorted by unit then keys, comparing ids as text.
* Binary labels: the row is positive when its label equals ``task.positive`` (a string
  compared as text, an integer compared as a number, a boolean matching
  ``true/false/1/0``). A label column with more than two values, or with no positive row,
  is refused (most often a misspelt positive class).
* Survival ``event`` is ``0/1`` or ``true/false``; R's ``1/2`` status coding is refused.
  Times are finite and non-negative.
* Sets: one row per (unit, element) in both files. A unit whose set is empty is written
  as one row with an empty element cell. Every truth unit must appear in the submission
  (so a forgotten unit is "missing predictions", not silently an empty set).
* Several prediction columns (``task.prediction`` a list): all are validated and digested;
  the first one is scored.
* Direction: for binary and survival tasks ``direction: lower`` negates the prediction
  into the table's ``score`` (see :mod:`adjudicator.table`). Brier and log loss score
  probabilities, which must lie in [0, 1] and cannot have ``direction: lower``.

Digests
-------
``sha256:`` over a canonical text: a JSON header (format, kind, column names by role)
then one JSON array per row, rows sorted by their ids; numbers written as the shortest
float repr (``-0.0`` as ``0.0``), labels and events as 0/1. Row order, CSV versus Parquet,
number spelling (``0.70``/``0.7``/``7e-1``) and columns the protocol does not use do not
change it; any change of a scored value does. The truth digest is the commitment a
challenge publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..protocol import Protocol
from ..table import Table
from ._columns import SEP, Frame, few, key_columns, row_keys, sort_order
from ._digest import digest as _digest
from ._files import read_frame

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Truth",
    "Submission",
    "read_truth",
    "read_submission",
    "truth_from_frame",
    "submission_from_frame",
    "table_from_frames",
]

#: the largest file read unless the caller sets ``max_bytes``
DEFAULT_MAX_BYTES = 2 * 1024**3


# -- value objects ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Truth:
    """The validated sequestered truth of one protocol.

    Attributes
    ----------
    source
        Where it was read from (a file path, or the name given to :func:`truth_from_frame`).
    digest
        ``sha256:...`` of the canonical form: the commitment a challenge publishes.
    n_units, n_rows
        Units and rows (rows differ from units with ``task.keys`` and for sets).
    summary
        Facts for reports: kind, rows, units, strata sizes, and by kind the class balance,
        events and censoring share, or set sizes.
    protocol_digest
        The digest of the protocol it was validated for; a submission is joined with it
        only under that same protocol.
    """

    source: str
    digest: str
    n_units: int
    n_rows: int
    summary: Mapping[str, Any]
    protocol_digest: str
    _rows: pd.DataFrame = field(repr=False)  # parsed, sorted; columns "_unit", "_k0".., roles
    _strata: np.ndarray | None = field(repr=False, default=None)

    @property
    def units(self) -> np.ndarray:
        """The unit ids, sorted and unique (the order of every scored table's units)."""
        return np.unique(self._rows["_unit"].to_numpy().astype(str))

    @property
    def strata(self) -> np.ndarray | None:
        """Per unit (in :attr:`units` order), its stratum code; None when unstratified."""
        return None if self._strata is None else self._strata.copy()

    @property
    def _protocol_digest(self) -> str:
        # the name this field had first; kept for callers written against it
        return self.protocol_digest


@dataclass(frozen=True, eq=False)
class Submission:
    """A validated submission joined with the truth.

    Attributes
    ----------
    source
        Where it was read from.
    digest
        ``sha256:...`` of the canonical form of the prediction columns (independent of the
        truth it was joined with).
    table
        The scored :class:`~adjudicator.table.Table` (units sorted, strata codes from
        ``task.strata``, direction applied).
    n_rows
        Rows in the submission.
    """

    source: str
    digest: str
    table: Table
    n_rows: int


# -- public functions ---------------------------------------------------------------------


def read_truth(
    protocol: Protocol, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Truth:
    """Read and validate the sequestered truth for ``protocol`` from a CSV or Parquet file.

    Raises
    ------
    InputError
        For any refused input (see the module docstring); the message starts with the file.
    """
    source = str(path)
    return truth_from_frame(protocol, read_frame(Path(path), max_bytes, source), source=source)


def read_submission(
    protocol: Protocol,
    path: str | Path,
    truth: Truth,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Submission:
    """Read and validate a submission for ``protocol`` and join it with ``truth``.

    Raises
    ------
    InputError
        For any refused input (see the module docstring); the message starts with the file.
    """
    source = str(path)
    frame = read_frame(Path(path), max_bytes, source)
    return submission_from_frame(protocol, frame, truth, source=source)


def truth_from_frame(protocol: Protocol, frame: pd.DataFrame, *, source: str = "truth") -> Truth:
    """Validate an in-memory truth table (strings as read from CSV, or typed columns)."""
    task = protocol.task
    r = Frame(frame, source)
    needed = [task.unit, *task.keys, *task.truth.values(), *task.strata]
    r.require(list(dict.fromkeys(needed)), "the truth")
    rows = pd.DataFrame({"_unit": r.ids(task.unit)})
    for i, key in enumerate(task.keys):
        rows[f"_k{i}"] = r.ids(key)
    summary: dict[str, Any] = {"kind": task.kind}
    kind = task.kind
    if kind == "binary":
        rows["label"] = r.labels(task.truth["label"], task.positive)
        n_pos = int(rows["label"].sum())
        summary.update(positives=n_pos, negatives=len(rows) - n_pos,
                       prevalence=n_pos / len(rows))
    elif kind == "survival":
        rows["time"] = r.numbers(task.truth["time"], rows["_unit"], nonnegative=True)
        rows["event"] = r.events(task.truth["event"])
        n_ev = int(rows["event"].sum())
        summary.update(events=n_ev, censored=len(rows) - n_ev,
                       censoring_share=1 - n_ev / len(rows))
    elif kind == "regression":
        rows["value"] = r.numbers(task.truth["value"], rows["_unit"])
    elif kind == "sets":
        if task.keys:
            r.fail("a sets task has one row per (unit, element) and takes no task.keys")
        rows["_k0"] = r.ids(task.truth["element"], allow_empty=True)
    strata_cols = [r.ids(c, what="stratum") for c in task.strata]
    key_cols = key_columns(task, kind)
    r.no_duplicates(rows, key_cols, "the truth")
    if kind == "sets":
        r.empty_marker_alone(rows, "the truth")
    strata = None
    if strata_cols:
        strata = r.strata_per_unit(rows["_unit"].to_numpy(), strata_cols, task.strata)
    order = sort_order(rows, key_cols)
    rows = rows.iloc[order].reset_index(drop=True)
    units = np.unique(rows["_unit"].to_numpy().astype(str))
    codes = None
    if strata is not None:
        names = np.array(sorted(set(strata.values())), dtype=object)
        codes = np.searchsorted(names, np.array([strata[u] for u in units], dtype=object))
        summary["strata"] = {
            str(n).replace(SEP, " / "): int((codes == i).sum()) for i, n in enumerate(names)
        }
    if kind == "sets":
        sizes = rows.groupby("_unit", sort=False)["_k0"].apply(lambda s: int((s != "").sum()))
        summary.update(mean_set_size=float(sizes.mean()), empty_sets=int((sizes == 0).sum()))
    summary.update(rows=len(rows), units=len(units))
    role_cols = [c for c in rows.columns if not c.startswith("_")]
    # rows are [unit, *keys, *role values by kind: label | time, event | value] (+ strata)
    header = {"unit": task.unit, "keys": list(task.keys), "roles": dict(task.truth)}
    digest = _digest(
        "adjudicator-truth/v1", kind, header, rows, key_cols + role_cols,
        strata=(task.strata, strata) if strata is not None else None,
    )
    return Truth(
        source=source, digest=digest, n_units=len(units), n_rows=len(rows), summary=summary,
        protocol_digest=protocol.digest, _rows=rows,
        _strata=None if codes is None else codes.astype(np.int64),
    )


def submission_from_frame(
    protocol: Protocol, frame: pd.DataFrame, truth: Truth, *, source: str = "submission"
) -> Submission:
    """Validate an in-memory submission and join it with ``truth`` into a scored table."""
    task = protocol.task
    if truth.protocol_digest != protocol.digest:
        raise InputError(
            "the truth was read for another protocol; read it again for this one",
            source=source,
        )
    if task.direction == "lower" and protocol.metric.name in ("brier", "log_loss"):
        raise InputError(
            f"{protocol.metric.name} scores probabilities of the positive class; the "
            "protocol's `direction: lower` cannot apply to it", source=source,
        )
    r = Frame(frame, source)
    preds = list(task.prediction_columns)
    leaked = [c for c in task.truth.values() if c in r.columns and c not in preds]
    if leaked:
        r.fail(
            "carries the truth column(s) " + ", ".join(map(repr, leaked)) + ": a submission "
            "must not contain the sequestered truth (refused as a leak attempt)"
        )
    allowed = [task.unit, *task.keys, *preds]
    extra = [c for c in r.columns if c not in allowed]
    if extra:
        r.fail(
            f"unexpected column(s) {few(extra)}: a submission has exactly the columns "
            + ", ".join(map(repr, allowed))
        )
    r.require(allowed, "a submission")
    kind = task.kind
    rows = pd.DataFrame({"_unit": r.ids(task.unit)})
    for i, key in enumerate(task.keys):
        rows[f"_k{i}"] = r.ids(key)
    if kind == "sets":
        rows["_k0"] = r.ids(preds[0], allow_empty=True, what="element")
    else:
        for name in preds:
            values = r.numbers(name, rows["_unit"], what="prediction")
            if protocol.metric.name in ("brier", "log_loss"):
                r.probabilities(name, values, rows["_unit"])
            rows[name] = values
    key_cols = key_columns(task, kind)
    r.no_duplicates(rows, key_cols, "the submission")
    if kind == "sets":
        r.empty_marker_alone(rows, "the submission")
    order = sort_order(rows, key_cols)
    rows = rows.iloc[order].reset_index(drop=True)
    header = {"unit": task.unit, "keys": list(task.keys), "prediction": preds}
    digest = _digest(
        "adjudicator-submission/v1", kind, header, rows,
        key_cols + [c for c in rows.columns if not c.startswith("_")],
    )
    if kind == "sets":
        table = _join_sets(r, truth, rows)
    else:
        table = _join_rows(r, protocol, truth, rows, key_cols, preds[0])
    return Submission(source=source, digest=digest, table=table, n_rows=len(rows))


def table_from_frames(
    protocol: Protocol, truth: pd.DataFrame, predictions: pd.DataFrame
) -> Table:
    """The scored table of two in-memory frames: the pure path for tests and demos."""
    t = truth_from_frame(protocol, truth, source="truth")
    return submission_from_frame(protocol, predictions, t, source="predictions").table


# -- joining ------------------------------------------------------------------------------


def _check_coverage(
    r: Frame, truth_keys: np.ndarray, sub_keys: np.ndarray, truth_units: np.ndarray,
    sub_units: np.ndarray, with_keys: bool,
) -> np.ndarray:
    unknown_units = ~np.isin(sub_units, truth_units)
    if unknown_units.any():
        ids = list(dict.fromkeys(sub_units[unknown_units].tolist()))
        r.fail(f"{len(ids)} unit id(s) not in the truth: {few(ids)}")
    index = pd.Index(truth_keys)
    pos = index.get_indexer(sub_keys)
    if (pos < 0).any():
        keys = [k.replace(SEP, " / ") for k in sub_keys[pos < 0]]
        r.fail(f"{len(keys)} row(s) (unit / keys) not in the truth: {few(keys)}")
    hit = np.zeros(len(truth_keys), dtype=bool)
    hit[pos] = True
    if not hit.all():
        missing = [k.replace(SEP, " / ") for k in truth_keys[~hit]]
        what = "truth row(s) (unit / keys)" if with_keys else "truth unit(s)"
        r.fail(f"missing predictions for {len(missing)} {what}: {few(missing)}")
    return pos


def _join_rows(
    r: Frame, protocol: Protocol, truth: Truth, rows: pd.DataFrame, key_cols: list[str],
    pred: str,
) -> Table:
    task = protocol.task
    t = truth._rows
    truth_keys = row_keys(t, key_cols)
    sub_keys = row_keys(rows, key_cols)
    pos = _check_coverage(
        r, truth_keys, sub_keys, t["_unit"].to_numpy().astype(str),
        rows["_unit"].to_numpy().astype(str), bool(task.keys),
    )
    values = np.empty(len(t))
    values[pos] = rows[pred].to_numpy(dtype=np.float64)
    units, row_unit = np.unique(t["_unit"].to_numpy().astype(str), return_inverse=True)
    kind = task.kind
    flip = -1.0 if (kind in ("binary", "survival") and task.direction == "lower") else 1.0
    columns: dict[str, np.ndarray]
    if kind == "binary":
        columns = {"y": t["label"].to_numpy(dtype=bool), "score": flip * values + 0.0}
    elif kind == "survival":
        columns = {
            "time": t["time"].to_numpy(dtype=np.float64),
            "event": t["event"].to_numpy(dtype=bool),
            "score": flip * values + 0.0,
        }
    elif kind == "regression":
        columns = {"y": t["value"].to_numpy(dtype=np.float64), "pred": values}
    else:  # scores
        columns = {"score": values}
    return Table(
        kind=kind, units=units, row_unit=row_unit.astype(np.int64), columns=columns,
        strata=None if truth._strata is None else truth._strata.copy(),
        meta=dict(truth.summary),
    )


def _join_sets(r: Frame, truth: Truth, rows: pd.DataFrame) -> Table:
    t = truth._rows
    units = np.unique(t["_unit"].to_numpy().astype(str))
    sub_units = rows["_unit"].to_numpy().astype(str)
    unknown = ~np.isin(sub_units, units)
    if unknown.any():
        ids = list(dict.fromkeys(sub_units[unknown].tolist()))
        r.fail(f"{len(ids)} unit id(s) not in the truth: {few(ids)}")
    absent = ~np.isin(units, sub_units)
    if absent.any():
        r.fail(
            f"missing predictions for {int(absent.sum())} truth unit(s): "
            f"{few(list(units[absent]))} (an empty predicted set is one row with an empty "
            "element)"
        )
    t_el = t["_k0"].to_numpy().astype(str)
    s_el = rows["_k0"].to_numpy().astype(str)
    t_keys = row_keys(t, ["_unit", "_k0"])[t_el != ""]
    s_real = s_el != ""
    s_keys = row_keys(rows, ["_unit", "_k0"])[s_real]
    hit = np.isin(s_keys, t_keys)
    n = len(units)
    s_u = np.searchsorted(units, sub_units[s_real])
    t_u = np.searchsorted(units, t["_unit"].to_numpy().astype(str)[t_el != ""])
    columns = {
        "tp": np.bincount(s_u, weights=hit, minlength=n).astype(np.int64),
        "n_pred": np.bincount(s_u, minlength=n).astype(np.int64),
        "n_true": np.bincount(t_u, minlength=n).astype(np.int64),
    }
    return Table(
        kind="sets", units=units, row_unit=np.arange(n, dtype=np.int64), columns=columns,
        strata=None if truth._strata is None else truth._strata.copy(),
        meta=dict(truth.summary),
    )

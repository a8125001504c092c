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

import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .protocol import Protocol, Task
from .table import Table

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

_SHOW = 5  # offending ids shown in a message
_MAX_ID = 256  # characters in an id
_SEP = "\x1f"  # joins ids into one row key; ids never contain control characters
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NAN_WORDS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
              "-infinity"}


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
        Facts for reports: rows, units, strata, and by kind the class balance, events and
        censoring share, or set sizes.
    """

    source: str
    digest: str
    n_units: int
    n_rows: int
    summary: Mapping[str, Any]
    _protocol_digest: str = field(repr=False)
    _rows: pd.DataFrame = field(repr=False)  # parsed, sorted; columns "_unit", "_k0".., roles
    _strata: np.ndarray | None = field(repr=False, default=None)


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
    return truth_from_frame(protocol, _read_frame(Path(path), max_bytes, source), source=source)


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
    frame = _read_frame(Path(path), max_bytes, source)
    return submission_from_frame(protocol, frame, truth, source=source)


def truth_from_frame(protocol: Protocol, frame: pd.DataFrame, *, source: str = "truth") -> Truth:
    """Validate an in-memory truth table (strings as read from CSV, or typed columns)."""
    task = protocol.task
    r = _Frame(frame, source)
    needed = [task.unit, *task.keys, *task.truth.values(), *task.strata]
    r.require(list(dict.fromkeys(needed)), "the truth")
    rows = pd.DataFrame({"_unit": r.ids(task.unit)})
    for i, key in enumerate(task.keys):
        rows[f"_k{i}"] = r.ids(key)
    summary: dict[str, Any] = {}
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
    key_cols = _key_columns(task, kind)
    r.no_duplicates(rows, key_cols, "the truth")
    if kind == "sets":
        r.empty_marker_alone(rows, "the truth")
    strata = None
    if strata_cols:
        strata = r.strata_per_unit(rows["_unit"].to_numpy(), strata_cols, task.strata)
    order = _sort_order(rows, key_cols)
    rows = rows.iloc[order].reset_index(drop=True)
    units = np.unique(rows["_unit"].to_numpy().astype(str))
    codes = None
    if strata is not None:
        names = np.array(sorted(set(strata.values())), dtype=object)
        codes = np.searchsorted(names, np.array([strata[u] for u in units], dtype=object))
        summary["strata"] = {
            str(n).replace(_SEP, " / "): int((codes == i).sum()) for i, n in enumerate(names)
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
        _protocol_digest=protocol.digest, _rows=rows,
        _strata=None if codes is None else codes.astype(np.int64),
    )


def submission_from_frame(
    protocol: Protocol, frame: pd.DataFrame, truth: Truth, *, source: str = "submission"
) -> Submission:
    """Validate an in-memory submission and join it with ``truth`` into a scored table."""
    task = protocol.task
    if truth._protocol_digest != protocol.digest:
        raise InputError(
            "the truth was read for another protocol; read it again for this one",
            source=source,
        )
    r = _Frame(frame, source)
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
            f"unexpected column(s) {_few(extra)}: a submission has exactly the columns "
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
    key_cols = _key_columns(task, kind)
    r.no_duplicates(rows, key_cols, "the submission")
    if kind == "sets":
        r.empty_marker_alone(rows, "the submission")
    order = _sort_order(rows, key_cols)
    rows = rows.iloc[order].reset_index(drop=True)
    header = {"unit": task.unit, "keys": list(task.keys), "prediction": preds}
    digest = _digest(
        "adjudicator-submission/v1", kind, header, rows,
        key_cols + [c for c in rows.columns if not c.startswith("_")],
    )
    if kind == "sets":
        table = _join_sets(r, truth, rows)
    else:
        if kind in ("binary", "survival") and task.direction == "lower" and (
            protocol.metric.name in ("brier", "log_loss")
        ):
            r.fail(f"{protocol.metric.name} scores probabilities; `direction: lower` is "
                   "not meaningful for it")
        table = _join_rows(r, protocol, truth, rows, key_cols, preds[0])
    return Submission(source=source, digest=digest, table=table, n_rows=len(rows))


def table_from_frames(
    protocol: Protocol, truth: pd.DataFrame, predictions: pd.DataFrame
) -> Table:
    """The scored table of two in-memory frames: the pure path for tests and demos."""
    t = truth_from_frame(protocol, truth, source="truth")
    return submission_from_frame(protocol, predictions, t, source="predictions").table


# -- reading bytes ------------------------------------------------------------------------


def _read_frame(path: Path, max_bytes: int, source: str) -> pd.DataFrame:
    try:
        if not path.is_file():
            raise InputError("no such file", source=source)
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"file is {size} bytes, over the size limit of {max_bytes} bytes",
                source=source,
            )
        if size == 0:
            raise InputError("file is empty", source=source)
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    if head[:4] == b"PAR1":
        return _read_parquet(path, max_bytes, source)
    if path.suffix.lower() in (".parquet", ".pq"):
        raise InputError("named like Parquet but is not a Parquet file", source=source)
    if b"\x00" in head:
        raise InputError(
            "not a CSV or Parquet file (binary content: NUL bytes)", source=source
        )
    return _read_csv(path, head, source)


def _read_csv(path: Path, head: bytes, source: str) -> pd.DataFrame:
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the buffer end
            raise InputError(
                f"not a CSV file: not UTF-8 text (byte {exc.start})", source=source
            ) from None
        text = head[: exc.start].decode("utf-8-sig")
    if not text.strip():
        raise InputError("file is empty (only whitespace)", source=source)
    import csv

    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise InputError(f"duplicated column name(s) {_few(dupes)}", source=source)
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
            engine="c", skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise InputError(f"not a CSV file: not UTF-8 text ({exc.reason})", source=source) \
            from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty (no header row)", source=source) from None
    except (pd.errors.ParserError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0][:200]
        raise InputError(f"not a valid CSV file: {msg}", source=source) from None
    if len(frame) == 0:
        raise InputError("has a header but no rows", source=source)
    return frame


def _read_parquet(path: Path, max_bytes: int, source: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        # a small file can decompress to a huge table: the limit holds for both
        inflated = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if inflated > max_bytes:
            raise InputError(
                f"Parquet data decompress to {inflated} bytes, over the size limit of "
                f"{max_bytes} bytes", source=source,
            )
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a readable Parquet file: {msg}", source=source) from None
    cols = list(frame.columns)
    if any(not isinstance(c, str) for c in cols):
        raise InputError("column names must be text", source=source)
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise InputError(f"duplicated column name(s) {_few(dupes)}", source=source)
    if len(frame) == 0:
        raise InputError("has no rows", source=source)
    return frame


# -- validation of columns ----------------------------------------------------------------


def _show(value: Any) -> str:
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def _few(values: Sequence[Any], n: int = _SHOW) -> str:
    shown = ", ".join(_show(v) for v in list(values)[:n])
    more = len(values) - n
    return shown + (f" and {more} more" if more > 0 else "")


class _Frame:
    """One input frame and its source, with the checks that name rows and ids."""

    def __init__(self, frame: pd.DataFrame, source: str) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise InputError("expected a table of rows", source=source)
        if len(frame) == 0:
            raise InputError("has no rows", source=source)
        self.frame = frame.reset_index(drop=True)
        self.source = source
        self.columns = [str(c) for c in frame.columns]
        self._unit_ids: np.ndarray | None = None

    def fail(self, message: str) -> None:
        raise InputError(message, source=self.source)

    def require(self, columns: Sequence[str], what: str) -> None:
        missing = [c for c in columns if c not in self.columns]
        if missing:
            self.fail(
                f"missing column(s) {_few(missing)} that {what} must have; found "
                f"{_few(self.columns, 8)}"
            )

    def _rows(self, mask: np.ndarray, col: str, problem: str) -> None:
        idx = np.flatnonzero(mask)
        rows = ", ".join(str(i + 1) for i in idx[:_SHOW])
        more = f" and {len(idx) - _SHOW} more" if len(idx) > _SHOW else ""
        units = ""
        if self._unit_ids is not None:
            units = f" (unit(s) {_few(list(self._unit_ids[idx]))})"
        self.fail(f"column {col!r}: {len(idx)} {problem} in row(s) {rows}{more}{units}")

    def ids(self, col: str, *, allow_empty: bool = False, what: str = "id") -> np.ndarray:
        series = self.frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        kind = series.dtype.kind
        if kind == "f":
            self.fail(f"column {col!r}: {what}s must be text or integers, got floating-point "
                      "numbers")
        if kind in "iu":
            values = series.astype(str).to_numpy(dtype=object)
        elif kind == "b":
            values = np.where(series.to_numpy(), "true", "false").astype(object)
        else:
            raw = series.to_numpy(dtype=object)
            if pd.api.types.infer_dtype(raw, skipna=False) == "string":
                values = raw  # the CSV case: every cell is text already
            else:
                bad = np.array(
                    [not isinstance(v, (str, int)) or isinstance(v, bool) for v in raw]
                )
                if bad.any():
                    self._rows(bad, col, f"missing or non-text {what}(s)")
                values = np.array([str(v) for v in raw], dtype=object)
        if not allow_empty:
            empty = values == ""
            if empty.any():
                self._rows(empty, col, f"empty {what}(s)")
        text = pd.Series(values, dtype=object)
        too_long = (text.str.len() > _MAX_ID).to_numpy()
        if too_long.any():
            self._rows(too_long, col, f"{what}(s) longer than {_MAX_ID} characters")
        if _CONTROL.search("".join(values)):  # the common case needs no per-id pass
            control = text.str.contains(_CONTROL.pattern, regex=True).to_numpy(dtype=bool)
            self._rows(control, col, f"{what}(s) with control characters")
        if col is not None and what == "id" and self._unit_ids is None:
            self._unit_ids = values
        return values

    def numbers(
        self, col: str, unit_ids: pd.Series, *, nonnegative: bool = False,
        what: str = "value",
    ) -> np.ndarray:
        series = self.frame[col]
        kind = series.dtype.kind
        if kind in "iuf":
            values = series.to_numpy(dtype=np.float64)
            missing = np.zeros(len(values), dtype=bool)
            if kind == "f":
                missing = np.isnan(values)  # a Parquet null and a NaN look alike here
        elif kind == "b":
            self.fail(f"column {col!r}: wrong type: {what}s must be numbers, got true/false")
        else:
            raw = series.to_numpy(dtype=object)
            if not all(isinstance(v, str) for v in raw):
                bad = np.array([not isinstance(v, str) for v in raw])
                self._rows(bad, col, f"missing or non-numeric {what}(s) (wrong type)")
            text = pd.Series(raw, dtype=object).str.strip()
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
            missing = (text == "").to_numpy()
            if missing.any():
                self._rows(missing, col, f"missing {what}(s) (empty cell)")
            nanword = text.str.lower().isin(_NAN_WORDS).to_numpy()
            bad = np.isnan(values) & ~nanword
            if bad.any():
                idx = np.flatnonzero(bad)
                self.fail(
                    f"column {col!r}: wrong type: {len(idx)} {what}(s) are not numbers, "
                    f"e.g. {_few([raw[i] for i in idx[:3]], 3)} in row(s) "
                    + ", ".join(str(i + 1) for i in idx[:_SHOW])
                )
            missing = np.zeros(len(values), dtype=bool)
        if missing.any():
            self._rows(missing, col, f"missing or NaN {what}(s)")
        nonfinite = ~np.isfinite(values)
        if nonfinite.any():
            idx = np.flatnonzero(nonfinite)
            self.fail(
                f"column {col!r}: {len(idx)} NaN or infinite {what}(s), unit(s) "
                f"{_few(list(np.asarray(unit_ids)[idx]))}"
            )
        if nonnegative and (values < 0).any():
            self._rows(values < 0, col, f"negative {what}(s)")
        return values + 0.0  # -0.0 -> 0.0

    def probabilities(self, col: str, values: np.ndarray, unit_ids: pd.Series) -> None:
        bad = (values < 0) | (values > 1)
        if bad.any():
            idx = np.flatnonzero(bad)
            self.fail(
                f"column {col!r}: {len(idx)} prediction(s) outside [0, 1] (the metric scores "
                f"probabilities), unit(s) {_few(list(np.asarray(unit_ids)[idx]))}"
            )

    def labels(self, col: str, positive: str | int | bool | None) -> np.ndarray:
        series = self.frame[col]
        raw = series.to_numpy(dtype=object)
        if series.dtype.kind == "b":
            text = np.where(series.to_numpy(), "true", "false").astype(object)
        else:
            text = np.array(["" if v is None else str(v).strip() for v in raw], dtype=object)
        if (text == "").any() or series.isna().to_numpy().any():
            self._rows((text == "") | series.isna().to_numpy(), col, "missing label(s)")
        distinct = sorted(set(text.tolist()))
        if isinstance(positive, bool):
            lower = np.array([t.lower() for t in text], dtype=object)
            known = np.isin(lower, ["true", "false", "1", "0"])
            if not known.all():
                self._rows(~known, col, "label(s) that are not true/false/1/0")
            is_pos = np.isin(lower, ["true", "1"]) == positive
        elif isinstance(positive, int):
            nums = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy()
            if np.isnan(nums).any():
                self._rows(np.isnan(nums), col, "non-numeric label(s) (the positive class "
                           f"is the number {positive})")
            is_pos = nums == positive
            distinct = sorted({float(v) for v in nums})  # type: ignore[misc]
        else:
            is_pos = text == str(positive)
        if len(distinct) > 2:
            self.fail(
                f"column {col!r}: {len(distinct)} distinct labels ({_few(distinct)}); a binary "
                "task has two classes"
            )
        if not is_pos.any():
            self.fail(
                f"column {col!r}: no row has the positive class {positive!r} (labels found: "
                f"{_few(distinct)})"
            )
        return np.asarray(is_pos, dtype=bool)

    def events(self, col: str) -> np.ndarray:
        series = self.frame[col]
        if series.dtype.kind == "b":
            return series.to_numpy(dtype=bool)
        raw = series.to_numpy(dtype=object)
        text = np.array([str(v).strip().lower() for v in raw], dtype=object)
        if series.dtype.kind in "iuf":
            nums = series.to_numpy(dtype=np.float64)
            ok = (nums == 0) | (nums == 1)
            if not ok.all():
                self._rows(~ok, col, "event value(s) other than 0/1 (R's survival codes "
                           "status as 1/2: recode it as 0 = censored, 1 = event)")
            return nums == 1
        ok = np.isin(text, ["0", "1", "true", "false", "0.0", "1.0"])
        if not ok.all():
            self._rows(~ok, col, "event value(s) other than 0/1 or true/false (R's survival "
                       "codes status as 1/2: recode it as 0 = censored, 1 = event)")
        return np.isin(text, ["1", "true", "1.0"])

    def no_duplicates(self, rows: pd.DataFrame, key_cols: list[str], what: str) -> None:
        dup = rows.duplicated(subset=key_cols, keep="first").to_numpy()
        if dup.any():
            idx = np.flatnonzero(dup)
            keys = [_SEP.join(rows.iloc[i][key_cols]).replace(_SEP, " / ") for i in idx]
            unique_keys = list(dict.fromkeys(keys))
            self.fail(
                f"{len(idx)} duplicated row(s) in {what} ({' + '.join(key_cols_names(key_cols))}"
                f"): {_few(unique_keys)}; rows " + ", ".join(str(i + 1) for i in idx[:_SHOW])
            )

    def empty_marker_alone(self, rows: pd.DataFrame, what: str) -> None:
        # an empty element marks an empty set; it cannot share a unit with elements
        empty_units = set(rows.loc[rows["_k0"] == "", "_unit"])
        if not empty_units:
            return
        counts = rows[rows["_unit"].isin(empty_units)].groupby("_unit").size()
        bad = sorted(counts[counts > 1].index)
        if bad:
            self.fail(
                f"{len(bad)} unit(s) in {what} have an empty element (which marks an empty "
                f"set) besides other elements: {_few(bad)}"
            )

    def strata_per_unit(
        self, unit: np.ndarray, cols: list[np.ndarray], names: Sequence[str]
    ) -> dict[str, str]:
        joined = np.array([_SEP.join(parts) for parts in zip(*cols, strict=True)], dtype=object)
        frame = pd.DataFrame({"u": unit, "s": joined})
        n = frame.groupby("u")["s"].nunique()
        bad = sorted(n[n > 1].index)
        if bad:
            self.fail(
                f"strata column(s) {_few(list(names))} vary within {len(bad)} unit(s): "
                f"{_few(bad)}; a unit belongs to one stratum"
            )
        first = frame.drop_duplicates("u")
        return dict(zip(first["u"], first["s"], strict=True))


def key_cols_names(key_cols: list[str]) -> list[str]:
    return ["unit" if c == "_unit" else "key" for c in key_cols]


def _key_columns(task: Task, kind: str) -> list[str]:
    n = 1 if kind == "sets" else len(task.keys)
    return ["_unit", *(f"_k{i}" for i in range(n))]


def _sort_order(rows: pd.DataFrame, key_cols: list[str]) -> np.ndarray:
    arrays = [rows[c].to_numpy().astype(str) for c in reversed(key_cols)]
    return np.lexsort(arrays)


def _row_keys(rows: pd.DataFrame, key_cols: list[str]) -> np.ndarray:
    if len(key_cols) == 1:
        return rows[key_cols[0]].to_numpy().astype(str)
    return np.array([_SEP.join(p) for p in zip(*(rows[c] for c in key_cols), strict=True)])


# -- joining ------------------------------------------------------------------------------


def _check_coverage(
    r: _Frame, truth_keys: np.ndarray, sub_keys: np.ndarray, truth_units: np.ndarray,
    sub_units: np.ndarray, with_keys: bool,
) -> np.ndarray:
    unknown_units = ~np.isin(sub_units, truth_units)
    if unknown_units.any():
        ids = list(dict.fromkeys(sub_units[unknown_units].tolist()))
        r.fail(f"{len(ids)} unit id(s) not in the truth: {_few(ids)}")
    index = pd.Index(truth_keys)
    pos = index.get_indexer(sub_keys)
    if (pos < 0).any():
        keys = [k.replace(_SEP, " / ") for k in sub_keys[pos < 0]]
        r.fail(f"{len(keys)} row(s) (unit / keys) not in the truth: {_few(keys)}")
    hit = np.zeros(len(truth_keys), dtype=bool)
    hit[pos] = True
    if not hit.all():
        missing = [k.replace(_SEP, " / ") for k in truth_keys[~hit]]
        what = "truth row(s) (unit / keys)" if with_keys else "truth unit(s)"
        r.fail(f"missing predictions for {len(missing)} {what}: {_few(missing)}")
    return pos


def _join_rows(
    r: _Frame, protocol: Protocol, truth: Truth, rows: pd.DataFrame, key_cols: list[str],
    pred: str,
) -> Table:
    task = protocol.task
    t = truth._rows
    truth_keys = _row_keys(t, key_cols)
    sub_keys = _row_keys(rows, key_cols)
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


def _join_sets(r: _Frame, truth: Truth, rows: pd.DataFrame) -> Table:
    t = truth._rows
    units = np.unique(t["_unit"].to_numpy().astype(str))
    sub_units = rows["_unit"].to_numpy().astype(str)
    unknown = ~np.isin(sub_units, units)
    if unknown.any():
        ids = list(dict.fromkeys(sub_units[unknown].tolist()))
        r.fail(f"{len(ids)} unit id(s) not in the truth: {_few(ids)}")
    absent = ~np.isin(units, sub_units)
    if absent.any():
        r.fail(
            f"missing predictions for {int(absent.sum())} truth unit(s): "
            f"{_few(list(units[absent]))} (an empty predicted set is one row with an empty "
            "element)"
        )
    t_el = t["_k0"].to_numpy().astype(str)
    s_el = rows["_k0"].to_numpy().astype(str)
    t_keys = _row_keys(t, ["_unit", "_k0"])[t_el != ""]
    s_real = s_el != ""
    s_keys = _row_keys(rows, ["_unit", "_k0"])[s_real]
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


# -- digests ------------------------------------------------------------------------------


def _encode(values: np.ndarray) -> list[str]:
    """Each value as its canonical JSON text: 0/1 for booleans, the shortest round-trip
    repr for floats (``-0.0`` as ``0.0``), a JSON string for everything else."""
    if values.dtype == bool:
        return ["1" if v else "0" for v in values.tolist()]
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():  # validated away; never digest a NaN silently
            raise InputError("internal: a non-finite number reached the digest")
        return [repr(v) for v in (values + 0.0).tolist()]
    quote = json.encoder.encode_basestring  # what json.dumps(s, ensure_ascii=False) does
    return [quote(v if isinstance(v, str) else str(v)) for v in values.tolist()]


def _digest(
    fmt: str, kind: str, names: dict[str, Any], rows: pd.DataFrame, cols: list[str],
    strata: tuple[Sequence[str], dict[str, str]] | None = None,
) -> str:
    """sha256 of a JSON header line, then one JSON array line per row (``[a,b,...]``,
    no spaces), in the rows' (sorted) order."""
    h = hashlib.sha256()
    header: dict[str, Any] = {"format": fmt, "kind": kind, "columns": names}
    if strata is not None:
        header["strata"] = list(strata[0])
    h.update(json.dumps(header, sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False).encode("utf-8"))
    h.update(b"\n")
    encoded = [_encode(rows[c].to_numpy()) for c in cols]
    if strata is not None:
        mapping = strata[1]
        parts = [mapping[u].split(_SEP) for u in rows["_unit"]]
        for j in range(len(strata[0])):
            encoded.append(_encode(np.array([p[j] for p in parts], dtype=object)))
    step = 65536  # hash in slices: bounded memory for big files
    for start in range(0, len(rows), step):
        lines = ["[" + ",".join(cells) + "]\n"
                 for cells in zip(*(e[start:start + step] for e in encoded), strict=True)]
        h.update("".join(lines).encode("utf-8"))
    return "sha256:" + h.hexdigest()

"""Checking the columns of an input frame: ids, numbers, labels, events, duplicates.

Every check fails with an :class:`~adjudicator.errors.InputError` that names the source,
the column, the rows (1-based, the first data row is row 1) and the unit ids: the first
few and the count. Ids are shown quoted and cut to 40 characters, never interpreted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..protocol import Task

__all__ = ["Frame", "few", "SEP", "key_columns", "sort_order", "row_keys"]

_SHOW = 5  # offending ids shown in a message
_MAX_ID = 256  # characters in an id
SEP = "\x1f"  # joins ids into one row key; ids never contain control characters
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NAN_WORDS = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity",
              "-infinity"}


def _show(value: Any) -> str:
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def few(values: Sequence[Any], n: int = _SHOW) -> str:
    shown = ", ".join(_show(v) for v in list(values)[:n])
    more = len(values) - n
    return shown + (f" and {more} more" if more > 0 else "")


class Frame:
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
                f"missing column(s) {few(missing)} that {what} must have; found "
                f"{few(self.columns, 8)}"
            )

    def _rows(self, mask: np.ndarray, col: str, problem: str) -> None:
        idx = np.flatnonzero(mask)
        rows = ", ".join(str(i + 1) for i in idx[:_SHOW])
        more = f" and {len(idx) - _SHOW} more" if len(idx) > _SHOW else ""
        units = ""
        if self._unit_ids is not None:
            units = f" (unit(s) {few(list(self._unit_ids[idx]))})"
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
        if what == "id" and self._unit_ids is None:  # the first ids read are the units
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
                    f"e.g. {few([raw[i] for i in idx[:3]], 3)} in row(s) "
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
                f"{few(list(np.asarray(unit_ids)[idx]))}"
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
                f"probabilities), unit(s) {few(list(np.asarray(unit_ids)[idx]))}"
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
                f"column {col!r}: {len(distinct)} distinct labels ({few(distinct)}); a binary "
                "task has two classes"
            )
        if not is_pos.any():
            self.fail(
                f"column {col!r}: no row has the positive class {positive!r} (labels found: "
                f"{few(distinct)})"
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
            keys = [SEP.join(rows.iloc[i][key_cols]).replace(SEP, " / ") for i in idx]
            unique_keys = list(dict.fromkeys(keys))
            self.fail(
                f"{len(idx)} duplicated row(s) in {what} ({' + '.join(_key_names(key_cols))}"
                f"): {few(unique_keys)}; rows " + ", ".join(str(i + 1) for i in idx[:_SHOW])
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
                f"set) besides other elements: {few(bad)}"
            )

    def strata_per_unit(
        self, unit: np.ndarray, cols: list[np.ndarray], names: Sequence[str]
    ) -> dict[str, str]:
        joined = np.array([SEP.join(parts) for parts in zip(*cols, strict=True)], dtype=object)
        frame = pd.DataFrame({"u": unit, "s": joined})
        n = frame.groupby("u")["s"].nunique()
        bad = sorted(n[n > 1].index)
        if bad:
            self.fail(
                f"strata column(s) {few(list(names))} vary within {len(bad)} unit(s): "
                f"{few(bad)}; a unit belongs to one stratum"
            )
        first = frame.drop_duplicates("u")
        return dict(zip(first["u"], first["s"], strict=True))


def _key_names(key_cols: list[str]) -> list[str]:
    return ["unit" if c == "_unit" else "key" for c in key_cols]


def key_columns(task: Task, kind: str) -> list[str]:
    n = 1 if kind == "sets" else len(task.keys)
    return ["_unit", *(f"_k{i}" for i in range(n))]


def sort_order(rows: pd.DataFrame, key_cols: list[str]) -> np.ndarray:
    arrays = [rows[c].to_numpy().astype(str) for c in reversed(key_cols)]
    return np.lexsort(arrays)


def row_keys(rows: pd.DataFrame, key_cols: list[str]) -> np.ndarray:
    if len(key_cols) == 1:
        return rows[key_cols[0]].to_numpy().astype(str)
    return np.array([SEP.join(p) for p in zip(*(rows[c] for c in key_cols), strict=True)])

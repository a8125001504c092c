"""Validating uploads before they are accepted, in both challenge orders.

*Retrospective* challenges have their truth before the window opens: a submission is read
with :func:`adjudicator.data.read_submission` against the truth, exactly as adjudication
will read it.

*Prospective* challenges have no truth while predictions are locked. The committee
publishes a *units manifest* instead (a CSV of the unit column, and the key columns if the
task has any): what is to be predicted. A submission is validated against a *skeleton
truth* built from the manifest (every truth column filled with a placeholder value), so the
same reader checks columns, ids, numbers, duplicates and coverage; the digest of a
submission does not depend on the truth, so the one recorded in the ledger at submission
time is the one adjudicated later. When the measured truth is committed, it must cover
exactly the manifest's units (:func:`check_covers`).

The decrypted truth is read from an anonymous in-memory file (``memfd``), never from a
plaintext file on disk.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..data import Truth, read_submission, read_truth, submission_from_frame, truth_from_frame
from ..errors import InputError
from ..protocol import Protocol

__all__ = ["plaintext_file", "read_sealed_truth", "read_units", "skeleton_truth",
           "check_covers", "validate_submission"]


@contextlib.contextmanager
def plaintext_file(data: bytes, name: str = "truth") -> Iterator[Path]:
    """A path whose content is ``data``, held in memory where the system allows it."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        try:
            os.write(fd, data) if len(data) < (1 << 30) else _write_all(fd, data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(prefix=".plain-") as fh:  # pragma: no cover - not Linux
        fh.write(data)
        fh.flush()
        yield Path(fh.name)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_sealed_truth(protocol: Protocol, plaintext: bytes, source: str = "truth") -> Truth:
    """Read the (decrypted) truth bytes for ``protocol``."""
    with plaintext_file(plaintext) as path:
        try:
            truth = read_truth(protocol, path, max_bytes=len(plaintext) + 1)
        except InputError as exc:
            raise _named(exc, path, source) from None
    return _renamed(truth, source)


def _renamed(truth: Truth, source: str) -> Truth:
    import dataclasses

    return dataclasses.replace(truth, source=source)


def read_units(protocol: Protocol, path: Path) -> pd.DataFrame:
    """Read a units manifest (CSV: the unit column and the task's key columns)."""
    task = protocol.task
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                            encoding="utf-8")
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"not a UTF-8 CSV file: {exc}", source="units manifest") from None
    need = [task.unit, *task.keys]
    missing = [c for c in need if c not in frame.columns]
    extra = [c for c in frame.columns if c not in need]
    if missing or extra:
        raise InputError(
            f"a units manifest has exactly the columns {', '.join(map(repr, need))}"
            + (f"; missing {', '.join(map(repr, missing))}" if missing else "")
            + (f"; unexpected {', '.join(map(repr, extra))}" if extra else ""),
            source="units manifest")
    if frame.empty:
        raise InputError("the units manifest lists no unit", source="units manifest")
    skeleton_truth(protocol, frame)  # ids: non-empty, no control characters, no duplicates
    return frame[need]


def _placeholder(protocol: Protocol) -> dict[str, str]:
    task = protocol.task
    values: dict[str, str] = {}
    for role, column in task.truth.items():
        if role == "label":
            pos = task.positive
            values[column] = ("true" if pos else "false") if isinstance(pos, bool) else str(pos)
        elif role in ("time", "event"):
            values[column] = "1"
        elif role == "value":
            values[column] = "0"
        elif role == "element":
            values[column] = ""
    for column in task.strata:
        values[column] = "0"
    return values


def skeleton_truth(protocol: Protocol, units: pd.DataFrame) -> Truth:
    """A truth with the manifest's units and placeholder values, for validating predictions."""
    frame = units.copy()
    for column, value in _placeholder(protocol).items():
        frame[column] = value
    try:
        return truth_from_frame(protocol, frame, source="units manifest")
    except InputError as exc:
        raise InputError(str(exc).removeprefix("units manifest: "),
                         source="units manifest") from None


def _unit_predictions(protocol: Protocol, units: pd.DataFrame) -> pd.DataFrame:
    task = protocol.task
    frame = units.copy()
    for column in task.prediction_columns:
        frame[column] = "" if task.kind == "sets" else "0"
    return frame


def check_covers(protocol: Protocol, truth: Truth, units: pd.DataFrame) -> None:
    """Refuse a measured truth that does not cover exactly the manifest's units."""
    try:
        submission_from_frame(protocol, _unit_predictions(protocol, units), truth,
                              source="units manifest")
    except InputError as exc:
        raise InputError(
            "the truth does not cover exactly the units of the manifest the predictions were "
            f"locked against: {exc}", source="truth") from None


def validate_submission(protocol: Protocol, path: Path, truth: Truth, *, source: str,
                        max_bytes: int) -> str:
    """Validate a submission file against ``truth`` (real or skeleton); return its digest."""
    try:
        return read_submission(protocol, path, truth, max_bytes=max_bytes).digest
    except InputError as exc:
        raise _named(exc, path, source) from None


def _named(exc: InputError, path: Path, source: str) -> InputError:
    # the reader names the file it read: a temporary path of the server, not the user's
    text = str(exc).removeprefix(f"{path}: ").replace(str(path), source)
    return InputError(text, source=source)


def frame_bytes(frame: pd.DataFrame) -> bytes:
    """A manifest as CSV bytes (for storing what was validated)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")

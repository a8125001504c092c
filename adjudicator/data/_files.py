"""Reading a CSV or Parquet file into a frame, refusing what is neither or too big.

The format is recognised by content (Parquet's ``PAR1`` magic bytes), not by the name.
The size limit is checked before reading, and for Parquet also on the decompressed size.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ._columns import few

__all__ = ["read_frame"]


def read_frame(path: Path, max_bytes: int, source: str) -> pd.DataFrame:
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
    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise InputError(f"duplicated column name(s) {few(dupes)}", source=source)
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
        raise InputError(f"duplicated column name(s) {few(dupes)}", source=source)
    if len(frame) == 0:
        raise InputError("has no rows", source=source)
    return frame

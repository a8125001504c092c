"""The canonical form and sha256 digest of a truth or a submission."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._columns import SEP

__all__ = ["digest"]


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


def digest(
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
        parts = [mapping[u].split(SEP) for u in rows["_unit"]]
        for j in range(len(strata[0])):
            encoded.append(_encode(np.array([p[j] for p in parts], dtype=object)))
    step = 65536  # hash in slices: bounded memory for big files
    for start in range(0, len(rows), step):
        lines = ["[" + ",".join(cells) + "]\n"
                 for cells in zip(*(e[start:start + step] for e in encoded), strict=True)]
        h.update("".join(lines).encode("utf-8"))
    return "sha256:" + h.hexdigest()

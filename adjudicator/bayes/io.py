"""The edge: writing InferenceData files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .results import (
    BayesResult,
)

# -- the edge: writing InferenceData ------------------------------------------------------


def save_inference_data(result: BayesResult, path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Write the result's InferenceData as NetCDF; returns the files written.

    One prior: ``path`` itself. Several: ``<stem>.<prior>.nc`` beside it. Each file is
    written to a temporary name and renamed, so a reader never sees half a file. Nothing
    is written for the Bayesian bootstrap (no InferenceData).
    """
    path = Path(path)
    items = list(result.inference_data.items())
    written = []
    for name, idata in items:
        target = path if len(items) == 1 else path.with_name(f"{path.stem}.{name}.nc")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            idata.to_netcdf(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return tuple(written)

"""Stage the demo challenge on real public data: GBSG2, as scikit-survival ships it.

The German Breast Cancer Study Group 2 trial (686 women, recurrence-free survival) is the
sequestered truth. Teams predict every patient out of sample by cross-fitting: five folds,
stratified by the event, each predicted by a model fitted on the other four:

* ``clinical-cox``: the committee's baseline, a Cox model on tumour size, grade and
  positive nodes;
* ``strong``: a Cox model on every covariate, with log-transformed nodes and receptors;
* ``weak``: a Cox model on age alone;
* ``variant-<i>``: the strong model with its predictions perturbed, as a team sending
  many small variants would.

Nothing is copied into the repository: the data come from the installed package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DemoFiles", "gbsg2_frames", "stage_gbsg2"]

_SEED = 20261129
_FOLDS = 5


@dataclass(frozen=True)
class DemoFiles:
    """The files of the staged demo challenge."""

    truth: Path
    baseline: Path
    entries: dict[str, Path]


def _design(x: pd.DataFrame, columns: list[str]) -> np.ndarray:
    out = pd.DataFrame(index=x.index)
    for c in columns:
        if c == "tgrade":
            out["grade_II"] = (x["tgrade"] == "II").astype(float)
            out["grade_III"] = (x["tgrade"] == "III").astype(float)
        elif c == "horTh":
            out["horTh"] = (x["horTh"] == "yes").astype(float)
        elif c == "menostat":
            out["post"] = (x["menostat"] == "Post").astype(float)
        elif c in ("pnodes", "progrec", "estrec"):
            out[f"log_{c}"] = np.log1p(x[c].astype(float))
        else:
            out[c] = x[c].astype(float)
    return out.to_numpy()


def gbsg2_frames(n_variants: int = 0) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The sequestered truth and every team's predictions, as data frames."""
    from sksurv.datasets import load_gbsg2
    from sksurv.linear_model import CoxPHSurvivalAnalysis

    x, y = load_gbsg2()
    n = len(y)
    ids = np.array([f"gbsg2-{i:04d}" for i in range(n)])
    event = y["cens"].astype(bool)
    rng = np.random.default_rng(_SEED)
    # five folds, stratified by the event: each patient is predicted by models fitted on
    # the other four fifths, so every prediction is out of sample (cross-fitting)
    fold = np.empty(n, dtype=int)
    for e in (False, True):
        idx = rng.permutation(np.flatnonzero(event == e))
        fold[idx] = np.arange(idx.size) % _FOLDS
    truth = pd.DataFrame({
        "patient_id": ids,
        "rfs_days": y["time"].astype(int),
        "recurred": event.astype(int),
    })
    models = {
        "clinical-cox": ["tsize", "tgrade", "pnodes"],
        "strong": ["age", "tsize", "tgrade", "pnodes", "progrec", "estrec", "horTh",
                   "menostat"],
        "weak": ["age"],
    }
    preds: dict[str, pd.DataFrame] = {}
    for name, cols in models.items():
        xt = _design(x, cols)
        risk = np.empty(n)
        for f in range(_FOLDS):
            test = fold == f
            model = CoxPHSurvivalAnalysis(alpha=1e-4).fit(xt[~test], y[~test])
            risk[test] = model.predict(xt[test])
        preds[name] = pd.DataFrame({"patient_id": ids, "risk": np.round(risk, 10)})
    strong = preds["strong"]["risk"].to_numpy()
    for i in range(1, n_variants + 1):
        noise = rng.normal(0.0, 0.15 * strong.std(), size=strong.size)
        preds[f"variant-{i}"] = pd.DataFrame({"patient_id": ids,
                                              "risk": np.round(strong + noise, 10)})
    return truth, preds


def stage_gbsg2(folder: str | Path, n_variants: int = 0) -> DemoFiles:
    """Write the demo's truth and predictions as CSV files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    truth, preds = gbsg2_frames(n_variants)
    truth_path = folder / "truth.csv"
    truth.to_csv(truth_path, index=False)
    paths = {}
    for name, frame in preds.items():
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    baseline = paths.pop("clinical-cox")
    return DemoFiles(truth=truth_path, baseline=baseline, entries=paths)

"""Figures for the reports: matplotlib (SVG backend) to deterministic SVG data URIs.

Every figure is drawn on its own :class:`~matplotlib.figure.Figure` (no pyplot state) and
saved as SVG with text kept as text (``svg.fonttype = none``: WeasyPrint draws it with the
same system font as the page, faster than glyph paths and selectable), a fixed
``svg.hashsalt`` (so element ids do not change between runs) and no date in the metadata,
so the same data give the same bytes. Each function returns ``None`` when the result does
not carry what the figure needs; the template then simply leaves the figure out.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

__all__ = [
    "bootstrap_figure",
    "posterior_figure",
    "alpha_spending_figure",
    "alpha_bars_figure",
    "audit_estimates_figure",
    "progress_figure",
    "histogram_of",
]

_RC: Any = {
    "svg.hashsalt": "adjudicator-report",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "figure.dpi": 100,
}
INK = "#1f2933"
BLUE = "#2f5d8a"
LIGHT = "#c9d8e8"
RED = "#b3261e"
GREEN = "#2e7d32"
GREY = "#7b8794"
AMBER = "#b26a00"
_WIDTH = 6.6  # inches: the text width of an A4 page with 18 mm margins


def _svg_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasSVG(fig)
    with matplotlib.rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(_WIDTH, height), layout="constrained")
    return fig


def histogram_of(value: Any, bins: int = 60) -> tuple[np.ndarray, np.ndarray] | None:
    """(edges, counts) from a list of draws or a ``{"edges", "counts"}`` mapping."""
    if isinstance(value, Mapping):
        edges, counts = value.get("edges"), value.get("counts")
        try:
            e = np.asarray(edges, dtype=float)
            c = np.asarray(counts, dtype=float)
        except (TypeError, ValueError):
            return None
        if e.ndim != 1 or c.ndim != 1 or len(e) != len(c) + 1 or len(c) == 0:
            return None
        return e, c
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 1:
        try:
            x = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return None
        x = x[np.isfinite(x)]
        if x.size < 2 or x.min() == x.max():
            return None
        counts, edges = np.histogram(x, bins=bins)
        return edges, counts.astype(float)
    return None


def bootstrap_figure(
    replicates: Any,
    *,
    estimate: float | None,
    interval: Mapping[str, Any] | None,
    threshold: float | None,
    metric_label: str,
) -> str | None:
    """Bootstrap distribution of the estimate, with its interval and the threshold."""
    hist = histogram_of(replicates)
    if hist is None:
        return None
    edges, counts = hist
    with matplotlib.rc_context(_RC):
        fig = _figure(2.5)
        ax = fig.add_subplot()
        low = interval.get("low") if interval else None
        high = interval.get("high") if interval else None
        if low is not None and high is not None:
            conf = interval.get("confidence") if interval else None
            label = f"{conf:.0%} interval" if isinstance(conf, float) else "interval"
            ax.axvspan(low, high, color=LIGHT, alpha=0.55, lw=0, label=label)
        ax.stairs(counts, edges, fill=True, color=BLUE, alpha=0.35, lw=0)
        ax.stairs(counts, edges, color=BLUE, lw=0.9, label="bootstrap replicates")
        if estimate is not None:
            ax.axvline(estimate, color=INK, lw=1.4, label=f"estimate {estimate:.4f}")
        if threshold is not None:
            ax.axvline(threshold, color=RED, lw=1.4, ls="--", label=f"threshold {threshold:g}")
        ax.set_xlabel(metric_label)
        ax.set_ylabel("replicates")
        ax.set_yticks([])
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        return _svg_uri(fig)


def posterior_figure(criteria: Sequence[Mapping[str, Any]]) -> str | None:
    """The posterior of each Bayesian difference, against the margin and its ROPE.

    Each item is a criterion of the report context (``bound``, ``rope_interval``, ``hdi``,
    ``posterior_mean``, ``probability``) with, optionally, the raw ``posterior`` (draws or a
    histogram). With draws the density is drawn; with only a summary, the mean and the
    highest-density interval.
    """
    panels = []
    for c in criteria:
        hist = histogram_of(c.get("posterior"), bins=60)
        hdi = c.get("hdi")
        has_hdi = isinstance(hdi, Sequence) and len(hdi) == 2 and None not in hdi
        if hist is not None or has_hdi:
            panels.append((c, hist))
    if not panels:
        return None
    heights = [2.2 if hist is not None else 1.25 for _, hist in panels]
    with matplotlib.rc_context(_RC):
        fig = _figure(sum(heights) + 0.3)
        axes = fig.subplots(len(panels), 1, squeeze=False,
                            height_ratios=heights)[:, 0]
        for ax, (c, hist) in zip(axes, panels, strict=True):
            bound = c.get("bound")
            interval = c.get("rope_interval")
            if interval:
                ax.axvspan(interval[0], interval[1], color="#f3e1b7", lw=0,
                           label="ROPE around the margin")
            if hist is not None:
                edges, counts = hist
                density = counts / (counts.sum() * np.diff(edges))
                if isinstance(bound, int | float):
                    above = edges[:-1] >= bound
                    ax.stairs(np.where(above, density, 0), edges, fill=True, color=GREEN,
                              alpha=0.25, lw=0)
                ax.stairs(density, edges, color=BLUE, lw=0.9, label="posterior")
                ax.set_ylabel("density")
            else:
                hdi, mean = c["hdi"], c.get("posterior_mean")
                prob = c.get("hdi_prob")
                label = f"{prob:.0%} HDI" if isinstance(prob, float) else "HDI"
                ax.plot(hdi, [0, 0], color=BLUE, lw=3, solid_capstyle="butt", label=label)
                if mean is not None:
                    ax.plot([mean], [0], "o", color=INK, ms=5, label="posterior mean")
                ax.set_ylim(-1, 1)
            ax.set_yticks([])
            if isinstance(bound, int | float):
                ax.axvline(bound, color=RED, ls="--", lw=1.3, label=f"margin {bound:g}")
            prob = c.get("probability")
            title = str(c.get("name") or "posterior")
            if isinstance(prob, int | float):
                title += f":  P(difference > margin) = {prob:.3f}"
            ax.set_title(title, loc="left")
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.05), frameon=False)
        axes[-1].set_xlabel("difference to the baseline")
        return _svg_uri(fig)


def alpha_spending_figure(multiplicity: Mapping[str, Any] | None) -> str | None:
    """Alpha spent per submission of the family and in total, against the family's alpha."""
    if not multiplicity:
        return None
    rows = [r for r in multiplicity.get("rows", []) if r.get("alpha") is not None]
    if not rows:
        return None
    return alpha_bars_figure(
        [str(r.get("sequence") if r.get("sequence") is not None else "?") for r in rows],
        [float(r["alpha"]) for r in rows],
        [(r.get("verdict") or {}).get("code") for r in rows],
        multiplicity.get("alpha"),
        current=[bool(r.get("current")) for r in rows],
    )


def alpha_bars_figure(
    labels: list[str],
    alphas: list[float],
    verdicts: list[str | None],
    total: float | None,
    current: list[bool] | None = None,
) -> str:
    colours = {"CERTIFIED": GREEN, "NOT_CERTIFIED": GREY, "INCONCLUSIVE": AMBER}
    with matplotlib.rc_context(_RC):
        fig = _figure(2.2)
        ax = fig.add_subplot()
        x = np.arange(len(alphas))
        cumulative = np.cumsum(alphas)
        bars = ax.bar(x, alphas, width=0.45, color=[colours.get(v or "", BLUE) for v in verdicts],
                      label="alpha of the submission")
        if current:
            for bar, is_current in zip(bars, current, strict=True):
                if is_current:
                    bar.set_edgecolor(INK)
                    bar.set_linewidth(1.2)
        ax.plot(x, cumulative, color=INK, marker="o", ms=3, label="spent so far")
        if total is not None:
            ax.axhline(total, color=RED, ls="--", lw=1.2, label=f"family alpha {total:g}")
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.75, len(alphas) - 0.25)
        ax.set_xlabel("submission (sequence number)")
        ax.set_ylabel("alpha")
        top = max([*cumulative, total or 0.0]) * 1.25
        ax.set_ylim(0, top)
        ax.legend(loc="upper left", frameon=False, ncols=3)
        return _svg_uri(fig)


def audit_estimates_figure(
    rows: Sequence[Mapping[str, Any]], *, threshold: float | None, metric_label: str
) -> str | None:
    """Each submission's estimate with its interval, against the threshold."""
    points = [(i, r) for i, r in enumerate(rows) if r.get("estimate") is not None]
    if not points:
        return None
    colours = {"CERTIFIED": GREEN, "NOT_CERTIFIED": GREY, "INCONCLUSIVE": AMBER}
    with matplotlib.rc_context(_RC):
        fig = _figure(2.3)
        ax = fig.add_subplot()
        for i, r in points:
            interval = r.get("interval") or {}
            colour = colours.get(r["verdict"]["code"], BLUE)
            lo, hi = interval.get("low"), interval.get("high")
            if lo is not None and hi is not None:
                ax.plot([i, i], [lo, hi], color=colour, lw=2.2, alpha=0.6)
            ax.plot(i, r["estimate"], "o", color=colour, ms=5)
        if threshold is not None:
            ax.axhline(threshold, color=RED, ls="--", lw=1.2, label=f"threshold {threshold:g}")
            ax.legend(loc="lower right", frameon=False)
        ax.set_xticks([i for i, _ in points],
                      [str(r["submission"].get("sequence") or i + 1) for i, r in points])
        ax.set_xlim(-0.6, max(len(rows) - 0.4, 0.6))
        ax.set_xlabel("submission (sequence number)")
        ax.set_ylabel(metric_label)
        return _svg_uri(fig)


def progress_figure(context: Mapping[str, Any]) -> str | None:
    """Share of the baseline-to-threshold gap closed over time, with intervals."""
    rows = context.get("rows") or []
    if not rows:
        return None
    dates = [dt.date.fromisoformat(str(r["date"])[:10]) for r in rows]
    with matplotlib.rc_context(_RC):
        fig = _figure(2.7)
        ax = fig.add_subplot()
        x = np.array([d.toordinal() for d in dates], dtype=float)
        share = np.array([100 * r["share"] for r in rows])
        sota = np.array([100 * r["state_of_the_art"] for r in rows])
        for xi, r in zip(x, rows, strict=True):
            if r.get("share_low") is not None and r.get("share_high") is not None:
                ax.plot([xi, xi], [100 * r["share_low"], 100 * r["share_high"]], color=BLUE,
                        lw=2, alpha=0.45)
        ax.plot(x, share, "o", color=BLUE, ms=4, label="best entry of the day")
        ax.step(x, sota, where="post", color=INK, lw=1.3, label="state of the art")
        ax.axhline(0, color=GREY, lw=0.9, label=f"baseline ({context['baseline']['name']})")
        ax.axhline(100, color=RED, ls="--", lw=1.2, label="threshold")
        ax.set_ylabel("share of the gap closed (%)")
        ticks = x if len(x) <= 8 else np.linspace(x.min(), x.max(), 6).round()
        ax.set_xticks(ticks, [dt.date.fromordinal(int(t)).isoformat() for t in ticks])
        span = max(x.max() - x.min(), 1.0)
        ax.set_xlim(x.min() - 0.04 * span, x.max() + 0.04 * span)
        ax.legend(loc="upper left", frameon=False, ncols=2)
        return _svg_uri(fig)

"""Formatting filters shared by every rendering of a report context (PDF now, web later).

Each filter takes a value that may be ``None`` and returns display text; ``None`` becomes an
em dash, so a field the result does not carry yet shows as "—" rather than breaking a page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["FILTERS", "num", "compact", "pvalue", "pct", "date", "datetime_text", "digest_short"]

DASH = "—"


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals; integers as integers with thin grouping."""
    if value is None or isinstance(value, bool):
        return DASH
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u2009")
    if isinstance(value, float):
        if value != value:  # NaN
            return "NaN"
        return f"{value:.{digits}f}"
    return str(value)


def compact(value: Any, digits: int = 3) -> str:
    """Whole numbers without decimals, others with ``digits`` decimals, text as is."""
    if value is None:
        return DASH
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return num(int(value))
    if isinstance(value, float) and abs(value) >= 100:
        return num(value, 1)
    return num(value, digits)


def pvalue(value: Any) -> str:
    """A p-value: four decimals, or ``< 0.0001``."""
    if value is None or isinstance(value, bool):
        return DASH
    v = float(value)
    return "< 0.0001" if 0 <= v < 0.0001 else f"{v:.4f}"


def pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage."""
    if value is None or isinstance(value, bool):
        return DASH
    return f"{100 * float(value):.{digits}f}\u2009%"


def date(value: Any) -> str:
    """The date part of an ISO timestamp."""
    if not value:
        return DASH
    return str(value)[:10]


def datetime_text(value: Any) -> str:
    """An ISO timestamp as ``2026-11-29 06:00 UTC`` (or as given when it is not ISO)."""
    if not value:
        return DASH
    text = str(value)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def digest_short(value: Any, length: int = 12) -> str:
    """``sha256:0123456789ab…`` for tables; full digests are printed elsewhere."""
    if not value:
        return DASH
    text = str(value)
    algo, _, hexpart = text.partition(":")
    if not hexpart:
        return text[:length] + "…"
    return f"{algo}:{hexpart[:length]}…"


FILTERS = {
    "num": num,
    "compact": compact,
    "pvalue": pvalue,
    "pct": pct,
    "date": date,
    "datetime": datetime_text,
    "digest_short": digest_short,
}

"""Package and code versions recorded in every result, so an auditor can reproduce it."""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path

__all__ = ["RECORDED_PACKAGES", "package_versions", "code_version"]

#: the packages whose versions can change a number in a result
RECORDED_PACKAGES = ("numpy", "scipy", "numba", "pandas", "pyarrow", "statsmodels", "pymc",
                     "pytensor", "arviz", "pydantic")


@cache
def package_versions() -> dict[str, str]:
    """Installed versions of :data:`RECORDED_PACKAGES` (``"absent"`` when not installed)."""
    out = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


@cache
def code_version() -> str:
    """``<version>`` of adjudicator, plus ``+g<commit>`` when run from a git checkout.

    The commit is read from the checkout's files (no subprocess); ``-dirty`` is not
    detected, so a result from a modified tree records the commit it started from.
    """
    from . import __version__

    root = Path(__file__).resolve().parent.parent
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            ref_file = git / ref
            if ref_file.exists():
                commit = ref_file.read_text().strip()
            else:
                packed = (git / "packed-refs").read_text().splitlines()
                commit = next(line.split()[0] for line in packed if line.endswith(" " + ref))
        else:
            commit = head
        return f"{__version__}+g{commit[:12]}"
    except (OSError, StopIteration, IndexError):
        return __version__

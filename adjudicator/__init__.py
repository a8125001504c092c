"""adjudicator: decide by preregistered statistics whether a prize-challenge entry crossed
its threshold, and prove it with a signed audit report.

The public surface (kept stable; ``tests/test_public_api.py`` pins it)::

    load_protocol(path) -> Protocol                 # validated, frozen, with .digest
    read_truth(protocol, path) -> Truth             # validated, with .digest (the commitment)
    read_submission(protocol, path, truth) -> Submission
    score(protocol, truth, submission) -> Score     # estimate, interval, p-values
    adjudicate(protocol, truth, submission, baselines=..., history=...) -> AdjudicationResult
    adjust(pvalues, method=...) -> adjusted p-values (statsmodels' method names)
    verify_report(path) -> ReportVerification

Heavy modules (numba kernels, PyMC, WeasyPrint) load on first use, so ``import
adjudicator`` and the command line stay quick.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import (
    AdjudicatorError,
    ComputationError,
    ConfigurationError,
    DegenerateResamplingError,
    InputError,
    MultiplicityError,
    ProtocolError,
    VerificationError,
)
from .protocol import Protocol, load_protocol, parse_protocol

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562)
_LAZY = {
    "read_truth": "adjudicator.data",
    "read_submission": "adjudicator.data",
    "score": "adjudicator.adjudication",
    "adjudicate": "adjudicator.adjudication",
    "adjust": "adjudicator.multiplicity",
    "verify_report": "adjudicator.report",
}

__all__ = [
    "__version__",
    "AdjudicatorError",
    "ComputationError",
    "ConfigurationError",
    "DegenerateResamplingError",
    "InputError",
    "MultiplicityError",
    "ProtocolError",
    "VerificationError",
    "Protocol",
    "load_protocol",
    "parse_protocol",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adjudicator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

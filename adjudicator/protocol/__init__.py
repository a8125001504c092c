"""The preregistration format ``protocol/v1``: schema, strict loading, canonical digest.

A protocol is parsed once, strictly, into frozen pydantic models: an unknown field, a
wrong type or an impossible value is a :class:`~adjudicator.errors.ProtocolError` that
names the field path (``threshold.baselines[0].margin: must be a number``) and the file.
An invalid :class:`Protocol` object cannot exist.

The digest (:attr:`Protocol.digest`) is ``sha256:`` + the hex digest of the canonical JSON
of the *validated* protocol: defaults filled in, keys sorted, numbers normalised (every
float written as the shortest string that round-trips), no whitespace. Comments, key
order, quoting and ``0.70`` versus ``0.7`` do not change it; any change of meaning does.
"""

from __future__ import annotations

from ._common import (
    FORMAT,
    KINDS,
    MAX_PROTOCOL_BYTES,
    METRICS,
    TRUTH_ROLES,
    Column,
    OpenUnit,
    Slug,
    Text,
)
from .board import (
    Leaderboard,
    LeaderboardFeedback,
    Publication,
)
from .loading import (
    load_protocol,
    parse_protocol,
    protocol_schema,
)
from .model import (
    Protocol,
    canonical_json,
)
from .statistics import (
    Baseline,
    Bayes,
    Diagnostics,
    Multiplicity,
    OnlineFDR,
    Prior,
    Resampling,
    Threshold,
)
from .submission import (
    EntryPoint,
    Limits,
    Runtime,
    SubmissionSpec,
)
from .task import (
    Correlation,
    MeanScore,
    Metric,
    PlainMetric,
    SetMetric,
    Task,
    UnoC,
)

__all__ = [
    "FORMAT",
    "KINDS",
    "METRICS",
    "MAX_PROTOCOL_BYTES",
    "Protocol",
    "Task",
    "Threshold",
    "Baseline",
    "Resampling",
    "Multiplicity",
    "OnlineFDR",
    "Bayes",
    "Prior",
    "Diagnostics",
    "Leaderboard",
    "LeaderboardFeedback",
    "Publication",
    "load_protocol",
    "parse_protocol",
    "protocol_schema",
    "canonical_json",
    "TRUTH_ROLES",
    "Column",
    "OpenUnit",
    "Slug",
    "Text",
    "EntryPoint",
    "Limits",
    "Runtime",
    "SubmissionSpec",
    "Correlation",
    "MeanScore",
    "Metric",
    "PlainMetric",
    "SetMetric",
    "UnoC",
]

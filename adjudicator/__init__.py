"""adjudicator: decide by preregistered statistics whether a prize-challenge entry crossed
its threshold, and prove it with a signed audit report."""

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
]

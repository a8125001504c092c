"""The exception tree of adjudicator.

Library code raises these; only the command line (`adjudicator.cli`) and the HTTP error
handler turn them into exit codes and statuses. A failed criterion is *not* an exception:
it is data in the verdict. An exception means "could not adjudicate".

::

    AdjudicatorError                 base of everything we raise on purpose
    ├── ProtocolError                a protocol document is invalid (names file and field path)
    ├── InputError                   a truth or submission file is refused (names file, row, id)
    ├── ConfigurationError           a runtime setting (path, URL, key) is unusable
    ├── ComputationError             the statistics cannot produce a defined answer
    │   └── DegenerateResamplingError    replicates undefined or all equal, strata too small
    ├── MultiplicityError            alpha cannot be spent (e.g. past max_submissions)
    └── VerificationError            a report, result or ledger fails verification

Exit codes of the command line: 0 success, 2 bad input or usage (ProtocolError, InputError,
ConfigurationError, MultiplicityError, VerificationError), 1 internal failure (anything
else, ComputationError included).
"""

from __future__ import annotations

__all__ = [
    "AdjudicatorError",
    "ProtocolError",
    "InputError",
    "ConfigurationError",
    "ComputationError",
    "DegenerateResamplingError",
    "MultiplicityError",
    "VerificationError",
]


class AdjudicatorError(Exception):
    """Base class of every error adjudicator raises on purpose."""

    #: exit status of the command line for this kind of error
    exit_code: int = 1


class ProtocolError(AdjudicatorError, ValueError):
    """A protocol document is invalid.

    Parameters
    ----------
    message
        What is wrong, already naming the field path (``threshold.absolute: ...``).
    source
        The file (or other origin) the protocol came from, if any.
    problems
        Every problem found, one line each, when there are several.
    """

    exit_code = 2

    def __init__(
        self, message: str, *, source: str | None = None, problems: tuple[str, ...] = ()
    ) -> None:
        self.source = source
        self.problems = problems or (message,)
        text = f"{source}: {message}" if source else message
        super().__init__(text)


class InputError(AdjudicatorError, ValueError):
    """A truth or submission file is refused; the message names the file and the place."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class ConfigurationError(AdjudicatorError):
    """A runtime setting (path, database URL, key) is unusable."""

    exit_code = 2


class ComputationError(AdjudicatorError):
    """The statistics cannot produce a defined answer for these data."""

    exit_code = 1


class DegenerateResamplingError(ComputationError):
    """Resampling replicates are undefined or carry no information (all equal, NaN)."""


class MultiplicityError(AdjudicatorError):
    """Alpha cannot be spent as asked, e.g. a submission past ``max_submissions``."""

    exit_code = 2


class VerificationError(AdjudicatorError):
    """A report, result, bundle or ledger fails verification."""

    exit_code = 2

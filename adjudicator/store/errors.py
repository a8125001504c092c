"""The store's and the service's branches of the exception tree.

They extend :mod:`adjudicator.errors` (every class is an
:class:`~adjudicator.errors.AdjudicatorError`), so the command line and the HTTP error
handler format them like any other::

    AdjudicatorError
    ├── NotFoundError            the challenge, submission, report ... does not exist
    ├── ConflictError            the request does not fit the current state (phase, duplicate)
    ├── WithheldError            the caller may not read this yet (a result before close)
    ├── WithdrawalRefusedError   a request to delete or hide a submission: never done
    └── InputError
        ├── PayloadTooLargeError     a body or its decompressed content is over the limit
        └── IdempotencyKeyError      an Idempotency-Key reused with a different body

``MultiplicityError`` (from the core) is what a submission past ``max_submissions`` raises.
"""

from __future__ import annotations

from ..errors import AdjudicatorError, InputError

__all__ = ["NotFoundError", "ConflictError", "WithheldError", "WithdrawalRefusedError",
           "PayloadTooLargeError", "IdempotencyKeyError"]


class NotFoundError(AdjudicatorError):
    """The object asked for does not exist (or the caller may not know that it does)."""

    exit_code = 2


class ConflictError(AdjudicatorError):
    """The request does not fit the current state, e.g. submitting to a closed window."""

    exit_code = 2


class WithheldError(AdjudicatorError):
    """The caller may read this object, but not yet: a participant asking for a result of a
    leaderboard challenge before its window closes (HTTP 403)."""

    exit_code = 2


class WithdrawalRefusedError(AdjudicatorError):
    """A request to delete or hide a submission or its result: refused, always (HTTP 405,
    with the methods that are allowed in ``headers``); the attempt is in the ledger."""

    exit_code = 2

    def __init__(self, message: str, *, allow: str = "GET") -> None:
        super().__init__(message)
        self.headers = {"Allow": allow}


class PayloadTooLargeError(InputError):
    """A request body, or what it decompresses to, is larger than allowed."""


class IdempotencyKeyError(InputError):
    """An ``Idempotency-Key`` was used before with a different request body."""

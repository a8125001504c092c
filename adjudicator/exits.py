"""Exceptions to exit codes, for every command line of the package.

``0`` success, ``2`` bad input or usage (an :class:`~adjudicator.errors.AdjudicatorError`
with that ``exit_code``), ``1`` anything unforeseen, reported with its type. The core
commands (:mod:`adjudicator.cli`) and the service's (:mod:`adjudicator.service.commands`)
wrap each command in :func:`guard`; nothing else turns exceptions into exits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import typer

from .errors import AdjudicatorError

__all__ = ["fail", "guard"]

F = TypeVar("F", bound=Callable[..., Any])


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` as the command line reports it and exit with its code."""
    if isinstance(exc, AdjudicatorError):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    typer.echo(f"internal error ({type(exc).__name__}): {exc}", err=True)
    raise typer.Exit(1)


def guard(func: F) -> F:
    """Map our exceptions to exit codes; let typer's own exits through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports everything
            fail(exc)

    return wrapper  # type: ignore[return-value]

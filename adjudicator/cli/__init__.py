"""The ``adjudicator`` command line.

Exit codes, for every command:

* ``0`` success (for ``adjudicate``: the adjudication ran, whatever the verdict);
* ``2`` bad input or usage: an invalid protocol, a refused file, a wrong flag;
* ``1`` internal failure: anything we did not foresee, reported with its type.

(``verify`` has its own: 0 valid, 1 invalid, 2 unusable input.)

Only :mod:`adjudicator.exits` (for every command) and the HTTP error handler turn exceptions
into exit codes and messages.
"""

from __future__ import annotations

import sys

# the order of these imports is the order of the commands in --help
from . import protocols  # noqa: F401  (each module registers its commands)

# isort: split
from . import adjudicating  # noqa: F401

# isort: split
from . import reports  # noqa: F401

# isort: split
from . import demo  # noqa: F401
from ._app import app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``adjudicator``)."""
    try:
        app(args=argv, prog_name="adjudicator")
    except SystemExit as exc:
        code = exc.code
        # click reports usage errors with exit code 2 already; keep every code as is
        sys.exit(code)


# -- commands of the edges, registered last so the core commands come first in --help ---------


def _register_edges() -> None:
    from ..service.bundle_cli import register as bundle_commands  # verify-bundle
    from ..service.commands import register as service_commands  # serve, users, ledger
    from ..service.leaderboard_cli import register as leaderboard_commands

    service_commands(app)
    leaderboard_commands(app)
    bundle_commands(app)


_register_edges()

if __name__ == "__main__":  # pragma: no cover
    main()

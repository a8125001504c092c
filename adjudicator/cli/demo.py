"""``adjudicator demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app, guard

# -- demo ----------------------------------------------------------------------------------


@app.command("demo")
@guard
def demo(
    protocols: Annotated[
        Path, typer.Option(help="folder of preregistered protocols")
    ] = Path("protocols"),
    home: Annotated[
        Path | None, typer.Option(help="home of the demo service (default: a new temporary "
                                       "folder)")
    ] = None,
    reports: Annotated[Path, typer.Option(help="where the signed reports go")] = Path(
        "reports"),
) -> None:
    """Run a real cancer challenge end to end through the HTTP service.

    GBSG2 (recurrence-free survival, from scikit-survival): the committee registers the
    protocol and commits the truth; three teams submit (a strong model, a weak one, many
    small variants); every entry is adjudicated, every report signed, downloaded into
    REPORTS/gbsg2/ and verified with the ledger.
    """
    from ..demo import run_demo

    run_demo(protocols, home=home, reports=reports)

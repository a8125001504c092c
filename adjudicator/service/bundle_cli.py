"""``adjudicator verify-bundle BUNDLE``: check a challenge's results bundle offline
(:func:`adjudicator.service.bundle.verify_bundle`).

:func:`register` adds the commands to the ``adjudicator`` Typer app. Exit codes of
``verify-bundle``: 0 valid, 1 invalid (each problem is named), 2 unusable (not a bundle,
an unreadable key or certificate).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register", "verify_bundle_cmd"]


def verify_bundle_cmd(
    bundle: Annotated[Path, typer.Argument(help="a results bundle (.zip) from "
                                           "GET /challenges/{c}/results/bundle")],
    key: Annotated[Path | None, typer.Option(
        help="the ledger's verifier key (GET /ledger/key); default: the bundle's own")] = None,
    cert: Annotated[Path | None, typer.Option(
        help="the report signing certificate; default: the bundle's own")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Check a results bundle offline: every report verifies, every result is in the
    ledger, and nothing the ledger holds for the challenge is missing from the bundle."""
    from .bundle import BundleVerification, verify_bundle

    try:
        key_text = key.read_text(encoding="utf-8") if key is not None else None
    except OSError as exc:
        outcome = BundleVerification(str(bundle), False, (f"cannot read the key: {exc}",))
    else:
        if cert is not None and not cert.is_file():
            outcome = BundleVerification(str(bundle), False,
                                         (f"cannot read the certificate {cert}",))
        else:
            outcome = verify_bundle(bundle, key=key_text, cert=cert)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(outcome.summary())
    raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``verify-bundle`` to the ``adjudicator`` command line."""
    app.command("verify-bundle")(verify_bundle_cmd)

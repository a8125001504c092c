"""``adjudicator keys``, ``verify`` and ``report ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import app, echo_json, guard
from ._files import KeysOpt, signing_identity, utc_now, write_report

# -- keys, reports and verification ---------------------------------------------------------

keys_app = typer.Typer(help="The signing identity reports are signed with.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
report_app = typer.Typer(help="Render and sign audit and progress reports.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")

@keys_app.command("init")
@guard
def keys_init(
    keys: KeysOpt = None,
    name: Annotated[str, typer.Option(help="the signer's name, shown by PDF readers")] = (
        "adjudicator"),
    organisation: Annotated[str | None, typer.Option(help="organisation in the "
                                                          "certificate")] = None,
    days: Annotated[int, typer.Option(min=1, max=36500, help="certificate validity")] = 3650,
    force: Annotated[bool, typer.Option(help="replace an existing identity")] = False,
) -> None:
    """Create a signing key and self-signed certificate (files 0600).

    Location: --keys, else $ADJUDICATOR_HOME/keys (default ~/.adjudicator/keys). Publish
    signing-cert.pem and minisign.pub so that anyone can verify your reports. A committee
    with its own certificate can sign with a PKCS#12 file instead.
    """
    from ..report import create_signing_identity, default_keys_directory

    folder = keys or default_keys_directory()
    try:
        identity = create_signing_identity(folder, valid_from=utc_now(), name=name,
                                           organisation=organisation, days=days,
                                           overwrite=force)
    except FileExistsError as exc:
        from ..errors import ConfigurationError

        raise ConfigurationError(f"{exc} (use --force to replace it)") from None
    written = identity.directory or Path(folder)  # create_signing_identity sets it
    typer.echo(f"signing identity written to {written}")
    typer.echo(f"  certificate: {written / 'signing-cert.pem'}  (publish it)")
    typer.echo(f"  minisign public key: {written / 'minisign.pub'}")


@app.command("verify")
def verify_cmd(
    report: Annotated[Path, typer.Argument(help="the signed report PDF")],
    cert: Annotated[
        Path | None,
        typer.Option(help="the certificate the report must be signed with (default: the "
                          "local identity's signing-cert.pem)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Verify a signed report offline: signature, whole-file coverage, signer, evidence.

    Exit 0 valid, 1 invalid (with every reason), 2 unusable input (unreadable file or
    certificate). Works with no network and no database.
    """
    import logging

    from ..report import default_keys_directory, verify_report

    # pyHanko logs every failed path-building attempt with a traceback; the reasons that
    # matter are in the result, so keep the terminal to them
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if cert is None:
        local = default_keys_directory() / "signing-cert.pem"
        cert = local if local.exists() else None
        if cert is None:
            typer.echo("note: no --cert and no local identity: nothing is trusted, so a "
                       "self-signed report cannot be valid; pass the signer's certificate",
                       err=True)
    result = verify_report(report, cert=cert)
    if as_json:
        echo_json({"valid": result.valid, "reasons": list(result.reasons),
                    "signer": result.signer, "verdict": result.verdict,
                    "signing_time": str(result.signing_time) if result.signing_time else None,
                    "result_digest": result.result_digest})
    else:
        typer.echo(result.summary())
    raise typer.Exit(result.exit_code)


def _load_results(paths: list[Path]) -> list[dict[str, Any]]:
    from ..errors import InputError

    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.rglob("result.json")) if p.is_dir() else [p])
    if not files:
        raise InputError("no result.json files found")
    out = []
    for f in files:
        try:
            out.append(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not a readable result.json: {exc}", source=str(f)) from None
    return out


ResultsArg = Annotated[
    list[Path], typer.Argument(help="result.json files or folders holding them")
]
OutPdf = Annotated[Path, typer.Option("--out", "-o", help="the PDF to write")]


@report_app.command("certification")
@guard
def report_certification(result: Annotated[Path, typer.Argument(help="a result.json")],
                         out: OutPdf, keys: KeysOpt = None) -> None:
    """Re-render and sign the certification report of one stored result."""
    from ..errors import InputError

    try:
        data = result.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(result)) from None
    write_report(data, out, signing_identity(keys))
    typer.echo(f"wrote {out}")


@report_app.command("audit")
@guard
def report_audit(results: ResultsArg, out: OutPdf, keys: KeysOpt = None) -> None:
    """A participant audit: one team's whole sequence (every submission, score, interval,
    alpha spent and verdict), signed."""
    from ..report import render_audit_report, write_signed_report

    identity = signing_identity(keys)
    docs = _load_results(results)
    try:
        report = render_audit_report(docs)
    except ValueError as exc:
        from ..errors import InputError

        raise InputError(str(exc)) from None
    write_signed_report(report.pdf, out, identity, signing_time=utc_now())
    typer.echo(f"wrote {out} ({len(docs)} submissions)")


@report_app.command("progress")
@guard
def report_progress(
    results: ResultsArg,
    out: OutPdf,
    baseline: Annotated[str, typer.Option(help="the baseline whose value is the start of "
                                               "the gap")],
    keys: KeysOpt = None,
) -> None:
    """A funders' progress report: the best entry per date and the share of the gap
    between the baseline and the threshold it closed, with its interval."""
    from ..errors import InputError
    from ..report import render_progress_report, write_signed_report

    identity = signing_identity(keys)
    docs = _load_results(results)
    first = docs[0]
    points, base_values = [], []
    for d in docs:
        if d["protocol"]["digest"] != first["protocol"]["digest"]:
            raise InputError("results of different protocols cannot share a progress report")
        for b in d.get("baselines", []):
            if b["name"] == baseline:
                base_values.append(b["estimate"])
        points.append({"date": d["timestamps"]["adjudicated_at"][:10],
                       "estimate": d["estimate"], "low": d["interval"]["low"],
                       "high": d["interval"]["high"], "team": d["submission"]["team"],
                       "submission": d["submission"]["name"], "verdict": d["verdict"]})
    if not base_values:
        raise InputError(f"no result carries the baseline {baseline!r}")
    absolute = next((c["bound"] for c in first["criteria"] if c["kind"] == "absolute"), None)
    if absolute is None:
        raise InputError("the protocol has no absolute threshold to measure progress towards")
    challenge = {"title": first["protocol"]["title"], "metric": first["metric"],
                 "baseline": {"name": baseline, "value": base_values[0]},
                 "threshold": absolute,
                 "protocol": {"id": first["protocol"]["id"],
                              "digest": first["protocol"]["digest"]},
                 "confidence": first["interval"]["confidence"]}
    as_of = max(p["date"] for p in points)
    report = render_progress_report(points, challenge=challenge, as_of=as_of)
    write_signed_report(report.pdf, out, identity, signing_time=utc_now())
    typer.echo(f"wrote {out} ({len(points)} adjudications up to {as_of})")

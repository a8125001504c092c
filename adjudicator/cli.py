"""The ``adjudicator`` command line.

Exit codes, for every command:

* ``0`` success (for ``adjudicate``: the adjudication ran, whatever the verdict);
* ``2`` bad input or usage: an invalid protocol, a refused file, a wrong flag;
* ``1`` internal failure: anything we did not foresee, reported with its type.

(``verify`` has its own: 0 valid, 1 invalid, 2 unusable input.)

Only this module and the HTTP error handler turn exceptions into exit codes and messages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import AdjudicatorError
from .protocol import load_protocol, protocol_schema

__all__ = ["app", "main"]

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="adjudicator",
    help=(
        "Decide, by preregistered statistics, whether a prize-challenge entry crossed its "
        "threshold, and prove it with a signed audit report.\n\n"
        "Exit codes: 0 success, 2 bad input or usage, 1 internal failure."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
protocol_app = typer.Typer(
    help="Validate, fingerprint and explain preregistered protocols.", no_args_is_help=True
)
app.add_typer(protocol_app, name="protocol")


def _fail(exc: BaseException) -> None:
    if isinstance(exc, AdjudicatorError):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    typer.echo(f"internal error ({type(exc).__name__}): {exc}", err=True)
    raise typer.Exit(1)


def _guard(func: F) -> F:
    """Map our exceptions to exit codes; let typer's own exits through."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports everything
            _fail(exc)

    return wrapper  # type: ignore[return-value]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))


# -- protocol ------------------------------------------------------------------------------

ProtocolPaths = Annotated[
    list[Path], typer.Argument(help="protocol YAML files", metavar="PATH...")
]
ProtocolPath = Annotated[Path, typer.Argument(help="a protocol YAML file", metavar="PATH")]


@protocol_app.command("validate")
@_guard
def protocol_validate(paths: ProtocolPaths) -> None:
    """Validate protocols strictly; print each digest. Exit 2 if any is invalid.

    Every problem of every file is listed with its field path, e.g.
    ``threshold.baselines[0].margin: must be a number``.
    """
    from .errors import ProtocolError

    failed = 0
    for path in paths:
        try:
            p = load_protocol(path)
        except ProtocolError as exc:
            failed += 1
            typer.echo(f"invalid {exc}", err=True)
            continue
        typer.echo(f"ok      {path}  {p.digest}")
    if failed:
        raise typer.Exit(2)


@protocol_app.command("digest")
@_guard
def protocol_digest(path: ProtocolPath) -> None:
    """Print the protocol's digest (sha256 of its canonical form): its identity forever."""
    typer.echo(load_protocol(path).digest)


@protocol_app.command("show")
@_guard
def protocol_show(
    path: ProtocolPath,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the canonical JSON instead of prose")
    ] = False,
) -> None:
    """Explain a protocol in plain words: task, metric, criteria, statistics."""
    from .describe import describe_protocol

    p = load_protocol(path)
    if as_json:
        _echo_json(json.loads(p.canonical))
        return
    typer.echo(describe_protocol(p))


@protocol_app.command("schema")
@_guard
def protocol_schema_cmd() -> None:
    """Print the JSON Schema of the protocol format (protocol/v1)."""
    _echo_json(protocol_schema())


@protocol_app.command("power")
@_guard
def protocol_power(
    protocol: Annotated[Path, typer.Option("--protocol", help="the protocol YAML file")],
    units: Annotated[int, typer.Option("--units", help="planned number of test units")],
    baseline_value: Annotated[
        float | None,
        typer.Option("--baseline-value", help="the baseline's true metric (also find the "
                     "minimum detectable improvement over it)"),
    ] = None,
    power: Annotated[float, typer.Option("--power", help="required probability of "
                                         "certification")] = 0.8,
    simulations: Annotated[
        int, typer.Option("--simulations", help="simulated test sets per effect")
    ] = 200,
    resamples: Annotated[
        int | None,
        typer.Option("--resamples", help="resamples per simulated test set (default: the "
                     "protocol's, at most 1000)"),
    ] = None,
    positive_share: Annotated[
        float | None, typer.Option("--positive-share", help="binary: share of positives "
                                   "in the synthetic test sets (default 0.5)")
    ] = None,
    censoring: Annotated[
        float, typer.Option("--censoring", help="survival: censored share")
    ] = 0.3,
    score_sd: Annotated[
        float, typer.Option("--score-sd", help="scores: per-unit standard deviation")
    ] = 1.0,
    hazard_strength: Annotated[
        float | None,
        typer.Option("--hazard-strength", help="survival: log-hazard per unit of the latent "
                     "risk; sets the C-index ceiling (default: the smallest of 4, 8, 16 "
                     "whose ceiling clears the targets)"),
    ] = None,
    rows_per_unit: Annotated[
        int, typer.Option("--rows-per-unit", help="per_unit_pearson_mean: rows per unit")
    ] = 20,
    set_size: Annotated[
        float, typer.Option("--set-size", help="sets: mean size of a true set")
    ] = 10.0,
    sequence: Annotated[
        int, typer.Option("--sequence", help="use alpha_k of this submission in its family "
                          "(1 = the first; later ones are stricter under most rules)")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Minimum detectable metric (and improvement) at alpha_k, by simulation.

    The smallest true metric, and with --baseline-value the smallest true improvement over
    the protocol's first baseline, that this protocol certifies with probability --power
    on --units units, simulated from a synthetic family of the task kind with the
    protocol's own metric and resampling. Flags a threshold that cannot be certified.
    Exit 2 for bad input.
    """
    from .power import minimum_detectable

    result = minimum_detectable(
        load_protocol(protocol), units, baseline_value=baseline_value, power=power,
        simulations=simulations, resamples=resamples, positive_share=positive_share,
        censoring=censoring, score_sd=score_sd, hazard_strength=hazard_strength,
        rows_per_unit=rows_per_unit, set_size=set_size, sequence=sequence,
    )
    if as_json:
        _echo_json(result.to_dict())
        return
    typer.echo(result.summary())


# -- scoring and adjudication ---------------------------------------------------------------

result_app = typer.Typer(help="The result.json format.", no_args_is_help=True)
app.add_typer(result_app, name="result")

ProtocolOpt = Annotated[Path, typer.Option("--protocol", "-p", help="the protocol YAML")]
TruthOpt = Annotated[
    Path, typer.Option("--truth", "-t", help="the sequestered truth (CSV or Parquet)")
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", metavar="ADDRESS",
                 help="a Dask scheduler (tcp://host:8786): the resample blocks run on its "
                      "cluster, with the same result (default $ADJUDICATOR_DASK_SCHEDULER; "
                      "none: in this process)"),
]


def _compute(scheduler: str | None) -> Any:
    """Where the heavy work runs (adjudicator.compute), from --scheduler and the settings."""
    from .compute import Compute
    from .settings import load_settings

    return Compute.from_settings(load_settings(dask_scheduler=scheduler))


def _parse_baselines(items: list[str]) -> dict[str, Path]:
    from .errors import InputError

    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--baseline takes NAME=FILE, got {item!r}")
        if name in out:
            raise InputError(f"--baseline {name} is given twice")
        out[name] = Path(path)
    return out


def _read_history(path: Path | None) -> list[dict[str, Any]]:
    """A history file: a JSON list of entries or result.json documents, or a folder of
    result.json files (read in sequence order)."""
    from .errors import InputError

    if path is None:
        return []
    files = sorted(path.rglob("result.json")) if path.is_dir() else [path]
    items: list[dict[str, Any]] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read history: {exc}", source=str(f)) from None
        items.extend(data if isinstance(data, list) else [data])
    if path.is_dir():
        items.sort(key=lambda d: d.get("submission", {}).get("sequence", 0))
    return items


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _progress(done: int, cap: int) -> None:
    typer.echo(f"  resampled {done:,} (cap {cap:,})", err=True)


@app.command("score")
@_guard
def score_cmd(
    protocol: ProtocolOpt,
    truth: TruthOpt,
    predictions: Annotated[
        Path, typer.Option("--predictions", "-s", help="the submission to score")
    ],
    baseline: Annotated[
        list[str], typer.Option("--baseline", "-b", help="NAME=FILE, repeatable")
    ] = [],  # noqa: B006 - typer reads the default
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    scheduler: SchedulerOpt = None,
) -> None:
    """Score a submission: the metric, its interval and each threshold's p-value.

    No verdict and no alpha: this is what a participant audits. The interval and the
    p-values use the protocol's resampling; the seed comes from the digests.
    """
    from .data import read_submission, read_truth

    baseline_files = _parse_baselines(baseline)  # usage errors before any reading
    p = load_protocol(protocol)
    t = read_truth(p, truth)
    s = read_submission(p, predictions, t)
    bl = {n: read_submission(p, f, t) for n, f in baseline_files.items()}
    with _compute(scheduler) as compute:
        result = compute.score(p, t, s, baselines=bl).to_dict()
    if as_json:
        _echo_json(result)
        return
    iv = result["interval"]
    typer.echo(f"{result['metric']} = {result['estimate']:.6g}  "
               f"({iv['confidence']:.0%} {iv['method']} interval {iv['low']:.6g} .. "
               f"{iv['high']:.6g}; {result['n_units']} units, {result['resamples']:,} "
               "resamples)")
    for name, pv in result["p_values"].items():
        typer.echo(f"  p({name}) = {pv['p']:.4g} +/- {pv['mc_se']:.2g} (Monte Carlo)")


@app.command("adjudicate")
@_guard
def adjudicate_cmd(
    protocol: ProtocolOpt,
    truth: TruthOpt,
    submission: Annotated[
        Path, typer.Option("--submission", "-s", help="the submission to adjudicate")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for result.json")],
    baseline: Annotated[
        list[str], typer.Option("--baseline", "-b", help="NAME=FILE for each baseline")
    ] = [],  # noqa: B006
    team: Annotated[str | None, typer.Option(help="the submitting team")] = None,
    history: Annotated[
        Path | None,
        typer.Option(help="the family's earlier submissions: a JSON list or a folder of "
                          "result.json files"),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="write result.json only, no signed PDF")
    ] = False,
    keys: Annotated[
        Path | None,
        typer.Option(help="signing identity folder (default $ADJUDICATOR_HOME/keys)"),
    ] = None,
    scheduler: SchedulerOpt = None,
    split_secret: Annotated[
        str | None,
        typer.Option(help="a protocol with a leaderboard block: the challenge's secret (the "
                          "service publishes it with the final rankings), which fixes the "
                          "split; only the certification units are adjudicated"),
    ] = None,
) -> None:
    """Adjudicate a submission by the protocol: DIR/result.json and a signed DIR/report.pdf.

    The report is signed with the identity made by `adjudicator keys init` (PAdES, plus a
    detached minisign signature report.pdf.minisig). Exit 0 whenever the adjudication ran,
    whatever the verdict; 2 for bad input.
    """
    from .data import read_submission, read_truth

    baseline_files = _parse_baselines(baseline)  # usage errors before any reading
    past = _read_history(history)
    identity = None if no_report else _identity(keys)  # before any computation
    p = load_protocol(protocol)
    t = read_truth(p, truth)
    s = read_submission(p, submission, t)
    bl = {n: read_submission(p, f, t) for n, f in baseline_files.items()}
    split = None
    if split_secret is not None or p.leaderboard is not None:
        from .errors import InputError
        from .leaderboard import split_units

        if p.leaderboard is None:
            raise InputError("--split-secret: the protocol has no leaderboard block")
        if split_secret is None:
            raise InputError("the protocol preregisters a public leaderboard: give "
                             "--split-secret (published with the final rankings) so that "
                             "only the certification units are adjudicated")
        split = split_units(p, t, secret=split_secret)
    with _compute(scheduler) as compute:
        typer.echo(f"adjudicating {submission} under {p.id} v{p.version}"
                   + ("" if compute.where == "process" else f" on {compute.where}"), err=True)
        result = compute.adjudicate(p, t, s, baselines=bl, history=past, team=team,
                                    name=submission.name, progress=_progress, split=split)
    doc = result.to_dict()
    data = _result_bytes(doc)
    _write_atomic(out / "result.json", data)
    if identity is not None:
        _write_report(data, out / "report.pdf", identity)
    for r in result.bayes_results:
        if r.inference_data:
            from .bayes import save_inference_data

            save_inference_data(r, out / f"posterior-{r.baseline}.nc")
    typer.echo(f"{doc['verdict']}  ({out / 'result.json'}"
               + ("" if no_report else f", {out / 'report.pdf'}") + ")")
    for reason in doc["reasons"]:
        typer.echo(f"  - {reason}")


def _result_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


@result_app.command("schema")
@_guard
def result_schema_cmd() -> None:
    """Print the JSON Schema of result.json (result/v1)."""
    from .result_schema import result_schema

    _echo_json(result_schema())


# -- keys, reports and verification ---------------------------------------------------------

keys_app = typer.Typer(help="The signing identity reports are signed with.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
report_app = typer.Typer(help="Render and sign audit and progress reports.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")

KeysOpt = Annotated[
    Path | None,
    typer.Option("--keys", help="identity folder (default $ADJUDICATOR_HOME/keys)"),
]


def _now() -> datetime:
    return datetime.now(UTC)


def _identity(keys: Path | None, pkcs12: Path | None = None) -> Any:
    from .errors import ConfigurationError
    from .report import default_keys_directory, load_signing_identity

    folder = keys or default_keys_directory()
    if pkcs12 is None and not (folder / "signing-key.pem").exists():
        raise ConfigurationError(
            f"no signing identity in {folder}: run `adjudicator keys init` first "
            "(or pass --no-report)"
        )
    try:
        return load_signing_identity(folder, pkcs12=pkcs12)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load the signing identity in {folder}: {exc}") from None


def _write_report(result_bytes: bytes, path: Path, identity: Any) -> None:
    from .report import render_certification_report, write_signed_report

    report = render_certification_report(result_bytes)
    write_signed_report(report.pdf, path, identity, signing_time=_now())


@keys_app.command("init")
@_guard
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
    from .report import create_signing_identity, default_keys_directory

    folder = keys or default_keys_directory()
    try:
        identity = create_signing_identity(folder, valid_from=_now(), name=name,
                                           organisation=organisation, days=days,
                                           overwrite=force)
    except FileExistsError as exc:
        from .errors import ConfigurationError

        raise ConfigurationError(f"{exc} (use --force to replace it)") from None
    typer.echo(f"signing identity written to {identity.directory}")
    typer.echo(f"  certificate: {identity.directory / 'signing-cert.pem'}  (publish it)")
    typer.echo(f"  minisign public key: {identity.directory / 'minisign.pub'}")


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

    from .report import default_keys_directory, verify_report

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
        _echo_json({"valid": result.valid, "reasons": list(result.reasons),
                    "signer": result.signer, "verdict": result.verdict,
                    "signing_time": str(result.signing_time) if result.signing_time else None,
                    "result_digest": result.result_digest})
    else:
        typer.echo(result.summary())
    raise typer.Exit(result.exit_code)


def _load_results(paths: list[Path]) -> list[dict[str, Any]]:
    from .errors import InputError

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
@_guard
def report_certification(result: Annotated[Path, typer.Argument(help="a result.json")],
                         out: OutPdf, keys: KeysOpt = None) -> None:
    """Re-render and sign the certification report of one stored result."""
    from .errors import InputError

    try:
        data = result.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(result)) from None
    _write_report(data, out, _identity(keys))
    typer.echo(f"wrote {out}")


@report_app.command("audit")
@_guard
def report_audit(results: ResultsArg, out: OutPdf, keys: KeysOpt = None) -> None:
    """A participant audit: one team's whole sequence (every submission, score, interval,
    alpha spent and verdict), signed."""
    from .report import render_audit_report, write_signed_report

    identity = _identity(keys)
    docs = _load_results(results)
    try:
        report = render_audit_report(docs)
    except ValueError as exc:
        from .errors import InputError

        raise InputError(str(exc)) from None
    write_signed_report(report.pdf, out, identity, signing_time=_now())
    typer.echo(f"wrote {out} ({len(docs)} submissions)")


@report_app.command("progress")
@_guard
def report_progress(
    results: ResultsArg,
    out: OutPdf,
    baseline: Annotated[str, typer.Option(help="the baseline whose value is the start of "
                                               "the gap")],
    keys: KeysOpt = None,
) -> None:
    """A funders' progress report: the best entry per date and the share of the gap
    between the baseline and the threshold it closed, with its interval."""
    from .errors import InputError
    from .report import render_progress_report, write_signed_report

    identity = _identity(keys)
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
    write_signed_report(report.pdf, out, identity, signing_time=_now())
    typer.echo(f"wrote {out} ({len(points)} adjudications up to {as_of})")


# -- demo ----------------------------------------------------------------------------------


@app.command("demo")
@_guard
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
    from .demo import run_demo

    run_demo(protocols, home=home, reports=reports)


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
    from .service.bundle_cli import register as bundle_commands  # verify-bundle
    from .service.commands import register as service_commands  # serve, users, ledger
    from .service.leaderboard_cli import register as leaderboard_commands

    service_commands(app)
    leaderboard_commands(app)
    bundle_commands(app)


_register_edges()

if __name__ == "__main__":  # pragma: no cover
    main()

"""``adjudicator score``, ``adjudicate`` and ``result schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..protocol import load_protocol
from ._app import app, echo_json, guard
from ._files import result_bytes, signing_identity, write_atomic, write_report

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
    from ..compute import Compute
    from ..settings import load_settings

    return Compute.from_settings(load_settings(dask_scheduler=scheduler))


def _parse_baselines(items: list[str]) -> dict[str, Path]:
    from ..errors import InputError

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
    from ..errors import InputError

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


def _progress(done: int, cap: int) -> None:
    typer.echo(f"  resampled {done:,} (cap {cap:,})", err=True)


@app.command("score")
@guard
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
    from ..data import read_submission, read_truth

    baseline_files = _parse_baselines(baseline)  # usage errors before any reading
    p = load_protocol(protocol)
    t = read_truth(p, truth)
    s = read_submission(p, predictions, t)
    bl = {n: read_submission(p, f, t) for n, f in baseline_files.items()}
    with _compute(scheduler) as compute:
        result = compute.score(p, t, s, baselines=bl).to_dict()
    if as_json:
        echo_json(result)
        return
    iv = result["interval"]
    shown = ("no interval" if iv["low"] is None else
             f"{iv['confidence']:.0%} {iv['method']} interval {iv['low']:.6g} .. "
             f"{iv['high']:.6g}")
    typer.echo(f"{result['metric']} = {result['estimate']:.6g}  ({shown}; "
               f"{result['n_units']} units, {result['resamples']:,} resamples)")
    for name, pv in result["p_values"].items():
        if pv["p"] is None:  # a degenerate bootstrap: no p-value, and why
            typer.echo(f"  p({name}): none, {pv['degenerate']}")
        else:
            typer.echo(f"  p({name}) = {pv['p']:.4g} +/- {pv['mc_se']:.2g} (Monte Carlo)")
    if iv["low"] is None and "absolute" not in result["p_values"]:
        typer.echo(f"  no interval: {iv['degenerate']}")


@app.command("adjudicate")
@guard
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
    from ..data import read_submission, read_truth

    baseline_files = _parse_baselines(baseline)  # usage errors before any reading
    past = _read_history(history)
    identity = None if no_report else signing_identity(keys)  # before any computation
    p = load_protocol(protocol)
    t = read_truth(p, truth)
    s = read_submission(p, submission, t)
    bl = {n: read_submission(p, f, t) for n, f in baseline_files.items()}
    split = None
    if split_secret is not None or p.leaderboard is not None:
        from ..errors import InputError
        from ..leaderboard import split_units

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
    data = result_bytes(doc)
    write_atomic(out / "result.json", data)
    if identity is not None:
        write_report(data, out / "report.pdf", identity)
    for r in result.bayes_results:
        if r.inference_data:
            from ..bayes import save_inference_data

            save_inference_data(r, out / f"posterior-{r.baseline}.nc")
    typer.echo(f"{doc['verdict']}  ({out / 'result.json'}"
               + ("" if no_report else f", {out / 'report.pdf'}") + ")")
    for reason in doc["reasons"]:
        typer.echo(f"  - {reason}")


@result_app.command("schema")
@guard
def result_schema_cmd() -> None:
    """Print the JSON Schema of result.json (result/v1)."""
    from ..result_schema import result_schema

    echo_json(result_schema())

"""``adjudicator leaderboard CHALLENGE``: the public board, or ``--final`` rankings, read from
the local store (the settings of ``ADJUDICATOR_*``), as a table or ``--json``.

:func:`register` adds the command to the ``adjudicator`` Typer app. Exit codes: 0 success,
2 bad input or usage (no such challenge, no leaderboard, window still open), 1 internal
failure.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from ..errors import AdjudicatorError

__all__ = ["register", "leaderboard", "format_board", "format_final"]


def _value(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "inf" if math.isinf(v) else f"{v:.4g}"
    return str(v)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [header] + [[_value(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in cells)


def format_board(view: dict[str, Any]) -> str:
    """The public board as text: rank, team, shown value, submissions (and budget left)."""
    fb = view["feedback"]
    lines = [f"{view['challenge']} ({view['phase']}): {view['metric']}, "
             f"{'higher' if view['higher_is_better'] else 'lower'} is better; feedback "
             f"{fb['mechanism']}, scope {view['scope']}"]
    if view.get("note"):
        lines.append(view["note"])
    budget = fb["mechanism"] == "thresholdout"
    header = ["rank", "team", "shown", "submissions"] + (["budget left"] if budget else [])
    rows = [[t["rank"], t["team"], t["shown"], t["submissions"]]
            + ([t.get("budget_left")] if budget else []) for t in view["teams"]]
    lines.append(_table(header, rows))
    return "\n".join(lines)


def format_final(view: dict[str, Any]) -> str:
    """The final rankings as text: rank, group, entry, estimate, K, rank interval."""
    r = view["ranking"]
    lines = [f"{view['challenge']}: final rankings on the {r['part']} units "
             f"({r['n_units']} units, {r['valid_resamples']} resamples); tied when K <= "
             f"{r['tie_bayes_factor']}"]
    rows = [[e["rank"], e["group"], e["name"], e["estimate"], e["bayes_factor"],
             f"{e['rank_interval'][0]}-{e['rank_interval'][1]}"] for e in r["entries"]]
    lines.append(_table(["rank", "group", "entry", "estimate", "K vs leader",
                         "95% rank interval"], rows))
    return "\n".join(lines)


def leaderboard(
    challenge: Annotated[str, typer.Argument(help="the challenge id")],
    final: Annotated[bool, typer.Option("--final", help="final rankings (after the window "
                                        "closes) instead of the public board")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    resamples: Annotated[int | None, typer.Option(help="--final: bootstrap resamples "
                                                  "(default: the protocol's)")] = None,
) -> None:
    """Show a challenge's public leaderboard as its feedback mechanism allows, or --final."""
    from ..settings import load_settings
    from ..store import open_store
    from . import boards
    from .runtime import Runtime

    try:
        settings = load_settings()
        rt = Runtime(settings=settings, store=open_store(settings))
        try:
            view = (boards.final_ranking(rt, challenge, resamples=resamples) if final
                    else boards.public_board(rt, challenge))
        finally:
            rt.store.close()
    except AdjudicatorError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        typer.echo(json.dumps(view, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        typer.echo(format_final(view) if final else format_board(view))


def register(app: typer.Typer) -> None:
    """Add ``leaderboard`` to the ``adjudicator`` command line."""
    app.command("leaderboard")(leaderboard)

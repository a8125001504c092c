"""Report contexts: one plain, JSON-serialisable dict per report, built by one function each.

The same context feeds the PDF templates here and, later, the web pages and the JSON
endpoint (STYLE 12), so it holds *values*, not markup: numbers stay numbers (formatting is
done by the template filters in :mod:`adjudicator.report.format`), missing fields become
``None``, and nothing here reads a clock or a file.

The input result shape (``result/v1``) is still growing; every access is tolerant:
an absent section gives ``None`` or an empty list, never an exception. What *is* checked:
the input must be a mapping (a list for the audit), because anything else is a caller's bug.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "EVIDENCE_INFO_KEY",
    "EVIDENCE_NAMES",
    "canonical_json_bytes",
    "certification_context",
    "audit_context",
    "audit_evidence",
    "progress_context",
]

#: Key of the document information entry that records the embedded evidence and its digest
#: (``"result.json sha256:<hex>"``).
EVIDENCE_INFO_KEY = "AdjudicatorEvidence"

#: The name of the attachment each kind of report embeds.
EVIDENCE_NAMES = {
    "certification": "result.json",
    "audit": "audit.json",
    "progress": "progress.json",
}

_VERDICTS = {
    "CERTIFIED": ("Certified", "certified"),
    "NOT_CERTIFIED": ("Not certified", "not-certified"),
    "INCONCLUSIVE": ("Inconclusive", "inconclusive"),
}

_METRIC_LABELS = {
    "harrell_c": "Harrell's C-index",
    "uno_c": "Uno's C-index",
    "auroc": "AUROC",
    "auprc": "AUPRC",
    "brier": "Brier score",
    "integrated_brier": "integrated Brier score",
    "log_loss": "log loss",
    "accuracy": "accuracy",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
    "f1": "F1 score",
    "spearman": "Spearman correlation",
}

_INTERVAL_METHODS = {"bca": "BCa bootstrap", "percentile": "percentile bootstrap",
                     "basic": "basic bootstrap", "studentized": "studentized bootstrap"}

_KIND_LABELS = {"absolute": "absolute threshold", "baseline": "beat a baseline",
                "relative": "beat a baseline", "bayes": "Bayesian comparison"}

_SUMMARY_LABELS = {
    "events": "events",
    "censored_share": "censored (share)",
    "censoring_share": "censored (share)",
    "censored": "censored",
    "positives": "positives",
    "negatives": "negatives",
    "prevalence": "prevalence",
    "strata": "strata",
    "clusters": "clusters",
    "median_follow_up_days": "median follow-up (days)",
}

_SHARE_KEYS = {"censored_share", "censoring_share", "prevalence"}


def canonical_json_bytes(value: Any) -> bytes:
    """The bytes we embed for a JSON value given as an object: sorted keys, 2-space indent,
    UTF-8, no NaN, one final newline. (Pass the exact bytes instead to embed a file as is.)"""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _verdict(value: Any) -> dict[str, Any]:
    code = _text(value) or "UNKNOWN"
    label, css = _VERDICTS.get(code, (code.replace("_", " ").capitalize(), "unknown"))
    return {"code": code, "label": label, "css": css}


def _metric(result: Mapping[str, Any]) -> dict[str, Any]:
    metric = _map(result.get("metric"))
    name = _text(metric.get("name"))
    hib = metric.get("higher_is_better")
    return {
        "name": name,
        "label": _METRIC_LABELS.get(name or "", name or "metric"),
        "higher_is_better": hib if isinstance(hib, bool) else True,
    }


def _interval(value: Any) -> dict[str, Any] | None:
    interval = _map(value)
    if not interval:
        return None
    method = _text(interval.get("method"))
    return {
        "method": method,
        "method_label": _INTERVAL_METHODS.get(method or "", method),
        "confidence": _num(interval.get("confidence")),
        "low": _num(interval.get("low")),
        "high": _num(interval.get("high")),
    }


def _summary_items(summary: Any) -> list[dict[str, Any]]:
    items = []
    for key, value in _map(summary).items():
        label = _SUMMARY_LABELS.get(key, str(key).replace("_", " "))
        if isinstance(value, Mapping):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
            kind = "text"
        elif key in _SHARE_KEYS and _num(value) is not None:
            kind = "share"
        elif _num(value) is not None:
            kind = "number"
        else:
            value, kind = _text(value), "text"
        items.append({"label": label, "value": value, "kind": kind})
    return items


def _diagnostic_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return value if isinstance(value, str) or value is None else _num(value)


def _criterion(raw: Any) -> dict[str, Any]:
    c = _map(raw)
    kind = _text(c.get("kind")) or "criterion"
    passed = c.get("passed")
    diagnostics = _map(c.get("diagnostics"))
    # ROPE: a half-width (number) around the margin, or the engine's block
    # {low, high, below, inside, above}; shares may also come as `rope_shares`.
    rope = c.get("rope")
    bound = _num(c.get("bound", c.get("margin")))
    rope_interval = None
    shares = {str(k): _num(v) for k, v in _map(c.get("rope_shares")).items()}
    if isinstance(rope, Mapping):
        low, high = _num(rope.get("low")), _num(rope.get("high"))
        if low is not None and high is not None:
            rope_interval = [low, high]
        shares = shares or {k: _num(rope.get(k)) for k in ("below", "inside", "above")
                            if rope.get(k) is not None}
        half = None if rope_interval is None else (high - low) / 2  # type: ignore[operator]
    else:
        half = _num(rope)
        if half is not None and bound is not None:
            rope_interval = [bound - half, bound + half]
    summary = _map(c.get("summary"))
    hdi = _list(summary.get("hdi"))
    return {
        "name": _text(c.get("name")) or kind,
        "kind": kind,
        "kind_label": _KIND_LABELS.get(kind, kind),
        "baseline": _text(c.get("baseline")),
        "statistic": _num(c.get("statistic")),
        "bound": bound,
        "p_value": _num(c.get("p_value")),
        "alpha": _num(c.get("alpha")),
        "mc_error": _num(c.get("mc_error")),
        "probability": _num(c.get("probability")),
        "probability_mcse": _num(c.get("probability_mcse")),
        "min_probability": _num(c.get("min_probability")),
        "model": _text(c.get("model")),
        "prior": _text(c.get("prior")),
        "posterior_mean": _num(summary.get("mean")),
        "posterior_sd": _num(summary.get("sd")),
        "hdi": [_num(hdi[0]), _num(hdi[1])] if len(hdi) == 2 else None,
        "hdi_prob": _num(summary.get("hdi_prob")),
        "rope": half,
        "rope_interval": rope_interval,
        "rope_shares": shares,
        "diagnostics": [
            {"name": str(k), "value": _diagnostic_value(v)} for k, v in diagnostics.items()
        ],
        "has_posterior": bool(c.get("posterior")),
        "passed": passed if isinstance(passed, bool) else None,
        "status": "pass" if passed is True else "fail" if passed is False else "undecided",
        "reason": _text(c.get("reason")),
    }


def _multiplicity(result: Mapping[str, Any]) -> dict[str, Any] | None:
    m = _map(result.get("multiplicity"))
    if not m:
        return None
    sequence = m.get("sequence", _map(result.get("submission")).get("sequence"))
    rows: list[dict[str, Any]] = []
    for h in _list(m.get("history")):
        h = _map(h)
        rows.append({"sequence": h.get("sequence"), "alpha": _num(h.get("alpha")),
                     "verdict": _verdict(h.get("verdict")) if h.get("verdict") else None,
                     "current": False})
    rows.append({"sequence": sequence, "alpha": _num(m.get("alpha_k")),
                 "verdict": _verdict(result.get("verdict")), "current": True})
    spent = float(sum(r["alpha"] for r in rows if r["alpha"] is not None))
    spent_before, alpha_k = _num(m.get("spent_before")), _num(m.get("alpha_k"))
    if spent_before is not None and alpha_k is not None:
        spent = spent_before + alpha_k
    return {
        "rule": _text(m.get("rule")),
        "family": _text(m.get("family")),
        "alpha": _num(m.get("alpha")),
        "alpha_k": _num(m.get("alpha_k")),
        "sequence": sequence,
        "rows": rows,
        "spent": spent,
        "remaining": _num(m.get("remaining")),
        "max_submissions": m.get("max_submissions"),
        "split": _text(m.get("split")),
    }


def _plain(value: Any) -> str | None:
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return _text(value)


def _baselines(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for b in _list(result.get("baselines")):
        b = _map(b)
        rows.append({"name": _text(b.get("name")), "estimate": _num(b.get("estimate")),
                     "difference": _num(b.get("difference")),
                     "interval": _interval(b.get("interval"))})
    return rows


def _reproducibility(result: Mapping[str, Any]) -> dict[str, Any]:
    r = _map(result.get("reproducibility"))
    known = ("seed", "resamples", "block_size", "code_version")
    items = [{"label": k.replace("_", " "), "value": _plain(r.get(k))} for k in known
             if r.get(k) is not None]
    for key, value in r.items():
        if key in known or key in ("packages", "conventions"):
            continue
        items.append({"label": str(key).replace("_", " "), "value": _plain(value)})
    conventions = [{"name": str(k), "value": _plain(v)}
                   for k, v in _map(r.get("conventions")).items()]
    packages = [{"name": str(k), "version": _text(v)} for k, v in
                sorted(_map(r.get("packages")).items(), key=lambda kv: str(kv[0]))]
    return {"items": items, "conventions": conventions, "packages": packages}


def _submission(result: Mapping[str, Any]) -> dict[str, Any]:
    s = _map(result.get("submission"))
    return {"team": _text(s.get("team")), "name": _text(s.get("name")),
            "sequence": s.get("sequence"), "digest": _text(s.get("digest")),
            "received_at": _text(s.get("received_at"))}


def _run(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """Model to data: the sandboxed run that wrote the predictions (None for an upload)."""
    run = result.get("run")
    if not isinstance(run, Mapping):
        return None
    digests = _map(run.get("digests"))
    usage = _map(run.get("usage"))
    sandbox = _map(run.get("sandbox"))
    return {
        "format": _text(run.get("format")),
        "status": _text(run.get("status")),
        "reason": _text(run.get("reason")),
        "digests": [{"name": name, "value": _text(digests.get(key))} for name, key in (
            ("code", "code"), ("runtime", "runtime"), ("inputs", "inputs"),
            ("inputs file", "inputs_file"), ("predictions file", "output"))
            if digests.get(key) is not None],
        "usage": {"wall_seconds": _num(usage.get("wall_seconds")),
                  "cpu_seconds": _num(usage.get("cpu_seconds")),
                  "max_rss_mb": _num(usage.get("max_rss_mb"))},
        "limits": [{"name": str(k).replace("_", " "), "value": _plain(v)}
                   for k, v in _map(run.get("limits")).items()],
        "sandbox": [{"name": str(k), "value": _plain(v)} for k, v in sandbox.items()
                    if v is not None],
        "exit_status": run.get("exit_status"),
        "started_at": _text(run.get("started_at")),
    }


def _protocol(result: Mapping[str, Any]) -> dict[str, Any]:
    p = _map(result.get("protocol"))
    return {"id": _text(p.get("id")), "version": p.get("version"),
            "title": _text(p.get("title")), "summary": _text(p.get("summary")),
            "digest": _text(p.get("digest"))}


def certification_context(
    result: Mapping[str, Any],
    *,
    evidence: bytes | None = None,
    ledger: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The context of a certification report for one ``result/v1`` mapping.

    Parameters
    ----------
    result
        The adjudication result.
    evidence
        The exact bytes embedded as ``result.json``; default: :func:`canonical_json_bytes`
        of ``result``. Its sha256 is printed in the report and recorded in the PDF.
    ledger
        The ledger position the report is issued under (``head``, optionally ``sequence``),
        when the service issues it; default: the result's own ``ledger`` block, if any.
    """
    if not isinstance(result, Mapping):
        raise TypeError(f"`result` must be a mapping, got {type(result).__name__}")
    data = canonical_json_bytes(result) if evidence is None else evidence
    truth = _map(result.get("truth"))
    criteria = [_criterion(c) for c in _list(result.get("criteria"))]
    timestamps = _map(result.get("timestamps"))
    ledger = _map(ledger if ledger is not None else result.get("ledger"))
    issued_at = _text(timestamps.get("adjudicated_at"))
    return {
        "kind": "certification",
        "title": "Certification report",
        "issued_at": issued_at,
        "format": _text(result.get("adjudicator")),
        "verdict": _verdict(result.get("verdict")),
        "reasons": [_text(r) for r in _list(result.get("reasons"))],
        "protocol": _protocol(result),
        "truth": {"digest": _text(truth.get("digest")), "n_units": truth.get("n_units"),
                  "committed_at": _text(truth.get("committed_at")),
                  "summary": _summary_items(truth.get("summary"))},
        "submission": _submission(result),
        "run": _run(result),
        "metric": _metric(result),
        "estimate": _num(result.get("estimate")),
        "standard_error": _num(result.get("standard_error")),
        "interval": _interval(result.get("interval")),
        "baselines": _baselines(result),
        "criteria": [c for c in criteria if c["kind"] != "bayes"],
        "bayes": [c for c in criteria if c["kind"] == "bayes"],
        "bayes_diagnostic_names": list(dict.fromkeys(
            d["name"] for c in criteria if c["kind"] == "bayes" for d in c["diagnostics"])),
        "multiplicity": _multiplicity(result),
        "reproducibility": _reproducibility(result),
        "ledger": {"head": _text(ledger.get("head")), "sequence": ledger.get("sequence")}
        if ledger else None,
        "evidence": {"name": EVIDENCE_NAMES["certification"], "sha256": _sha256(data),
                     "bytes": len(data)},
    }


def audit_context(
    results: Sequence[Mapping[str, Any]], *, evidence: bytes | None = None
) -> dict[str, Any]:
    """The context of a participant audit: one team's submissions, in sequence order.

    Raises
    ------
    ValueError
        No results, or results of more than one team or protocol.
    """
    if isinstance(results, Mapping | str) or not isinstance(results, Sequence):
        raise TypeError("`results` must be a sequence of result mappings")
    if not results:
        raise ValueError("`results` must hold at least one result")
    teams = {_text(_map(r.get("submission")).get("team")) for r in results}
    protocols = {_text(_map(r.get("protocol")).get("digest")) for r in results}
    if len(teams) != 1:
        raise ValueError(f"`results` must belong to one team, got {len(teams)}")
    if len(protocols) != 1:
        raise ValueError(f"`results` must belong to one protocol, got {len(protocols)}")
    ordered = sorted(results, key=lambda r: _seq_key(_map(r.get("submission")).get("sequence")))
    data = canonical_json_bytes(audit_evidence(ordered)) if evidence is None else evidence
    rows: list[dict[str, Any]] = []
    spent = 0.0
    for r in ordered:
        m = _map(r.get("multiplicity"))
        alpha_k = _num(m.get("alpha_k"))
        spent += alpha_k or 0.0
        criteria = [_criterion(c) for c in _list(r.get("criteria"))]
        rows.append({
            "submission": _submission(r),
            "adjudicated_at": _text(_map(r.get("timestamps")).get("adjudicated_at")),
            "estimate": _num(r.get("estimate")),
            "interval": _interval(r.get("interval")),
            "alpha_k": alpha_k,
            "alpha_spent": spent,
            "criteria": criteria,
            "verdict": _verdict(r.get("verdict")),
            "reasons": [_text(x) for x in _list(r.get("reasons"))],
        })
    last = ordered[-1]
    # the family's rule and alpha from the latest result that records them
    m = next((_map(r.get("multiplicity")) for r in reversed(ordered)
              if _map(r.get("multiplicity"))), {})
    dates = [row["adjudicated_at"] for row in rows if row["adjudicated_at"]]
    absolute = next((c for c in rows[-1]["criteria"] if c["kind"] == "absolute"), None)
    return {
        "kind": "audit",
        "title": "Participant audit",
        "issued_at": max(dates) if dates else None,
        "team": next(iter(teams)),
        "protocol": _protocol(last),
        "metric": _metric(last),
        "threshold": absolute["bound"] if absolute else None,
        "family": {"rule": _text(m.get("rule")), "family": _text(m.get("family")),
                   "alpha": _num(m.get("alpha"))},
        "rows": rows,
        "certified": any(row["verdict"]["code"] == "CERTIFIED" for row in rows),
        "certified_sequences": [row["submission"]["sequence"] for row in rows
                                if row["verdict"]["code"] == "CERTIFIED"],
        "evidence": {"name": EVIDENCE_NAMES["audit"], "sha256": _sha256(data),
                     "bytes": len(data)},
    }


def audit_evidence(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What an audit report embeds: the results it was made from, in sequence order."""
    ordered = sorted(results, key=lambda r: _seq_key(_map(r.get("submission")).get("sequence")))
    return {"adjudicator": "audit/v1", "results": list(ordered)}


def progress_context(
    points: Sequence[Mapping[str, Any]],
    *,
    challenge: Mapping[str, Any],
    as_of: str,
    evidence: bytes | None = None,
    results: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The context of a progress report: how much of the gap the field has closed.

    Parameters
    ----------
    points
        One mapping per adjudicated entry: ``date`` (ISO date), ``estimate``, ``low`` and
        ``high`` (its interval), and optionally ``team``, ``submission``, ``verdict``.
    challenge
        ``title``, ``metric`` (``name``, ``higher_is_better``), ``baseline`` (``name``,
        ``value``) and ``threshold`` (the metric value that certifies); optionally
        ``protocol`` (``id``, ``digest``) and ``confidence``.
    as_of
        The date the report speaks for (printed; never the clock).
    results
        Optionally, the open results: every adjudication of every team, failures
        included (rows of :data:`adjudicator.service.open_results.FIELDS`), listed in
        full after the best entries, so the report shows what did not work as well.

    For each date the best entry of that date is listed; ``state of the art`` is the best
    entry so far. The share of the gap closed is ``(estimate - baseline) / (threshold -
    baseline)``, a monotone map, so the interval of the share is the mapped interval.

    Raises
    ------
    ValueError
        Baseline equals threshold, a point lacks a date or an estimate.
    """
    if not isinstance(challenge, Mapping):
        raise TypeError("`challenge` must be a mapping")
    if isinstance(points, Mapping | str) or not isinstance(points, Sequence):
        raise TypeError("`points` must be a sequence of mappings")
    baseline = _map(challenge.get("baseline"))
    b = _num(baseline.get("value"))
    t = _num(challenge.get("threshold"))
    if b is None or t is None:
        raise ValueError("`challenge` needs numeric `baseline.value` and `threshold`")
    if b == t:
        raise ValueError("`challenge.threshold` must differ from `baseline.value`")
    metric = _metric(challenge)
    sign = 1.0 if metric["higher_is_better"] else -1.0

    def share(x: float | None) -> float | None:
        return None if x is None else (x - b) / (t - b)

    by_date: dict[str, list[Mapping[str, Any]]] = {}
    for i, p in enumerate(points):
        p = _map(p)
        date, est = _text(p.get("date")), _num(p.get("estimate"))
        if not date or est is None:
            raise ValueError(f"`points[{i}]` needs a `date` and a numeric `estimate`")
        by_date.setdefault(date, []).append(p)
    rows: list[dict[str, Any]] = []
    best_so_far: dict[str, Any] | None = None
    for date in sorted(by_date):
        best = max(by_date[date], key=lambda p: sign * float(p["estimate"]))
        lo, hi = share(_num(best.get("low"))), share(_num(best.get("high")))
        row = {
            "date": date,
            "entries": len(by_date[date]),
            "team": _text(best.get("team")),
            "submission": _text(best.get("submission")),
            "verdict": _verdict(best.get("verdict")) if best.get("verdict") else None,
            "estimate": float(best["estimate"]),
            "low": _num(best.get("low")),
            "high": _num(best.get("high")),
            "share": share(float(best["estimate"])),
            "share_low": None if lo is None or hi is None else min(lo, hi),
            "share_high": None if lo is None or hi is None else max(lo, hi),
        }
        row["record"] = best_so_far is None or row["share"] > best_so_far["share"]
        if row["record"]:
            best_so_far = row
        row["state_of_the_art"] = best_so_far["share"] if best_so_far else None
        rows.append(row)
    protocol = _map(challenge.get("protocol"))
    listed = [_open_result(r) for r in results] if results is not None else None
    if evidence is None:
        doc: dict[str, Any] = {"adjudicator": "progress/v1", "as_of": as_of,
                               "challenge": dict(challenge), "points": list(points)}
        if results is not None:
            doc["results"] = [dict(r) for r in results]
        evidence = canonical_json_bytes(doc)
    data = evidence
    return {
        "kind": "progress",
        "title": "Progress report",
        "issued_at": as_of,
        "challenge": {"title": _text(challenge.get("title")),
                      "confidence": _num(challenge.get("confidence"))},
        "protocol": {"id": _text(protocol.get("id")), "version": protocol.get("version"),
                     "title": _text(challenge.get("title")), "summary": None,
                     "digest": _text(protocol.get("digest"))},
        "metric": metric,
        "baseline": {"name": _text(baseline.get("name")) or "baseline", "value": b},
        "threshold": t,
        "rows": rows,
        "best": best_so_far,
        "n_entries": sum(len(v) for v in by_date.values()),
        "results": listed,
        "evidence": {"name": EVIDENCE_NAMES["progress"], "sha256": _sha256(data),
                     "bytes": len(data)},
    }


def _open_result(row: Mapping[str, Any]) -> dict[str, Any]:
    """One open result as the progress report lists it (text is escaped by the template)."""
    row = _map(row)
    status = _text(row.get("status")) or "pending"
    return {
        "submission": row.get("submission"),
        "team": _text(row.get("team")),
        "sequence": row.get("sequence"),
        "date": (_text(row.get("adjudicated_at")) or _text(row.get("received_at")) or "")[:10],
        "status": status,
        "verdict": _verdict(row.get("verdict")) if row.get("verdict") else None,
        "estimate": _num(row.get("estimate")),
        "low": _num(row.get("interval_low")),
        "high": _num(row.get("interval_high")),
        "alpha": _num(row.get("alpha_spent")),
        "bayes": _num(row.get("bayes_probability")),
        "error": _text(row.get("error")),
        "note": _text(row.get("note")),
    }


def _seq_key(value: Any) -> tuple[int, float]:
    n = _num(value)
    return (0, n) if n is not None else (1, 0.0)

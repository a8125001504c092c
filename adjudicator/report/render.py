"""HTML templates -> PDF with WeasyPrint, safely and deterministically.

Safety. Every template is autoescaped, so a team called ``<img src="file:///etc/passwd">``
is printed as those characters. WeasyPrint's URL fetcher is replaced by one that serves
exactly the ``data:`` URIs this module created for its own figures and refuses every other
URL or path (``file:``, ``http:``, relative paths, other ``data:`` URIs) without touching
the file system or the network. The HTML has no base URL, and fonts come from the system's
fontconfig (no ``@font-face``), so nothing is fetched to draw a page.

Determinism. Dates come from the input (the result's ``adjudicated_at``, the audit's last
adjudication, the progress report's ``as_of``), never from the clock; the PDF ``/ID`` is
derived from the evidence digest; the attachment dates are the report date; figures are
deterministic SVG; font subsets carry the report date (``SOURCE_DATE_EPOCH`` while the PDF
is written). The same input on the same installation gives the same bytes.

Evidence. Each PDF embeds its input as a PDF/A-3 associated file (``/AFRelationship
/Source``): ``result.json``, ``audit.json`` or ``progress.json``. Its sha256 is printed in
the report and recorded in the document information dictionary under
``/AdjudicatorEvidence`` (``result.json sha256:<hex>``), which :func:`verify_report` checks
against the attachment's bytes. The document declares PDF/A-3b (WeasyPrint's variant);
signing adds an incremental update and does not change the declaration. We have not run a
PDF/A validator (veraPDF) on it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pydyf
from jinja2 import Environment, PackageLoader, StrictUndefined
from weasyprint import CSS, HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .. import __version__
from . import figures
from .context import (
    EVIDENCE_INFO_KEY,
    audit_context,
    audit_evidence,
    canonical_json_bytes,
    certification_context,
    progress_context,
)
from .format import FILTERS

__all__ = [
    "EVIDENCE_INFO_KEY",
    "EmbeddedOnlyFetcher",
    "RenderedReport",
    "render_certification_report",
    "render_audit_report",
    "render_progress_report",
    "render_html",
    "template_environment",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_logger = logging.getLogger(__name__)
_ENVIRONMENT_LOCK = threading.Lock()
#: the figures a template may show (absent ones are None and left out)
_FIGURES = ("bootstrap", "posterior", "alpha", "estimates", "progress")


@contextlib.contextmanager
def _source_date_epoch(moment: dt.datetime) -> Iterator[None]:
    # Without libharfbuzz-subset, WeasyPrint subsets fonts with fontTools, which stamps
    # the font's `head.modified` with the clock unless SOURCE_DATE_EPOCH is set (the
    # reproducible-builds convention). Set it to the report date while the PDF is written.
    with _ENVIRONMENT_LOCK:
        previous = os.environ.get("SOURCE_DATE_EPOCH")
        os.environ["SOURCE_DATE_EPOCH"] = str(max(int(moment.timestamp()), 0))
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("SOURCE_DATE_EPOCH", None)
            else:
                os.environ["SOURCE_DATE_EPOCH"] = previous


@dataclass(frozen=True)
class RenderedReport:
    """An unsigned report: the PDF bytes, the context it was drawn from, its evidence."""

    pdf: bytes = field(repr=False)
    context: dict[str, Any] = field(repr=False)
    evidence_name: str
    evidence: bytes = field(repr=False)
    #: URLs the document asked for and the renderer refused (empty for our templates)
    refused_urls: tuple[str, ...] = ()

    @property
    def evidence_sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.evidence).hexdigest()


class URLRefused(ValueError):
    """Raised inside WeasyPrint for every URL the report may not load."""


class EmbeddedOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves only the ``data:`` URIs it was given.

    Everything else is refused and recorded in :attr:`refused`; nothing is opened.
    """

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        super().__init__(allowed_protocols=("data",), fail_on_errors=False)
        self._allowed: dict[str, tuple[str, bytes]] = {}
        self.refused: list[str] = []
        for uri in allowed:
            self.allow(uri)

    def allow(self, uri: str) -> None:
        """Allow one ``data:<mime>;base64,<payload>`` URI that the renderer created."""
        head, sep, payload = uri.partition(",")
        if not sep or not head.startswith("data:") or not head.endswith(";base64"):
            raise ValueError("only base64 data: URIs can be allowed")
        self._allowed[uri] = (head[5:-7], base64.b64decode(payload, validate=True))

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        entry = self._allowed.get(url)
        if entry is None:
            self.refused.append(url)
            raise URLRefused(f"the report renderer loads no external resource: {url[:80]}")
        mime, body = entry
        return URLFetcherResponse(url, body=body, headers={"Content-Type": mime})


def template_environment() -> Environment:
    """The Jinja2 environment of the reports: autoescaping on, strict about undefined names.

    Autoescaping is on for every template whatever its name; the contexts give every field
    a value (``None`` when absent), so an undefined name is a template bug and fails.
    """
    env = Environment(
        loader=PackageLoader("adjudicator.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def _stylesheet_text() -> str:
    return resources.files("adjudicator.report").joinpath("templates/report.css").read_text(
        encoding="utf-8")


def render_html(context: Mapping[str, Any], figure_uris: Mapping[str, str | None]) -> str:
    """The HTML of a report (kind from ``context["kind"]``), with figures as data: URIs."""
    template = template_environment().get_template(f"{context['kind']}.html.j2")
    fig = {name: figure_uris.get(name) for name in _FIGURES}
    return template.render(r=context, fig=fig, generator=f"adjudicator {__version__}")


def _moment(value: Any) -> dt.datetime:
    if value:
        text = str(value)
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = dt.datetime.combine(dt.date.fromisoformat(text[:10]), dt.time())
            except ValueError:
                return _EPOCH
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    return _EPOCH


def _to_pdf(
    context: Mapping[str, Any], figure_uris: Mapping[str, str | None], evidence: bytes
) -> RenderedReport:
    fetcher = EmbeddedOnlyFetcher([u for u in figure_uris.values() if u])
    html = render_html(context, figure_uris)
    moment = _moment(context.get("issued_at"))
    name = context["evidence"]["name"]
    digest = context["evidence"]["sha256"]
    attachment = Attachment(
        string=evidence, name=name, url_fetcher=fetcher,
        description=f"{name}: the machine-readable input of this report ({digest})",
        created=moment, modified=moment, relationship="Source",
    )

    def finisher(_document: Any, pdf: Any) -> None:
        pdf.info[EVIDENCE_INFO_KEY] = pydyf.String(f"{name} {digest}")
        # WeasyPrint 70 lists each associated file twice in the catalog's /AF array
        if "AF" in pdf.catalog:
            pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(pdf.catalog["AF"]))

    document = HTML(string=html, base_url=None, url_fetcher=fetcher).render(
        stylesheets=[CSS(string=_stylesheet_text(), url_fetcher=fetcher)],
    )
    with _source_date_epoch(moment):
        pdf = document.write_pdf(
            pdf_variant="pdf/a-3b",
            pdf_identifier=hashlib.sha256(evidence).hexdigest()[:32].encode("ascii"),
            attachments=[attachment],
            finisher=finisher,
        )
    if fetcher.refused:
        _logger.warning("report renderer refused %d URL(s)", len(fetcher.refused))
    return RenderedReport(pdf=pdf, context=dict(context), evidence_name=name,
                          evidence=evidence, refused_urls=tuple(fetcher.refused))


def render_certification_report(
    result: Mapping[str, Any] | bytes, *, ledger: Mapping[str, Any] | None = None
) -> RenderedReport:
    """Render the certification report of one adjudication (unsigned).

    Parameters
    ----------
    result
        The ``result/v1`` mapping, or the exact bytes of ``result.json``; bytes are
        embedded as they are (so the attachment equals the file beside the report), a
        mapping is embedded as :func:`~adjudicator.report.context.canonical_json_bytes`.
    ledger
        ``{"head": "sha256:...", "sequence": n}``: the ledger head the report is issued
        under (printed in the reproducibility block), when the service issues it.

    Raises
    ------
    ValueError
        ``result`` bytes that are not a JSON object.
    """
    if isinstance(result, bytes | bytearray):
        evidence = bytes(result)
        try:
            parsed = json.loads(evidence)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"`result` is not JSON: {exc}") from exc
        if not isinstance(parsed, Mapping):
            raise ValueError("`result` must be a JSON object")
    else:
        parsed, evidence = result, canonical_json_bytes(result)
    context = certification_context(parsed, evidence=evidence, ledger=ledger)
    absolute = next((c for c in context["criteria"] if c["kind"] == "absolute"), None)
    uris = {
        "bootstrap": figures.bootstrap_figure(
            (parsed.get("replicates") or {}).get("estimate")
            if isinstance(parsed.get("replicates"), Mapping) else None,
            estimate=context["estimate"], interval=context["interval"],
            threshold=absolute["bound"] if absolute else None,
            metric_label=context["metric"]["label"],
        ),
        "posterior": figures.posterior_figure(_with_posteriors(context["bayes"], parsed)),
        "alpha": figures.alpha_spending_figure(context["multiplicity"]),
    }
    return _to_pdf(context, uris, evidence)


def _with_posteriors(
    bayes: Sequence[Mapping[str, Any]], result: Mapping[str, Any]
) -> list[dict[str, Any]]:
    # The context keeps no draws; the figure may use them when the result carries them.
    raw = [c for c in result.get("criteria") or []
           if isinstance(c, Mapping) and c.get("kind") == "bayes"]
    return [{**c, "posterior": r.get("posterior")} for c, r in zip(bayes, raw, strict=False)]


def render_audit_report(results: Sequence[Mapping[str, Any]]) -> RenderedReport:
    """Render a participant audit: every submission of one team, in sequence order."""
    evidence = canonical_json_bytes(audit_evidence(results)) if results else b""
    context = audit_context(results, evidence=evidence)
    rows = context["rows"]
    uris = {
        "estimates": figures.audit_estimates_figure(
            rows, threshold=context["threshold"], metric_label=context["metric"]["label"]),
        "alpha": figures.alpha_bars_figure(
            [str(r["submission"]["sequence"]) for r in rows if r["alpha_k"] is not None],
            [r["alpha_k"] for r in rows if r["alpha_k"] is not None],
            [r["verdict"]["code"] for r in rows if r["alpha_k"] is not None],
            context["family"]["alpha"],
        ) if any(r["alpha_k"] is not None for r in rows) else None,
    }
    return _to_pdf(context, uris, evidence)


def render_progress_report(
    points: Sequence[Mapping[str, Any]], *, challenge: Mapping[str, Any], as_of: str,
    results: Sequence[Mapping[str, Any]] | None = None,
) -> RenderedReport:
    """Render a progress report for funders (see
    :func:`~adjudicator.report.context.progress_context` for the input; ``results``, the
    open results, are listed in full and embedded with the points)."""
    doc: dict[str, Any] = {"adjudicator": "progress/v1", "as_of": as_of,
                           "challenge": dict(challenge), "points": [dict(p) for p in points]}
    if results is not None:
        doc["results"] = [dict(r) for r in results]
    evidence = canonical_json_bytes(doc)
    context = progress_context(points, challenge=challenge, as_of=as_of, evidence=evidence,
                               results=results)
    uris = {"progress": figures.progress_figure(context)}
    return _to_pdf(context, uris, evidence)

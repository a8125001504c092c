"""Signed PDF audit reports that anyone can verify offline.

Three kinds of report are rendered from one plain context each (:mod:`.context`), through
autoescaped Jinja2 templates and WeasyPrint (:mod:`.render`), with deterministic matplotlib
figures (:mod:`.figures`). A report embeds its input (``result.json``) and prints its
digest; it is signed with PAdES by pyHanko and beside it goes a detached minisign signature
(:mod:`.signing`, :mod:`.minisign`); :func:`verify_report` checks everything offline
(:mod:`.verify`).

Typical use (what ``adjudicator adjudicate --out DIR`` does)::

    identity = load_signing_identity(default_keys_directory())
    report = render_certification_report(result_json_bytes)
    write_signed_report(report.pdf, out / "report.pdf", identity, signing_time=now)
    verify_report(out / "report.pdf", cert=identity.directory / "signing-cert.pem")
"""

from .context import (
    EVIDENCE_NAMES,
    audit_context,
    canonical_json_bytes,
    certification_context,
    progress_context,
)
from .minisign import MinisignPublicKey, minisign_public_key, minisign_sign, minisign_verify
from .render import (
    EmbeddedOnlyFetcher,
    RenderedReport,
    render_audit_report,
    render_certification_report,
    render_html,
    render_progress_report,
)
from .signing import (
    SigningIdentity,
    create_signing_identity,
    default_keys_directory,
    load_signing_identity,
    sign_pdf,
    write_signed_report,
)
from .verify import ReportVerification, verify_detached_signature, verify_report

__all__ = [
    "EVIDENCE_NAMES",
    "EmbeddedOnlyFetcher",
    "MinisignPublicKey",
    "RenderedReport",
    "ReportVerification",
    "SigningIdentity",
    "audit_context",
    "canonical_json_bytes",
    "certification_context",
    "create_signing_identity",
    "default_keys_directory",
    "load_signing_identity",
    "minisign_public_key",
    "minisign_sign",
    "minisign_verify",
    "progress_context",
    "render_audit_report",
    "render_certification_report",
    "render_html",
    "render_progress_report",
    "sign_pdf",
    "verify_detached_signature",
    "verify_report",
    "write_signed_report",
]

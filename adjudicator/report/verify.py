"""Offline verification of a signed report, failing closed, in a fixed order.

:func:`verify_report` runs these checks; each failure adds a reason, and a report is valid
only when the list of reasons is empty *and* every step ran:

1. the report (and the expected certificate, if given) can be read: otherwise *unusable*;
2. the file parses as a PDF;
3. it carries exactly one signature;
4. pyHanko's validator judges that signature valid by its overall verdict (``bottom_line``:
   intact, cryptographically valid, signer trusted) with the expected certificate as the only
   trust root (with no certificate given, nothing is trusted: the report is invalid);
5. the signature covers the whole file: its byte range ends at the last byte, with no
   incremental update and not even junk bytes after ``%%EOF``;
6. when a certificate is given, the signer's certificate is exactly that certificate;
7. the embedded evidence file (``result.json`` for a certification report) exists, is
   recorded in the document information (``/AdjudicatorEvidence``), and its sha256 equals
   the digest recorded (the one printed in the report); it parses as JSON.

Any exception raised while checking makes the report invalid, with the exception as the
reason: nothing is assumed valid because a check could not run.

Exit codes for ``adjudicator verify`` (:attr:`ReportVerification.exit_code`)::

    0  valid: every check passed
    1  invalid: the report was read and at least one check failed
    2  unusable: the report or the certificate could not be read at all
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from ..errors import VerificationError
from .context import EVIDENCE_INFO_KEY, EVIDENCE_NAMES
from .minisign import MinisignPublicKey, minisign_verify
from .signing import SigningIdentity

__all__ = [
    "ReportVerification",
    "verify_report",
    "verify_detached_signature",
    "load_certificate",
]

_KIND_OF_EVIDENCE = {name: kind for kind, name in EVIDENCE_NAMES.items()}


@dataclass(frozen=True)
class ReportVerification:
    """The outcome of :func:`verify_report`; ``valid`` is the one bottom line."""

    path: str
    usable: bool
    reasons: tuple[str, ...]
    signer: str | None = None
    signer_certificate_sha256: str | None = None
    signing_time: dt.datetime | None = None
    signature_reason: str | None = None
    kind: str | None = None
    verdict: str | None = None
    evidence_name: str | None = None
    result_digest: str | None = None
    #: every check that ran to completion, in order (for the CLI's detailed output)
    checks: tuple[str, ...] = field(default=(), repr=False)

    @property
    def valid(self) -> bool:
        """True only if the report was usable, every check ran, and none failed."""
        return self.usable and not self.reasons and len(self.checks) == _N_CHECKS

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 unusable (see the module docstring)."""
        if not self.usable:
            return 2
        return 0 if self.valid else 1

    def summary(self) -> str:
        """A few lines for people: who signed what, when, and the verdict."""
        head = "VALID" if self.valid else ("UNUSABLE" if not self.usable else "INVALID")
        lines = [f"{head}: {self.path}"]
        if self.signer is not None:
            when = self.signing_time.isoformat() if self.signing_time else "unknown time"
            lines.append(f"  signed by {self.signer} at {when}")
        if self.signer_certificate_sha256:
            lines.append(f"  certificate sha256:{self.signer_certificate_sha256}")
        if self.kind:
            lines.append(f"  {self.kind} report" + (f", verdict {self.verdict}"
                                                      if self.verdict else ""))
        if self.result_digest:
            lines.append(f"  {self.evidence_name} {self.result_digest}")
        lines.extend(f"  - {reason}" for reason in self.reasons)
        return "\n".join(lines)


_N_CHECKS = 7


def load_certificate(
    cert: str | os.PathLike[str] | bytes | x509.Certificate | SigningIdentity,
) -> bytes:
    """DER bytes of a certificate given as a path, PEM/DER bytes, a ``cryptography``
    object or a :class:`~adjudicator.report.signing.SigningIdentity` (its certificate).

    Raises
    ------
    VerificationError
        The certificate cannot be read.
    """
    if isinstance(cert, SigningIdentity):
        cert = cert.certificate_pem
    try:
        if isinstance(cert, x509.Certificate):
            return cert.public_bytes(serialization.Encoding.DER)
        data = cert if isinstance(cert, bytes) else Path(cert).read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    except (OSError, ValueError, TypeError) as exc:
        where = "given" if isinstance(cert, bytes | x509.Certificate) else str(cert)
        raise VerificationError(f"cannot read the certificate ({where}): {exc}") from exc


def verify_report(
    path: str | os.PathLike[str],
    cert: str | os.PathLike[str] | bytes | x509.Certificate | SigningIdentity | None = None,
) -> ReportVerification:
    """Verify a signed report offline; never raises for a bad report (see the module doc).

    Parameters
    ----------
    path
        The signed PDF.
    cert
        The certificate expected to have signed it (path, PEM/DER bytes, object, or a
        signing identity: its certificate, e.g. the local ``keys init`` identity). It is
        the only trust root of the validation and must equal the signer's certificate.
        Without it nothing is trusted (we do not fall back to the operating system's TLS
        trust list), so the report is reported untrusted: the command line passes the
        identity's ``signing-cert.pem`` when the user gives none.
    """
    name = str(path)
    # (1) read the inputs: a file we cannot read is unusable, not invalid
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ReportVerification(path=name, usable=False,
                                  reasons=(f"cannot read the report: {exc}",))
    expected_der: bytes | None = None
    if cert is not None:
        try:
            expected_der = load_certificate(cert)
        except VerificationError as exc:
            return ReportVerification(path=name, usable=False, reasons=(str(exc),))
    checks = ["read"]
    facts: dict[str, Any] = {}
    reasons: list[str] = []
    try:
        for step in _checks(data, expected_der, facts, reasons):
            checks.append(step)
    except Exception as exc:  # noqa: BLE001 - any failure to check means invalid
        reasons.append(f"verification failed: {type(exc).__name__}: {exc}")
    return ReportVerification(path=name, usable=True, reasons=tuple(reasons),
                              checks=tuple(checks), **facts)


def _checks(
    data: bytes, expected_der: bytes | None, facts: dict[str, Any], reasons: list[str]
) -> Iterator[str]:
    # (2) parse
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        signatures = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001
        reasons.append(f"not a readable PDF: {type(exc).__name__}: {exc}")
        return
    yield "parse"

    # (3) exactly one signature
    if len(signatures) != 1:
        reasons.append(f"expected exactly one signature, found {len(signatures)}")
        return
    signature = signatures[0]
    yield "one signature"

    # (4) pyHanko's overall verdict, with the expected certificate as the trust root
    if expected_der is not None:
        context = ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(expected_der)], allow_fetching=False)
    else:
        context = ValidationContext(trust_roots=[], allow_fetching=False)
    status = validate_pdf_signature(signature, context)
    signer_cert: asn1_x509.Certificate = status.signing_cert
    facts["signer"] = signer_cert.subject.native.get("common_name") or \
        signer_cert.subject.human_friendly
    facts["signer_certificate_sha256"] = hashlib.sha256(signer_cert.dump()).hexdigest()
    facts["signing_time"] = status.signer_reported_dt or _pdf_date(
        signature.sig_object.get("/M"))
    reason = signature.sig_object.get("/Reason")
    facts["signature_reason"] = str(reason) if reason is not None else None
    if not status.bottom_line:
        details = []
        if not status.intact:
            details.append("the signed bytes were changed (digest mismatch)")
        if not status.valid:
            details.append("the cryptographic signature does not verify")
        if status.intact and status.valid and not status.trusted:
            # (pyHanko only evaluates trust for a signature that verifies)
            details.append("the signer's certificate is not trusted")
        if status.docmdp_ok is False:
            details.append("changes after signing break the document's modification policy")
        reasons.append("signature invalid by pyHanko's overall verdict: "
                       + ("; ".join(details) or status.summary()))
    yield "signature"

    # (5) coverage of the whole file
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        end = _byte_range_end(signature)
        extra = len(data) - end if end is not None else None
        reasons.append(
            "the signature does not cover the whole file"
            + (f": {extra} byte(s) after the signed range" if extra else "")
            + (f" ({status.coverage.name.lower().replace('_', ' ')})"
               if status.coverage is not None else "")
        )
    yield "coverage"

    # (6) the expected signer
    if expected_der is not None and signer_cert.dump() != expected_der:
        expected = hashlib.sha256(expected_der).hexdigest()
        reasons.append(
            f"signed by another certificate: sha256:{facts['signer_certificate_sha256']}, "
            f"expected sha256:{expected}")
    yield "certificate"

    # (7) the embedded evidence and its recorded digest
    info = reader.trailer_view.get("/Info")
    recorded = info.get_object().get("/" + EVIDENCE_INFO_KEY) if info is not None else None
    if recorded is None:
        reasons.append("the report records no evidence digest (not an adjudicator report?)")
        return
    evidence_name, _, recorded_digest = str(recorded).partition(" ")
    facts["evidence_name"] = evidence_name
    facts["kind"] = _KIND_OF_EVIDENCE.get(evidence_name)
    attachments = [d for n, d in _embedded_files(reader) if n == evidence_name]
    if len(attachments) != 1:
        reasons.append(f"expected one embedded {evidence_name}, found {len(attachments)}")
        return
    blob = attachments[0]
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    facts["result_digest"] = digest
    if digest != recorded_digest:
        reasons.append(f"the embedded {evidence_name} has digest {digest}, "
                       f"but the report records {recorded_digest}")
    try:
        parsed = json.loads(blob)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reasons.append(f"the embedded {evidence_name} is not JSON: {exc}")
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("verdict"), str):
        facts["verdict"] = parsed["verdict"]
    yield "evidence"


def _byte_range_end(signature: Any) -> int | None:
    try:
        byte_range = [int(x) for x in signature.sig_object["/ByteRange"]]
        return byte_range[2] + byte_range[3]
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _embedded_files(reader: PdfFileReader) -> Iterator[tuple[str, bytes]]:
    names = reader.root.get("/Names")
    if names is None:
        return
    tree = names.get_object().get("/EmbeddedFiles")
    if tree is None:
        return
    yield from _walk_name_tree(tree.get_object(), depth=0)


def _walk_name_tree(node: generic.DictionaryObject, depth: int) -> Iterator[tuple[str, bytes]]:
    if depth > 16:
        raise VerificationError("embedded file name tree is too deep")
    pairs = node.get("/Names")
    if pairs is not None:
        pairs = pairs.get_object()
        for i in range(0, len(pairs) - 1, 2):
            spec = pairs[i + 1].get_object()
            stream = spec["/EF"].get_object()["/F"].get_object()
            yield str(pairs[i]), stream.data
    kids = node.get("/Kids")
    if kids is not None:
        for kid in kids.get_object():
            yield from _walk_name_tree(kid.get_object(), depth + 1)


def _pdf_date(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return generic.parse_pdf_date(str(value))
    except Exception:  # noqa: BLE001 - a malformed date is simply unknown
        return None


def verify_detached_signature(
    pdf_path: str | os.PathLike[str],
    public_key: str | MinisignPublicKey,
    minisig_path: str | os.PathLike[str] | None = None,
) -> str:
    """Check ``report.pdf.minisig`` (or ``minisig_path``) over the PDF's bytes.

    ``public_key`` is the text of ``minisign.pub`` or a parsed key. Returns the trusted
    comment; raises :class:`~adjudicator.errors.VerificationError` when it does not verify.
    """
    pdf = Path(pdf_path)
    sig = Path(minisig_path) if minisig_path is not None else pdf.with_name(pdf.name + ".minisig")
    key = public_key if isinstance(public_key, MinisignPublicKey) else \
        MinisignPublicKey.from_text(public_key)
    try:
        data, text = pdf.read_bytes(), sig.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerificationError(f"cannot read {pdf} or {sig}: {exc}") from exc
    return minisign_verify(data, text, key)

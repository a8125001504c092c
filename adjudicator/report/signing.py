"""Signing identities and PAdES signatures over a whole report.

A *signing identity* is a directory (default ``$ADJUDICATOR_HOME/keys``, with
``ADJUDICATOR_HOME`` defaulting to ``~/.adjudicator``) holding, each file mode 0600 in a
directory of mode 0700:

==================  ======================================================================
``signing-key.pem``   ECDSA P-256 private key (PKCS#8 PEM, unencrypted): signs the PDF
``signing-cert.pem``  its self-signed X.509 certificate: the trust root a verifier is given
``minisign.key``      Ed25519 private key (PKCS#8 PEM): the detached ``.minisig`` signature
``minisign.pub``      its public key in minisign format, to publish beside the certificate
==================  ======================================================================

ECDSA P-256 rather than Ed25519 signs the PDF because every PDF reader in use verifies it;
minisign requires Ed25519, so the detached signature has its own key. A committee that has
its own certificate passes a PKCS#12 file instead: the PDF is then signed with that key
and certificate, and the minisign key (if the directory has one) still signs the bytes.

Signing is an incremental update added by pyHanko to the rendered PDF: a PAdES baseline
signature (``/ETSI.CAdES.detached``, SHA-256) whose byte range covers the whole file, with
the signer's name, the reason and the signing time (an argument, never the clock) in the
signature dictionary.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..errors import ConfigurationError
from .minisign import MinisignPublicKey, minisign_public_key, minisign_sign

__all__ = [
    "KEY_FILE",
    "CERT_FILE",
    "MINISIGN_KEY_FILE",
    "MINISIGN_PUB_FILE",
    "SigningIdentity",
    "default_keys_directory",
    "create_signing_identity",
    "load_signing_identity",
    "sign_pdf",
    "write_signed_report",
]

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"
MINISIGN_KEY_FILE = "minisign.key"
MINISIGN_PUB_FILE = "minisign.pub"

#: The name of the one signature field a report carries.
SIGNATURE_FIELD = "AdjudicatorSignature"
DEFAULT_REASON = "Adjudication report issued under a preregistered protocol"


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: a pyHanko signer, its certificate and (optionally) a minisign key.

    Build one with :func:`create_signing_identity` or :func:`load_signing_identity`.
    """

    name: str
    certificate_pem: bytes
    signer: signers.SimpleSigner = field(repr=False)
    minisign_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    directory: Path | None = None

    @property
    def certificate(self) -> x509.Certificate:
        """The signing certificate (``cryptography`` object)."""
        return x509.load_pem_x509_certificate(self.certificate_pem)

    @property
    def minisign_public_key(self) -> MinisignPublicKey | None:
        """The public half of the minisign key, if the identity has one."""
        return None if self.minisign_key is None else minisign_public_key(self.minisign_key)


def default_keys_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``$ADJUDICATOR_HOME/keys``; ``ADJUDICATOR_HOME`` defaults to ``~/.adjudicator``."""
    env = os.environ if environ is None else environ
    home = env.get("ADJUDICATOR_HOME") or "~/.adjudicator"
    return Path(home).expanduser() / "keys"


def create_signing_identity(
    directory: str | os.PathLike[str],
    *,
    valid_from: dt.datetime,
    name: str = "adjudicator",
    organisation: str | None = None,
    days: int = 3650,
    overwrite: bool = False,
) -> SigningIdentity:
    """Create a signing key, its self-signed certificate and a minisign key in ``directory``.

    Parameters
    ----------
    directory
        Where the four files go (created with mode 0700 if missing). The usual place is
        :func:`default_keys_directory`.
    valid_from
        Start of the certificate's validity (timezone-aware); the caller passes "now".
    name
        The signer's common name, shown by every PDF reader as who signed.
    organisation
        Optional organisation name in the certificate subject.
    days
        Validity of the certificate in days.
    overwrite
        Replace an existing identity. Without it an existing file is an error, so a key
        that signed reports is never lost by accident.

    Raises
    ------
    ConfigurationError
        The directory already holds an identity, or a file cannot be written.
    """
    if valid_from.tzinfo is None:
        raise ValueError("`valid_from` must be timezone-aware")
    if days < 1:
        raise ValueError(f"`days` must be at least 1, got {days}")
    if not name.strip():
        raise ValueError("`name` must not be empty")
    target = Path(directory)
    names = (KEY_FILE, CERT_FILE, MINISIGN_KEY_FILE, MINISIGN_PUB_FILE)
    existing = [n for n in names if (target / n).exists()]
    if existing and not overwrite:
        raise ConfigurationError(
            f"{target}: a signing identity exists already ({', '.join(existing)}); "
            "pass overwrite=True to replace it"
        )

    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    subject = x509.Name(attributes)
    start = valid_from.astimezone(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    mkey = Ed25519PrivateKey.generate()
    pkcs8 = serialization.PrivateFormat.PKCS8
    contents = {
        KEY_FILE: key.private_bytes(serialization.Encoding.PEM, pkcs8,
                                    serialization.NoEncryption()),
        CERT_FILE: cert.public_bytes(serialization.Encoding.PEM),
        MINISIGN_KEY_FILE: mkey.private_bytes(serialization.Encoding.PEM, pkcs8,
                                              serialization.NoEncryption()),
        MINISIGN_PUB_FILE: minisign_public_key(mkey).to_text().encode("ascii"),
    }
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        for file_name, data in contents.items():
            _write_private(target / file_name, data)
    except OSError as exc:
        raise ConfigurationError(f"{target}: cannot write the signing identity: {exc}") from exc
    return load_signing_identity(target)


def load_signing_identity(
    directory: str | os.PathLike[str] | None,
    *,
    pkcs12: str | os.PathLike[str] | None = None,
    passphrase: bytes | None = None,
) -> SigningIdentity:
    """Load the identity in ``directory``, or a committee's PKCS#12 file.

    Parameters
    ----------
    directory
        An identity directory made by :func:`create_signing_identity`. With ``pkcs12`` it
        is optional and only supplies the minisign key (``None``: no detached signature).
    pkcs12
        A PKCS#12 (``.p12``/``.pfx``) file with the committee's key and certificate (and
        chain). When given, it signs the PDF instead of ``signing-key.pem``.
    passphrase
        The PKCS#12 passphrase, if it has one.

    Raises
    ------
    ConfigurationError
        A file is missing, unreadable or not a key/certificate.
    """
    folder = None if directory is None else Path(directory)
    try:
        if pkcs12 is not None:
            p12 = Path(pkcs12).read_bytes()
            signer = signers.SimpleSigner.load_pkcs12_data(p12, (), passphrase=passphrase)
        else:
            if folder is None:
                raise ConfigurationError("no signing identity: give a directory or pkcs12")
            cert = load_cert_from_pemder(str(folder / CERT_FILE))
            key = load_private_key_from_pemder_data((folder / KEY_FILE).read_bytes(), None)
            signer = signers.SimpleSigner(
                signing_cert=cert, signing_key=key,
                cert_registry=SimpleCertificateStore.from_certs([cert]),
            )
        mkey = None
        if folder is not None and (folder / MINISIGN_KEY_FILE).exists():
            loaded = serialization.load_pem_private_key(
                (folder / MINISIGN_KEY_FILE).read_bytes(), None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise ConfigurationError(f"{folder / MINISIGN_KEY_FILE}: not an Ed25519 key")
            mkey = loaded
    except ConfigurationError:
        raise
    except (OSError, ValueError, TypeError) as exc:
        where = pkcs12 if pkcs12 is not None else folder
        raise ConfigurationError(f"{where}: cannot load the signing identity: {exc}") from exc
    signing_cert: asn1_x509.Certificate = signer.signing_cert
    cert_pem = x509.load_der_x509_certificate(signing_cert.dump()).public_bytes(
        serialization.Encoding.PEM)
    return SigningIdentity(
        name=signing_cert.subject.native.get("common_name") or signing_cert.subject.human_friendly,
        certificate_pem=cert_pem, signer=signer, minisign_key=mkey, directory=folder,
    )


def sign_pdf(
    pdf: bytes,
    identity: SigningIdentity,
    *,
    signing_time: dt.datetime,
    reason: str = DEFAULT_REASON,
    location: str | None = None,
) -> bytes:
    """Add a PAdES signature covering the whole of ``pdf``; return the signed bytes.

    Parameters
    ----------
    pdf
        The rendered, unsigned report.
    identity
        Who signs.
    signing_time
        The claimed signing time written into the signature (timezone-aware). Passed in,
        never read from the clock, so that tests and re-issues are reproducible.
    reason, location
        Shown by PDF readers beside the signer's name.
    """
    if signing_time.tzinfo is None:
        raise ValueError("`signing_time` must be timezone-aware")
    meta = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=identity.name,
    )
    pdf_signer = signers.PdfSigner(
        meta, identity.signer,
        new_field_spec=fields.SigFieldSpec(sig_field_name=SIGNATURE_FIELD),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    output = io.BytesIO()
    asyncio.run(_sign_at(pdf_signer, writer, output, signing_time.astimezone(dt.UTC)))
    return output.getvalue()


async def _sign_at(
    pdf_signer: signers.PdfSigner,
    writer: IncrementalPdfFileWriter,
    output: io.BytesIO,
    signing_time: dt.datetime,
) -> None:
    # pyHanko's PdfSigner.async_sign_pdf, with the session's clock replaced by the given
    # signing time (it is what goes into /M of the signature dictionary).
    session = pdf_signer.init_signing_session(writer)
    session.system_time = signing_time
    validation_info = await session.perform_presign_validation(writer)
    reserved = await session.estimate_signature_container_size(validation_info, tight=False)
    tbs = session.prepare_tbs_document(validation_info=validation_info, bytes_reserved=reserved)
    prepared, res_output = tbs.digest_tbs_document(output=output)
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=signing_time),
    )
    await post.post_signature_processing(res_output)


def write_signed_report(
    pdf: bytes,
    path: str | os.PathLike[str],
    identity: SigningIdentity,
    *,
    signing_time: dt.datetime,
    reason: str = DEFAULT_REASON,
    location: str | None = None,
) -> tuple[Path, Path | None]:
    """Sign ``pdf`` and write it to ``path``, with ``path + ".minisig"`` beside it.

    Both files are written to temporary names and renamed, so a failure leaves nothing
    half-written. Returns the two paths (the second ``None`` when the identity has no
    minisign key).
    """
    target = Path(path)
    signed = sign_pdf(pdf, identity, signing_time=signing_time, reason=reason,
                      location=location)
    outputs: list[tuple[Path, bytes]] = [(target, signed)]
    minisig_path = None
    if identity.minisign_key is not None:
        stamp = int(signing_time.timestamp())
        comment = f"timestamp:{stamp}\tfile:{target.name}\thashed"
        text = minisign_sign(signed, identity.minisign_key, trusted_comment=comment)
        minisig_path = target.with_name(target.name + ".minisig")
        outputs.append((minisig_path, text.encode("ascii")))
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = []
    try:
        for final, data in outputs:
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o644)
            staged.append((Path(tmp), final))
        for tmp_path, final in staged:
            os.replace(tmp_path, final)
    finally:
        for tmp_path, _ in staged:
            tmp_path.unlink(missing_ok=True)
    return target, minisig_path


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the first byte (no window in which the key is world-readable),
    # written to a temporary name and renamed.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

"""Reports: rendering, safety, evidence, signing and offline verification (issue 7).

PDFs are tested by what they prove (signing and verifying, embedded evidence, rendered
pages), not by comparing bytes with a golden file; determinism is tested by rendering twice.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import io
import json
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import minisign as py_minisign
import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from PIL import Image
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from weasyprint import HTML

from adjudicator.errors import ConfigurationError, VerificationError
from adjudicator.report import (
    EmbeddedOnlyFetcher,
    ReportVerification,
    audit_context,
    certification_context,
    create_signing_identity,
    default_keys_directory,
    figures,
    load_signing_identity,
    minisign_public_key,
    minisign_sign,
    minisign_verify,
    progress_context,
    render_audit_report,
    render_certification_report,
    render_html,
    render_progress_report,
    sign_pdf,
    verify_detached_signature,
    verify_report,
    write_signed_report,
)
from adjudicator.report.minisign import MinisignPublicKey

ASSETS = Path(__file__).parent / "assets"
SIGNING_TIME = dt.datetime(2026, 11, 29, 6, 5, tzinfo=dt.UTC)
VALID_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
HOSTILE_TEAM = '<img src="file:///etc/passwd">'


def asset(name: str) -> Path:
    return ASSETS / name


def load_result(name: str) -> dict:
    return json.loads(asset(name).read_text(encoding="utf-8"))


def progress_points() -> tuple[list[dict], dict]:
    points = [
        {"date": "2026-04-01", "team": "A", "submission": "a1",
         "estimate": 0.675, "low": 0.650, "high": 0.700},
        {"date": "2026-05-10", "team": "B", "estimate": 0.688, "low": 0.661, "high": 0.715},
        {"date": "2026-05-10", "team": "C", "estimate": 0.681, "low": 0.655, "high": 0.707},
        {"date": "2026-07-02", "team": "A", "estimate": 0.684, "low": 0.657, "high": 0.711},
        {"date": "2026-11-29", "team": "Oncology Risk Lab", "estimate": 0.7112,
         "low": 0.6819, "high": 0.7391, "verdict": "CERTIFIED"},
    ]
    challenge = {"title": "Masked long-term survival",
                 "metric": {"name": "harrell_c", "higher_is_better": True},
                 "baseline": {"name": "clinical Cox model", "value": 0.678},
                 "threshold": 0.70,
                 "protocol": {"id": "survival-masked-2026", "digest": "sha256:" + "5d" * 32}}
    return points, challenge


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True,
                         capture_output=True)
    return out.stdout.decode("utf-8")


def embedded_files(pdf: bytes) -> dict[str, bytes]:
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    tree = reader.root["/Names"]["/EmbeddedFiles"]
    pairs = tree["/Names"]
    return {str(pairs[i]): pairs[i + 1].get_object()["/EF"]["/F"].get_object().data
            for i in range(0, len(pairs), 2)}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return create_signing_identity(tmp_path_factory.mktemp("keys") / "keys",
                                   valid_from=VALID_FROM, name="Prize Committee",
                                   organisation="Test Foundation")


@pytest.fixture(scope="module")
def other_identity(tmp_path_factory):
    return create_signing_identity(tmp_path_factory.mktemp("other") / "keys",
                                   valid_from=VALID_FROM, name="Prize Committee")


@pytest.fixture(scope="module")
def certification():
    return render_certification_report(asset("result_certified.json").read_bytes())


@pytest.fixture(scope="module")
def signed(tmp_path_factory, certification, identity):
    folder = tmp_path_factory.mktemp("signed")
    pdf, minisig = write_signed_report(certification.pdf, folder / "report.pdf", identity,
                                       signing_time=SIGNING_TIME)
    return pdf, minisig


@pytest.fixture
def cert_path(identity):
    return identity.directory / "signing-cert.pem"


def tampered(tmp_path: Path, data: bytes, name: str = "tampered.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- contexts ---------------------------------------------------------------------------------


def test_certification_context_is_plain_json_with_the_result_values():
    result = load_result("result_certified.json")
    ctx = certification_context(result)
    assert json.loads(json.dumps(ctx)) == ctx
    assert ctx["verdict"] == {"code": "CERTIFIED", "label": "Certified", "css": "certified"}
    assert ctx["submission"]["team"] == "Oncology Risk Lab"
    assert [c["name"] for c in ctx["criteria"]] == ["absolute", "clinical-cox"]
    (bayes,) = ctx["bayes"]
    assert bayes["rope_interval"] == [0.015, 0.025]
    assert bayes["rope_shares"] == {"below": 0.004, "inside": 0.101, "above": 0.895}
    assert bayes["hdi"] == [0.0211, 0.0447]
    m = ctx["multiplicity"]
    assert [r["sequence"] for r in m["rows"]] == [1, 2]
    assert m["spent"] == pytest.approx(0.0375)
    assert ctx["evidence"]["sha256"] == "sha256:" + hashlib.sha256(
        json.dumps(result, indent=2, sort_keys=True).encode() + b"\n").hexdigest()


def test_context_tolerates_absent_and_unknown_fields():
    ctx = certification_context({"verdict": "SOMETHING_NEW", "criteria": [{"kind": "new"}],
                                 "unexpected": {"x": 1}})
    assert ctx["verdict"]["label"] == "Something new"
    assert ctx["interval"] is None and ctx["multiplicity"] is None and ctx["ledger"] is None
    assert ctx["criteria"][0]["passed"] is None
    html = render_html(ctx, {})
    assert "Something new" in html.upper().title() or "SOMETHING NEW" in html


def test_context_rejects_wrong_types():
    with pytest.raises(TypeError, match="`result` must be a mapping"):
        certification_context([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one team"):
        results = [load_result("result_certified.json"), load_result("result_hostile.json")]
        audit_context(results)
    with pytest.raises(ValueError, match="at least one"):
        audit_context([])


def test_progress_context_best_per_date_and_share_of_gap():
    points, challenge = progress_points()
    ctx = progress_context(points, challenge=challenge, as_of="2026-11-30")
    assert [r["date"] for r in ctx["rows"]] == ["2026-04-01", "2026-05-10", "2026-07-02",
                                                 "2026-11-29"]
    may = ctx["rows"][1]
    assert may["team"] == "B" and may["entries"] == 2
    assert may["share"] == pytest.approx((0.688 - 0.678) / (0.70 - 0.678))
    assert may["share_low"] == pytest.approx((0.661 - 0.678) / 0.022)
    assert may["share_high"] == pytest.approx((0.715 - 0.678) / 0.022)
    # July is worse than May: not a record, the state of the art stays May's share
    july = ctx["rows"][2]
    assert not july["record"] and july["state_of_the_art"] == pytest.approx(may["share"])
    assert ctx["best"]["team"] == "Oncology Risk Lab"
    assert ctx["best"]["share"] == pytest.approx((0.7112 - 0.678) / 0.022)


def test_progress_context_lower_is_better_flips_best_not_the_share_formula():
    points = [{"date": "2026-01-01", "estimate": 0.20}, {"date": "2026-01-01", "estimate": 0.15}]
    challenge = {"metric": {"name": "brier", "higher_is_better": False},
                 "baseline": {"value": 0.25}, "threshold": 0.15}
    ctx = progress_context(points, challenge=challenge, as_of="2026-01-02")
    assert ctx["rows"][0]["estimate"] == 0.15
    assert ctx["rows"][0]["share"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must differ"):
        progress_context(points, challenge={**challenge, "threshold": 0.25}, as_of="x")
    with pytest.raises(ValueError, match=r"`points\[0\]`"):
        progress_context([{"estimate": 1.0}], challenge=challenge, as_of="x")


# -- safety -------------------------------------------------------------------------------


class _Recorder:
    """An audit hook (installed once per process) that records file opens and connections
    while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open" and args and "passwd" in str(args[0]):
            self.events.append((event, str(args[0])))
        elif event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
            self.events.append((event, repr(args[1:] if event == "socket.connect" else args)))


_RECORDER: _Recorder | None = None


@pytest.fixture
def recorder():
    global _RECORDER
    if _RECORDER is None:
        _RECORDER = _Recorder()
    _RECORDER.events.clear()
    yield _RECORDER
    _RECORDER.active = False


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _no_connection(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_hostile_names_print_as_text_and_nothing_is_read_or_fetched(
    recorder, listener, tmp_path
):
    port = listener.getsockname()[1]
    text = asset("result_hostile.json").read_text().replace("127.0.0.1:9", f"127.0.0.1:{port}")
    result = json.loads(text)
    link = f'<link rel=stylesheet href="http://127.0.0.1:{port}/x">'
    assert result["submission"]["name"] == link

    points = [{"date": "2026-01-01", "team": HOSTILE_TEAM, "submission": link,
               "estimate": 0.7, "low": 0.6, "high": 0.8}]
    challenge = {"title": result["protocol"]["title"], "baseline": {"name": link, "value": 0.5},
                 "threshold": 0.75, "metric": {"name": HOSTILE_TEAM}}
    recorder.active = True
    report = render_certification_report(result)
    others = [render_audit_report([result]),
              render_progress_report(points, challenge=challenge, as_of="2026-01-02")]
    recorder.active = False

    assert recorder.events == []
    for other in others:
        assert other.refused_urls == ()
        assert HOSTILE_TEAM in pdftotext(other.pdf, tmp_path)
    assert _no_connection(listener)
    assert report.refused_urls == ()  # escaped: the document never even asked
    html = render_html(report.context, {})
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert HOSTILE_TEAM not in html and "<link rel=stylesheet" not in html
    page_text = pdftotext(report.pdf, tmp_path)
    assert HOSTILE_TEAM in page_text
    assert link in page_text

    # controls: the recorder and the listener do see a real open and a real connection
    (tmp_path / "passwd").write_text("x")
    recorder.active = True
    (tmp_path / "passwd").read_text()
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
    recorder.active = False
    assert {"open", "socket.connect"} <= {e for e, _ in recorder.events}
    listener.setblocking(True)
    listener.settimeout(5)
    assert not _no_connection(listener)


def test_fetcher_refuses_every_url_even_in_raw_markup(recorder, listener):
    port = listener.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    allowed = "data:image/svg+xml;base64," + __import__("base64").b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>').decode()
    raw = f"""<html><head>
      <link rel=stylesheet href="{base}/x.css">
      <style>@import url("{base}/y.css");
        @font-face {{ font-family: X; src: url({base}/f.woff) }}
        body {{ font-family: X; background: url(file:///etc/passwd) }}</style></head>
      <body><img src="file:///etc/passwd"><img src="/etc/passwd"><img src="{base}/i.png">
      <img src="data:image/png;base64,iVBORw0KGgo="><img src="{allowed}">
      <object data="file:///etc/passwd"></object></body></html>"""
    fetcher = EmbeddedOnlyFetcher([allowed])
    recorder.active = True
    HTML(string=raw, base_url=None, url_fetcher=fetcher).write_pdf()
    recorder.active = False
    assert recorder.events == []
    assert _no_connection(listener)
    refused = set(fetcher.refused)
    for url in (f"{base}/x.css", f"{base}/y.css", f"{base}/f.woff", "file:///etc/passwd",
                f"{base}/i.png", "data:image/png;base64,iVBORw0KGgo="):
        assert url in refused
    assert allowed not in refused
    with pytest.raises(ValueError, match="loads no external resource"):
        fetcher.fetch("file:///etc/passwd")


def test_templates_never_switch_escaping_off():
    env = __import__("adjudicator.report.render", fromlist=["x"]).template_environment()
    assert env.autoescape is True
    folder = Path(__file__).parent.parent / "adjudicator" / "report" / "templates"
    templates = sorted(folder.glob("*.j2"))
    assert len(templates) >= 5
    for template in templates:
        text = template.read_text()
        for marker in ("|safe", "| safe", "{% autoescape", "{%- autoescape", "Markup", "url(",
                       "@import", "@font-face"):
            assert marker not in text, (template.name, marker)
    css = (folder / "report.css").read_text()
    for marker in ("url(", "@import", "@font-face"):
        assert marker not in css.split("*/", 1)[1], marker


def test_report_modules_import_no_web_database_or_cli_layer():
    forbidden = {"fastapi", "sqlalchemy", "typer", "starlette", "uvicorn"}
    allowed_internal = {"adjudicator.errors", "adjudicator.protocol", "adjudicator"}
    for path in (Path(__file__).parent.parent / "adjudicator" / "report").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 2:  # from .. import x / from ..errors import x
                    names = [f"adjudicator.{node.module}" if node.module else "adjudicator"]
                elif node.level == 1:
                    continue
                else:
                    names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, (path.name, name)
                if name.startswith("adjudicator"):
                    assert name in allowed_internal, (path.name, name)


# -- rendering ----------------------------------------------------------------------------


def _pages(pdf: bytes, tmp_path: Path, stem: str) -> list[Path]:
    source = tmp_path / f"{stem}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(source), str(tmp_path / stem)],
                   check=True)
    return sorted(tmp_path.glob(f"{stem}-*.png"))


def _ink(page: Path) -> float:
    grey = Image.open(page).convert("L")
    histogram = grey.histogram()
    return sum(histogram[:200]) / (grey.width * grey.height)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["certification", "engine", "minimal", "audit", "progress"])
def test_every_report_kind_renders_pages_that_are_not_blank(kind, tmp_path):
    if kind == "certification":
        report = render_certification_report(asset("result_certified.json").read_bytes())
    elif kind == "engine":  # written by adjudicate() on the GBSG2 demo data
        head = "sha256:" + "ab" * 32
        report = render_certification_report(asset("result_engine_gbsg2.json").read_bytes(),
                                             ledger={"head": head, "sequence": 12})
        assert head in pdftotext(report.pdf, tmp_path).replace("\n", "")
    elif kind == "minimal":
        report = render_certification_report(load_result("result_minimal.json"))
    elif kind == "audit":
        report = render_audit_report([load_result("result_certified.json"),
                                      load_result("result_not_certified.json"),
                                      load_result("result_minimal.json")])
    else:
        points, challenge = progress_points()
        report = render_progress_report(points, challenge=challenge, as_of="2026-11-30")
    assert report.refused_urls == ()
    pages = _pages(report.pdf, tmp_path, kind)
    assert pages, "pdftoppm produced no page"
    for page in pages:
        assert _ink(page) > 0.003, f"{page.name} looks blank"
    text = pdftotext(report.pdf, tmp_path)
    assert report.evidence_sha256 in text.replace("\n", " ")


def test_a_blank_page_is_detected_as_blank(tmp_path):
    blank = HTML(string="<html><body></body></html>").write_pdf()
    (page,) = _pages(blank, tmp_path, "blank")
    assert _ink(page) < 0.003


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["certification", "audit", "progress"])
def test_rendering_twice_gives_the_same_bytes(kind):
    def render():
        if kind == "certification":
            return render_certification_report(load_result("result_certified.json")).pdf
        if kind == "audit":
            return render_audit_report([load_result("result_not_certified.json"),
                                        load_result("result_certified.json")]).pdf
        points, challenge = progress_points()
        return render_progress_report(points, challenge=challenge, as_of="2026-11-30").pdf

    first, second = render(), render()
    assert first == second
    assert b"/CreationDate" in first


@pytest.mark.slow
def test_same_bytes_when_fonts_are_subset_by_fonttools(monkeypatch):
    # Without libharfbuzz-subset (a fresh machine), WeasyPrint subsets fonts with fontTools,
    # which stamps the clock into each font unless SOURCE_DATE_EPOCH is set: force that path.
    import weasyprint.pdf.fonts as weasyprint_fonts

    monkeypatch.setattr(weasyprint_fonts, "harfbuzz_subset", None)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    result = load_result("result_minimal.json")
    first = render_certification_report(result).pdf
    __import__("time").sleep(1.1)  # a clock-stamped font would now differ
    assert render_certification_report(result).pdf == first
    assert "SOURCE_DATE_EPOCH" not in os.environ  # restored after rendering


def test_pdf_dates_come_from_the_result_not_the_clock():
    result = load_result("result_minimal.json")
    result["timestamps"]["adjudicated_at"] = "2001-02-03T04:05:06Z"
    pdf = render_certification_report(result).pdf
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    info = reader.trailer_view["/Info"]
    assert str(info["/CreationDate"]).startswith("D:20010203040506")
    assert str(info["/ModDate"]).startswith("D:20010203040506")
    spec = reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()
    params = spec["/EF"]["/F"].get_object()["/Params"]
    assert str(params["/CreationDate"]) == str(params["/ModDate"]) == "D:20010203040506Z"
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d").encode()
    assert today not in pdf


def test_certification_context_matches_the_golden_file():
    # The context is the contract with the web pages and the JSON endpoint (STYLE 12).
    # After a deliberate change, regenerate with:
    #   python -c "import json; from adjudicator.report import certification_context as c;
    #   d = open('tests/assets/result_certified.json', 'rb').read();
    #   open('tests/assets/result_certified_context.json', 'w').write(
    #   json.dumps(c(json.loads(d), evidence=d), indent=2, ensure_ascii=False) + '\\n')"
    data = asset("result_certified.json").read_bytes()
    golden = json.loads(asset("result_certified_context.json").read_text(encoding="utf-8"))
    assert certification_context(json.loads(data), evidence=data) == golden


def test_figures_are_deterministic_svg_sized_for_the_page():
    result = load_result("result_certified.json")
    args = dict(estimate=0.71, interval={"low": 0.68, "high": 0.74, "confidence": 0.95},
                threshold=0.70, metric_label="C-index")
    uri = figures.bootstrap_figure(result["replicates"]["estimate"], **args)
    assert uri == figures.bootstrap_figure(result["replicates"]["estimate"], **args)
    svg = __import__("base64").b64decode(uri.split(",", 1)[1]).decode()
    width_pt = float(re.search(r'width="([\d.]+)pt"', svg).group(1))
    assert width_pt <= 6.85 * 72  # the text width of the A4 page: drawn at 1:1 or larger
    sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", svg)] + \
        [float(s) for s in re.findall(r"font:[^;]*?([\d.]+)px", svg)]
    assert sizes and min(sizes) >= 7.0  # legible at print size
    assert figures.bootstrap_figure(None, **args) is None
    assert figures.bootstrap_figure([0.5, 0.5, 0.5], **args) is None


# -- evidence -------------------------------------------------------------------------------


def test_result_json_is_embedded_verbatim_and_its_digest_printed(certification, tmp_path):
    data = asset("result_certified.json").read_bytes()
    files = embedded_files(certification.pdf)
    assert files == {"result.json": data}
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert certification.evidence_sha256 == digest
    assert digest in pdftotext(certification.pdf, tmp_path).replace("\n", " ")
    reader = PdfFileReader(io.BytesIO(certification.pdf), strict=False)
    assert str(reader.trailer_view["/Info"]["/AdjudicatorEvidence"]) == f"result.json {digest}"
    # PDF/A-3: the attachment is an associated file (/AF) with a declared relationship
    (spec,) = [ref.get_object() for ref in reader.root["/AF"]]
    assert spec["/AFRelationship"] == "/Source"
    assert str(spec["/F"]) == "result.json"
    xmp = reader.root["/Metadata"].get_object().data
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp


# -- signing identity ---------------------------------------------------------------------


def test_identity_files_are_private_and_never_overwritten_silently(identity):
    folder = identity.directory
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("signing-key.pem", "signing-cert.pem", "minisign.key", "minisign.pub"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    with pytest.raises(ConfigurationError, match="exists already"):
        create_signing_identity(folder, valid_from=VALID_FROM)
    cert = identity.certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == \
        "Prize Committee"
    assert identity.name == "Prize Committee"


def test_default_keys_directory_follows_adjudicator_home():
    assert default_keys_directory({"ADJUDICATOR_HOME": "/srv/adj"}) == Path("/srv/adj/keys")
    assert default_keys_directory({}) == Path("~/.adjudicator").expanduser() / "keys"


def test_missing_identity_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot load"):
        load_signing_identity(tmp_path)


def test_a_committee_pkcs12_signs_and_verifies(tmp_path, certification):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Committee of the Prize")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(VALID_FROM).not_valid_after(VALID_FROM + dt.timedelta(days=900))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    p12 = tmp_path / "committee.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"committee", key, cert, None, serialization.BestAvailableEncryption(b"pw")))
    (tmp_path / "committee.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ident = load_signing_identity(None, pkcs12=p12, passphrase=b"pw")
    assert ident.minisign_key is None and ident.name == "Committee of the Prize"
    pdf, minisig = write_signed_report(certification.pdf, tmp_path / "r.pdf", ident,
                                       signing_time=SIGNING_TIME)
    assert minisig is None
    result = verify_report(pdf, tmp_path / "committee.pem")
    assert result.valid, result.reasons
    assert result.signer == "Committee of the Prize"
    with pytest.raises(ConfigurationError):
        load_signing_identity(None, pkcs12=p12, passphrase=b"wrong")


# -- signature and verification -----------------------------------------------------------


def test_signed_report_verifies_with_who_what_when(signed, cert_path, identity):
    pdf, _ = signed
    result = verify_report(pdf, cert_path)
    assert isinstance(result, ReportVerification)
    assert result.valid and result.exit_code == 0, result.reasons
    assert result.reasons == ()
    assert result.signer == "Prize Committee"
    assert result.signing_time == SIGNING_TIME
    assert result.kind == "certification" and result.verdict == "CERTIFIED"
    data = asset("result_certified.json").read_bytes()
    assert result.result_digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert result.signer_certificate_sha256 == hashlib.sha256(
        identity.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert "VALID" in result.summary() and "CERTIFIED" in result.summary()


def test_an_identity_can_stand_for_its_certificate(signed, identity, other_identity):
    assert verify_report(signed[0], identity).valid
    assert not verify_report(signed[0], other_identity).valid


def test_a_very_long_team_name_wraps_inside_the_page():
    from weasyprint import CSS

    from adjudicator.report.render import _stylesheet_text

    result = load_result("result_minimal.json")
    result["submission"]["team"] = "W" * 400
    html = render_html(certification_context(result), {})
    document = HTML(string=html).render(stylesheets=[CSS(string=_stylesheet_text())])
    overflowing = [
        type(box).__name__
        for page in document.pages for box in _descendants(page._page_box)
        if box.position_x + box.margin_width() > page.width + 0.5
    ]
    assert overflowing == []


def _descendants(box):
    yield box
    for child in getattr(box, "children", ()):
        yield from _descendants(child)


def test_signed_report_verifies_with_pyhanko_directly(signed, cert_path):
    pdf, _ = signed
    reader = PdfFileReader(io.BytesIO(pdf.read_bytes()))
    (sig,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(cert_path))],
                                allow_fetching=False)
    status = validate_pdf_signature(sig, context)
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert str(sig.sig_object["/Name"]) == "Prize Committee"
    assert "preregistered protocol" in str(sig.sig_object["/Reason"])
    assert str(sig.sig_object["/M"]).startswith("D:20261129060500")
    assert status.signer_reported_dt == SIGNING_TIME


def test_signed_report_verifies_with_poppler_pdfsig_too(signed, tmp_path):
    # a third, independent implementation (poppler + NSS); it has no trust root for our
    # self-signed certificate, so only the signature and the coverage are asserted
    pdf, _ = signed
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True).stdout
    assert "Signer Certificate Common Name: Prize Committee" in out
    assert "Signature Type: ETSI.CAdES.detached" in out
    assert "Total document signed" in out and "Signature is Valid." in out
    junk = tampered(tmp_path, pdf.read_bytes() + b"junk")
    out = subprocess.run(["pdfsig", str(junk)], capture_output=True, text=True).stdout
    assert "Not total document signed" in out


def test_signing_needs_an_aware_signing_time(certification, identity):
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_pdf(certification.pdf, identity, signing_time=dt.datetime(2026, 1, 1))


def test_without_a_certificate_a_self_signed_report_is_untrusted(signed):
    pdf, _ = signed
    result = verify_report(pdf)
    assert not result.valid and result.exit_code == 1
    assert any("not trusted" in r for r in result.reasons)


def test_changed_byte_fails(signed, cert_path, tmp_path):
    data = bytearray(signed[0].read_bytes())
    at = data.index(b"WeasyPrint")
    data[at] = ord("w")
    result = verify_report(tampered(tmp_path, bytes(data)), cert_path)
    assert not result.valid and result.exit_code == 1
    assert any("changed" in r for r in result.reasons), result.reasons


def test_appended_incremental_update_with_page_content_fails(signed, cert_path, tmp_path):
    writer = IncrementalPdfFileWriter(io.BytesIO(signed[0].read_bytes()))
    stream = generic.StreamObject(stream_data=b"0 0 1 rg 50 50 400 100 re f")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    forged = tampered(tmp_path, out.getvalue())
    assert PdfFileReader(io.BytesIO(forged.read_bytes())).xrefs.total_revisions == 3
    result = verify_report(forged, cert_path)
    assert not result.valid
    assert any("does not cover the whole file" in r for r in result.reasons), result.reasons


def test_junk_after_eof_fails(signed, cert_path, tmp_path):
    data = signed[0].read_bytes()
    assert data.rstrip().endswith(b"%%EOF")
    result = verify_report(tampered(tmp_path, data + b"\n% harmless?\n"), cert_path)
    assert not result.valid
    assert any("does not cover the whole file" in r and "byte(s)" in r
               for r in result.reasons), result.reasons


def test_replaced_attachment_fails(signed, cert_path, tmp_path):
    writer = IncrementalPdfFileWriter(io.BytesIO(signed[0].read_bytes()))
    forged_result = load_result("result_certified.json")
    forged_result["estimate"] = 0.99
    blob = json.dumps(forged_result).encode()
    ef = writer.add_object(generic.StreamObject(
        {generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile")}, stream_data=blob))
    spec = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Filespec"),
        generic.NameObject("/F"): generic.TextStringObject("result.json"),
        generic.NameObject("/EF"): generic.DictionaryObject({generic.NameObject("/F"): ef}),
    }))
    tree = writer.add_object(generic.DictionaryObject({generic.NameObject("/Names"):
        generic.ArrayObject([generic.TextStringObject("result.json"), spec])}))
    names = writer.root["/Names"]
    names[generic.NameObject("/EmbeddedFiles")] = tree
    if isinstance(writer.root.raw_get("/Names"), generic.IndirectObject):
        writer.update_container(names)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    forged = tampered(tmp_path, out.getvalue())
    assert embedded_files(forged.read_bytes())["result.json"] == blob
    result = verify_report(forged, cert_path)
    assert not result.valid
    assert any("does not cover the whole file" in r for r in result.reasons)
    assert any("embedded result.json has digest" in r for r in result.reasons), result.reasons


def _signature_container(data: bytes) -> tuple[int, int]:
    """Start and end offsets of the hex digits of /Contents of the one signature."""
    reader = PdfFileReader(io.BytesIO(data))
    (sig,) = reader.embedded_signatures
    r = [int(x) for x in sig.sig_object["/ByteRange"]]
    return r[0] + r[1] + 1, r[2] - 1


def test_corrupted_field_in_signature_container_fails(signed, cert_path, tmp_path):
    data = bytearray(signed[0].read_bytes())
    start, end = _signature_container(bytes(data))
    der = bytes.fromhex(data[start:end].decode("ascii"))
    info = cms.ContentInfo.load(der, strict=False)
    signer_info = info["content"]["signer_infos"][0]
    for attribute in signer_info["signed_attrs"]:
        if attribute["type"].native == "message_digest":
            digest = bytearray(attribute["values"][0].native)
            digest[0] ^= 0xFF
            attribute["values"] = [bytes(digest)]
    new = info.dump(force=True).hex().encode("ascii")
    assert len(new) <= end - start
    data[start:end] = new + b"0" * (end - start - len(new))
    result = verify_report(tampered(tmp_path, bytes(data)), cert_path)
    assert not result.valid and result.exit_code == 1
    assert any("signature invalid" in r or "verification failed" in r
               for r in result.reasons), result.reasons


def test_another_certificate_fails(signed, other_identity, certification, tmp_path, cert_path):
    pdf, _ = signed
    other_cert = other_identity.directory / "signing-cert.pem"
    result = verify_report(pdf, other_cert)
    assert not result.valid
    assert any("signed by another certificate" in r for r in result.reasons), result.reasons
    assert any("not trusted" in r for r in result.reasons), result.reasons
    # and a report signed by another key (same subject name!) against the expected cert
    other_pdf, _ = write_signed_report(certification.pdf, tmp_path / "other.pdf",
                                       other_identity, signing_time=SIGNING_TIME)
    result = verify_report(other_pdf, cert_path)
    assert not result.valid
    assert any("another certificate" in r for r in result.reasons)
    assert any("not trusted" in r for r in result.reasons)


def test_unsigned_report_fails(certification, cert_path, tmp_path):
    result = verify_report(tampered(tmp_path, certification.pdf), cert_path)
    assert not result.valid
    assert any("exactly one signature, found 0" in r for r in result.reasons)


def test_exit_codes_valid_invalid_unusable(signed, cert_path, tmp_path):
    assert verify_report(signed[0], cert_path).exit_code == 0
    not_pdf = tampered(tmp_path, b"this is not a PDF", "x.pdf")
    result = verify_report(not_pdf, cert_path)
    assert result.exit_code == 1 and not result.valid and result.reasons
    missing = verify_report(tmp_path / "missing.pdf", cert_path)
    assert missing.exit_code == 2 and not missing.usable and not missing.valid
    bad_cert = tmp_path / "bad.pem"
    bad_cert.write_text("not a certificate")
    assert verify_report(signed[0], bad_cert).exit_code == 2


# -- minisign -------------------------------------------------------------------------------


def test_minisign_round_trip_and_tampering():
    key = Ed25519PrivateKey.generate()
    public = minisign_public_key(key)
    assert MinisignPublicKey.from_text(public.to_text()) == public
    text = minisign_sign(b"report bytes", key, trusted_comment="timestamp:1\tfile:r.pdf")
    assert minisign_verify(b"report bytes", text, public) == "timestamp:1\tfile:r.pdf"
    with pytest.raises(VerificationError, match="does not match the file"):
        minisign_verify(b"report bytez", text, public)
    lines = text.splitlines()
    changed = "\n".join([*lines[:2], "trusted comment: timestamp:2\tfile:r.pdf", lines[3]])
    with pytest.raises(VerificationError, match="trusted comment was changed"):
        minisign_verify(b"report bytes", changed, public)
    other = minisign_public_key(Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="made by key"):
        minisign_verify(b"report bytes", text, other)
    with pytest.raises(ValueError, match="single line"):
        minisign_sign(b"x", key, trusted_comment="two\nlines")


def test_minisign_files_verify_with_an_independent_implementation(signed, identity):
    pdf, minisig = signed
    assert minisig == pdf.with_name("report.pdf.minisig")
    pub_text = (identity.directory / "minisign.pub").read_text()
    comment = verify_detached_signature(pdf, pub_text)
    assert comment == f"timestamp:{int(SIGNING_TIME.timestamp())}\tfile:report.pdf\thashed"
    # py-minisign (by minisign's author) parses our key and signature and verifies them
    public = py_minisign.PublicKey.from_bytes(pub_text.encode())
    signature = py_minisign.Signature.from_bytes(minisig.read_bytes())
    assert signature.is_prehashed()
    public.verify(pdf.read_bytes(), signature)
    with pytest.raises(py_minisign.VerifyError):
        public.verify(pdf.read_bytes() + b"x", signature)
    with pytest.raises(VerificationError):
        verify_detached_signature(pdf, pub_text, minisig_path=pdf)  # not a signature file


def test_minisign_verifies_signatures_made_by_the_independent_implementation():
    pair = py_minisign.KeyPair.generate()
    data = b"bytes signed elsewhere"
    sig = pair.secret_key.sign(data, trusted_comment="made by py-minisign")
    ours = MinisignPublicKey.from_text(bytes(pair.public_key).decode())
    assert minisign_verify(data, bytes(sig).decode() + "\n", ours) == "made by py-minisign"


def test_write_signed_report_leaves_nothing_half_written(certification, tmp_path):
    ident = create_signing_identity(tmp_path / "k", valid_from=VALID_FROM)
    target = tmp_path / "out" / "report.pdf"
    write_signed_report(certification.pdf, target, ident, signing_time=SIGNING_TIME)
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.pdf",
                                                               "report.pdf.minisig"]
    assert not os.access(ident.directory / "signing-key.pem", os.X_OK)

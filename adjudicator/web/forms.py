"""Reading the pages' forms: small URL-encoded forms, and the upload form, streamed.

The framework's own form parser spools uploaded files with no size limit. The upload
form is parsed here instead, chunk by chunk (``python-multipart``), with the same limit as
the JSON API's uploads. The CSRF field must come *before* the file, as the page's form
sends it, and is checked before the first byte of the file is written: a forged form
writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import parse_qsl

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from ..errors import InputError
from ..service.uploads import Received
from ..store.errors import PayloadTooLargeError

__all__ = ["FormError", "CsrfError", "UploadForm", "read_small_form", "read_upload_form"]

_SMALL_FORM = 16 * 1024  # a sign-in or a button: a few fields
_FIELD = 4096  # any one text field of the upload form
_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file


class FormError(InputError):
    """The form could not be read (not a form, too many fields, a field too long)."""


class CsrfError(Exception):
    """The form does not carry this session's CSRF token (answered 403)."""


async def read_small_form(request: Request) -> dict[str, str]:
    """A URL-encoded form of at most 16 KiB, as a dict (the last value of a repeated key)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise FormError("expected a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _SMALL_FORM:
            raise PayloadTooLargeError(f"a form is at most {_SMALL_FORM:,} bytes")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=20, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError(f"the form could not be read: {exc}") from None


@dataclass
class UploadForm:
    """What the upload form sent: its text fields and the file (written to the sink)."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    received: Received | None = None


class _Parts:
    """The callbacks of the streaming parser: text fields to memory, the file to the sink."""

    def __init__(self, sink: BinaryIO, limit: int, file_field: str,
                 check_csrf: Callable[[str | None], bool]) -> None:
        self.sink, self.limit, self.file_field, self.check_csrf = (
            sink, limit, file_field, check_csrf)
        self.form = UploadForm()
        self.digest = hashlib.sha256()
        self.size = 0
        self.files = 0
        self.on_part_begin()

    def on_part_begin(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.header = self.value = self.buf = b""
        self.name: str | None = None
        self.is_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def on_header_end(self) -> None:
        self.headers.append((self.header, self.value))
        self.header = self.value = b""

    def on_headers_finished(self) -> None:
        for name, value in self.headers:
            if name.lower() == b"content-disposition":
                _, opts = parse_options_header(value)
                self.name = opts.get(b"name", b"").decode("utf-8", "replace")
                if b"filename" in opts:
                    self.is_file = True
                    self.form.filename = opts[b"filename"].decode("utf-8", "replace")[:200]
        if self.is_file:
            if self.name != self.file_field or self.files:
                raise FormError(f"the form sends one file, as '{self.file_field}'")
            self.files = 1
            if not self.check_csrf(self.form.fields.get("csrf")):  # before any byte is kept
                raise CsrfError("the form is not from this session")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.is_file:
            self.size += len(chunk)
            if self.size > self.limit:
                raise PayloadTooLargeError(
                    f"the file is larger than the limit of {self.limit:,} bytes")
            self.digest.update(chunk)
            self.sink.write(chunk)
            return
        self.buf += chunk
        if len(self.buf) > _FIELD:
            raise FormError(f"the form field {self.name!r} is too long")

    def on_part_end(self) -> None:
        if self.is_file or not self.name:
            return
        if len(self.form.fields) >= 10:
            raise FormError("the form has too many fields")
        try:
            self.form.fields[self.name] = self.buf.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError(f"the form field {self.name!r} is not UTF-8") from None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {name: getattr(self, name) for name in (
            "on_part_begin", "on_part_data", "on_part_end", "on_header_field",
            "on_header_value", "on_header_end", "on_headers_finished")}


async def read_upload_form(
    request: Request, sink: BinaryIO, *, limit: int, file_field: str,
    check_csrf: Callable[[str | None], bool],
) -> UploadForm:
    """Parse a multipart upload form, writing its one file to ``sink`` (see the module)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise FormError("expected a file upload form (multipart/form-data)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _OVERHEAD:
        raise PayloadTooLargeError(f"the file is larger than the limit of {limit:,} bytes")
    parts = _Parts(sink, limit, file_field, check_csrf)
    parser = MultipartParser(boundary, parts.callbacks(),  # type: ignore[arg-type]
                             max_header_count=8, max_header_size=4224)
    wire = 0
    try:
        async for chunk in request.stream():
            wire += len(chunk)
            if wire > limit + _OVERHEAD:
                raise PayloadTooLargeError(
                    f"the file is larger than the limit of {limit:,} bytes")
            parser.write(chunk)
        parser.finalize()
    except (FormError, CsrfError, PayloadTooLargeError):
        raise
    except Exception as exc:  # noqa: BLE001 - the parser's own errors: a broken form
        raise FormError(f"the upload form could not be read: {exc}") from None
    sink.flush()
    if not parts.files:
        if not check_csrf(parts.form.fields.get("csrf")):
            raise CsrfError("the form is not from this session")
        raise FormError("choose a file to upload")
    parts.form.received = Received(size=parts.size, sha256=parts.digest.hexdigest())
    return parts.form

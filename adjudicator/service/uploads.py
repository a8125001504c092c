"""Receiving an upload: streamed, size-limited, decompressed with a limit, hashed on the way.

The framework sets no limit on a request body, and a small compressed body can expand to
gigabytes. So the body is read chunk by chunk and refused (:class:`PayloadTooLargeError`,
HTTP 413) as soon as either the bytes on the wire or the decoded bytes pass the limit:

* ``Content-Length`` larger than the limit: refused before reading a byte;
* ``Content-Encoding: gzip`` or ``deflate``: decoded with ``zlib`` asking for at most one
  chunk of output at a time (``max_length``), so a bomb never expands past the limit in
  memory or on disk; other encodings are refused;
* Parquet files compress and encode inside: :func:`check_parquet` reads the footer and
  refuses a file whose declared uncompressed size, or eight bytes per value, is over the
  limit before a column is decoded.

Nothing is accepted here: the caller validates the file and only then stores it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from ..store.errors import PayloadTooLargeError

__all__ = ["Received", "receive", "check_parquet"]

_OUT_CHUNK = 1 << 20


@dataclass(frozen=True)
class Received:
    """A body written to a sink: its decoded size and sha256."""

    size: int
    sha256: str


def _too_large(limit: int, what: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the {what} is larger than the limit of {limit:,} bytes")


def _decoder(encoding: str) -> zlib._Decompress | None:
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj()
    raise InputError(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")


async def receive(
    chunks: AsyncIterator[bytes],
    sink: BinaryIO,
    *,
    limit: int,
    content_length: str | None = None,
    content_encoding: str | None = None,
) -> Received:
    """Write the decoded body to ``sink``, refusing it past ``limit`` bytes (wire or decoded)."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise InputError("Content-Length is not a number") from None
        if declared > limit:
            raise _too_large(limit, "request body")
    decoder = _decoder(content_encoding or "")
    h = hashlib.sha256()
    wire = size = 0

    def emit(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > limit:
            raise _too_large(limit, "decompressed body" if decoder else "request body")
        h.update(data)
        sink.write(data)

    async for chunk in chunks:
        wire += len(chunk)
        if wire > limit:
            raise _too_large(limit, "request body")
        if decoder is None:
            emit(chunk)
            continue
        data = chunk
        try:
            while data:
                emit(decoder.decompress(data, _OUT_CHUNK))
                data = decoder.unconsumed_tail
        except zlib.error as exc:
            raise InputError(f"the body is not valid {content_encoding}: {exc}") from None
    if decoder is not None:
        try:
            emit(decoder.flush())
        except zlib.error as exc:
            raise InputError(f"the body is not valid {content_encoding}: {exc}") from None
        if not decoder.eof:
            raise InputError(f"the {content_encoding} body is truncated")
    sink.flush()
    return Received(size=size, sha256=h.hexdigest())


def check_parquet(path: Path, limit: int) -> None:
    """Refuse a Parquet file whose declared uncompressed size is over ``limit``."""
    with path.open("rb") as fh:
        if fh.read(4) != b"PAR1":
            return
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - the reader reports unreadable files with context
        return
    # dictionary and run-length encodings expand before any compression: count at least
    # eight bytes per decoded value (a float, or a string's pointer), as a CSV would
    if meta.num_rows * max(meta.num_columns, 1) * 8 > limit:
        raise _too_large(limit, "uncompressed Parquet content")
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        total += max(group.total_byte_size,
                     sum(group.column(j).total_uncompressed_size
                         for j in range(group.num_columns)))
        if total > limit:
            raise _too_large(limit, "uncompressed Parquet content")

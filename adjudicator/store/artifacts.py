"""The content-addressed file store: every file lives at the sha256 of its bytes.

Layout under ``settings.store``::

    objects/ab/cdef...   (the 64-hex sha256, split after two characters; mode 0640)
    tmp/                 uploads being received and files being written

A file is written to ``tmp/``, flushed and fsynced, then renamed to its address, and the
directory is fsynced: a crash leaves either the whole file at its address or a stray file
in ``tmp/``, never a partial object. The database row that refers to an object is committed
*after* the object is on disk, so a crash in between leaves an object nobody refers to:
:meth:`ArtifactStore.sweep` removes those when the service starts. Objects are immutable;
writing the same bytes twice stores them once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from ..errors import ConfigurationError, VerificationError
from .errors import NotFoundError

__all__ = ["ArtifactStore"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """Immutable files addressed by the sha256 of their bytes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        try:
            self.objects.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{self.root}: cannot create the artifact store: {exc}") from exc

    def path(self, sha256: str) -> Path:
        """Where the object with this address lives (it may not exist)."""
        if not _HEX.match(sha256):
            raise NotFoundError(f"not an artifact address: {sha256!r}")
        return self.objects / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def temporary(self, suffix: str = "") -> tuple[BinaryIO, Path]:
        """A new file in ``tmp/`` for the caller to fill, and its path."""
        fd, name = tempfile.mkstemp(dir=self.tmp, suffix=suffix)
        return os.fdopen(fd, "w+b"), Path(name)

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its sha256 address."""
        handle, tmp = self.temporary()
        try:
            with handle:
                handle.write(data)
            return self.put_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, tmp: Path, sha256: str | None = None) -> str:
        """Move a finished file from ``tmp/`` to its address; return the address.

        ``sha256`` may be given when the caller hashed the bytes while writing them.
        """
        if sha256 is None:
            h = hashlib.sha256()
            with tmp.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    h.update(chunk)
            sha256 = h.hexdigest()
        target = self.path(sha256)
        if target.is_file():
            tmp.unlink(missing_ok=True)
            return sha256
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o640)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        return sha256

    def read(self, sha256: str) -> bytes:
        """The object's bytes, checked against its address."""
        try:
            data = self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"artifact {sha256} is missing from the store") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise VerificationError(f"artifact {sha256} does not match its address")
        return data

    def addresses(self) -> Iterable[str]:
        """Every object's address."""
        for sub in sorted(self.objects.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    name = sub.name + f.name
                    if _HEX.match(name):
                        yield name

    def sweep(self, referenced: set[str], *, older_than: float | None = None) -> list[str]:
        """Remove objects no database row refers to and stray files in ``tmp/``.

        Only files last changed before ``older_than`` (a Unix time; default now) are
        removed, so that a sweep cannot take a file another live process is about to
        commit. Returns the removed addresses.
        """
        cutoff = time.time() if older_than is None else older_than
        removed = []
        for f in self.tmp.iterdir():
            if f.stat().st_mtime <= cutoff:
                f.unlink(missing_ok=True)
        for sha in list(self.addresses()):
            if sha in referenced:
                continue
            path = self.path(sha)
            if path.stat().st_mtime <= cutoff:
                path.unlink(missing_ok=True)
                removed.append(sha)
        return removed

"""The service's secret keys, kept in files under ``settings.keys`` and never in the database.

==========================  =================================================================
``truth.key``               32 random bytes: the AES-256-GCM key that seals the truth at rest
``ledger-key.pem``          Ed25519 private key (PKCS#8 PEM) signing ledger checkpoints
``ledger.vkey``             its public verifier key in signed-note form (publish it)
==========================  =================================================================

Private files are created with mode 0600 from the first byte (in a 0700 directory) and
written under a temporary name then renamed, so two processes starting at once cannot
both create a key: the second finds the first's and uses it. A key file readable by others
is refused, as OpenSSH refuses a private key with loose permissions.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..errors import ConfigurationError

__all__ = ["TRUTH_KEY_FILE", "LEDGER_KEY_FILE", "LEDGER_VKEY_FILE", "truth_key", "ledger_key"]

TRUTH_KEY_FILE = "truth.key"
LEDGER_KEY_FILE = "ledger-key.pem"
LEDGER_VKEY_FILE = "ledger.vkey"


def _private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def _read_private(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{path}: a secret key must not be readable by others (mode {mode:04o}); "
            "chmod 600 it"
        )
    return path.read_bytes()


def _create_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (0600) unless it exists; True when this call created it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if another process created the key first
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def truth_key(directory: str | os.PathLike[str]) -> bytes:
    """The truth-sealing key in ``directory``, created on first use."""
    folder = Path(directory)
    path = folder / TRUTH_KEY_FILE
    try:
        _private_dir(folder)
        if not path.exists():
            _create_private(path, secrets.token_bytes(32))
        key = _read_private(path)
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read or create the truth key: {exc}") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{path}: a truth key is 32 bytes, found {len(key)}")
    return key


def ledger_key(directory: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The ledger's Ed25519 checkpoint-signing key in ``directory``, created on first use."""
    folder = Path(directory)
    path = folder / LEDGER_KEY_FILE
    try:
        _private_dir(folder)
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            _create_private(path, pem)
        key = serialization.load_pem_private_key(_read_private(path), None)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: cannot read or create the ledger key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path}: not an Ed25519 private key")
    return key

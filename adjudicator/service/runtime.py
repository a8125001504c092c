"""What every operation of the service works with: settings, the store, the clock, caches.

The clock is an argument (tests freeze it); caches hold parsed protocols and the truths
used for validating uploads, keyed by the digest or blob address they were read from, so a
cache entry can never stand for different bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from ..data import Truth
from ..protocol import Protocol, parse_protocol
from ..settings import Settings
from ..store import Store
from ..store.errors import NotFoundError
from ..store.models import Challenge, ProtocolRecord

__all__ = ["Runtime", "stamp", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """ISO 8601 UTC text with microseconds, as every table stores times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Runtime:
    """The service's state: settings, store, clock and caches (thread-safe)."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime] = utc_now
    _protocols: dict[str, Protocol] = field(default_factory=dict, repr=False)
    _truths: dict[tuple[str, str], Truth] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        return self.clock()

    def stamp(self) -> str:
        return stamp(self.clock())

    def protocol(self, record: ProtocolRecord) -> Protocol:
        """The parsed protocol of a registered record (parsed once per process)."""
        with self._lock:
            cached = self._protocols.get(record.digest)
        if cached is not None:
            return cached
        parsed = parse_protocol(record.canonical, source=f"protocol {record.digest}")
        if parsed.digest != record.digest:
            raise NotFoundError(f"protocol {record.digest}: stored text has another digest")
        with self._lock:
            self._protocols[record.digest] = parsed
        return parsed

    def validation_truth(self, challenge: Challenge, protocol: Protocol) -> Truth:
        """The truth uploads are validated against: the real one, or the manifest's skeleton."""
        from .validation import read_sealed_truth, read_units, skeleton_truth

        if challenge.truth_sealed_sha256 is not None and challenge.order == "retrospective":
            key = ("truth", challenge.truth_sealed_sha256)
        elif challenge.units_sha256 is not None:
            key = ("units", challenge.units_sha256)
        else:
            raise NotFoundError(f"challenge {challenge.id!r} has neither truth nor manifest")
        with self._lock:
            cached = self._truths.get(key)
        if cached is not None:
            return cached
        if key[0] == "truth":
            plain = self.store.sealer.open(self.store.artifacts.read(key[1]))
            truth = read_sealed_truth(protocol, plain)
        else:
            path = self.store.artifacts.path(key[1])
            truth = skeleton_truth(protocol, read_units(protocol, path))
        with self._lock:
            self._truths[key] = truth
        return truth

    def units(self, challenge: Challenge, protocol: Protocol) -> pd.DataFrame:
        from .validation import read_units

        if challenge.units_sha256 is None:
            raise NotFoundError(f"challenge {challenge.id!r} has no units manifest")
        return read_units(protocol, self.store.artifacts.path(challenge.units_sha256))

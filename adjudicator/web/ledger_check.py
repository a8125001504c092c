"""The ledger viewer's verification: ``adjudicator ledger verify``, run in the background.

Verifying recomputes the whole Merkle log, checks every domain row against its entry and
re-hashes every stored file, which takes a while on a large store. So a page asks for it
(:meth:`LedgerChecks.start`), the work runs in a thread, and the page polls
:meth:`LedgerChecks.view` until it is done. One verification runs at a time; its outcome
(valid up to which size and head, or the first thing that did not match) is kept until
the next one.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import AdjudicatorError
from ..service.runtime import Runtime

__all__ = ["LedgerChecks"]


class LedgerChecks:
    """The last (or running) verification of one service's ledger."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"status": "never", "message": None, "size": None,
                                       "head": None, "records": None, "files": None,
                                       "started_at": None, "finished_at": None}

    def start(self) -> bool:
        """Start a verification unless one is running; True when this call started one."""
        with self._lock:
            if self._state["status"] == "running":
                return False
            self._state.update(status="running", message=None, started_at=self.rt.stamp(),
                               finished_at=None)
        threading.Thread(target=self._run, name="adjudicator-ledger-verify",
                         daemon=True).start()
        return True

    def _run(self) -> None:
        from ..service.commands import verify_ledger

        try:
            result, records, files = verify_ledger(self.rt)
            outcome = {"status": "valid", "size": result.size, "head": result.head,
                       "records": records, "files": files,
                       "message": f"all {result.size} entries, {records} records and "
                                  f"{files} stored files check out"}
        except AdjudicatorError as exc:
            outcome = {"status": "invalid", "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - shown on the page, not lost in a thread
            outcome = {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self._state.update(outcome, finished_at=self.rt.stamp())

    def view(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self._state)
        state["done"] = state["status"] != "running"
        return state

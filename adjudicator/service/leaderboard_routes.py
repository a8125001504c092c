"""The leaderboard routes: the public board and the final rankings (:mod:`.boards`).

=====================================================  ==========  ===========================
route                                                  who         does
=====================================================  ==========  ===========================
``GET /challenges/{c}/leaderboard/public``             anyone      what the mechanism shows
``GET /challenges/{c}/leaderboard/final``              anyone      tie groups, rank intervals
                                                                   (after the window closes)
=====================================================  ==========  ===========================
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from . import boards
from .auth import principal, runtime

__all__ = ["router"]

# every route reads the caller, so a bad token is refused even where the public may read
router = APIRouter(dependencies=[Depends(principal)])


@router.get("/challenges/{challenge_id}/leaderboard/public", tags=["public"])
def public_leaderboard(challenge_id: str, request: Request) -> dict[str, Any]:
    """Each team's best value as the preregistered feedback mechanism shows it.

    The value is read from the public units only. Ties share a rank, and with
    thresholdout each team's remaining budget is shown too.
    """
    return boards.public_board(runtime(request), challenge_id)


@router.get("/challenges/{challenge_id}/leaderboard/final", tags=["public"])
def final_leaderboard(
    challenge_id: str, request: Request,
    resamples: int | None = Query(default=None, ge=200, le=1_000_000,
                                  description="bootstrap resamples (default: the protocol's)"),
) -> dict[str, Any]:
    """Final rankings on the certification units, with tie groups (bootstrap Bayes factor
    K <= tie_bayes_factor) and 95% rank intervals, together with the published secret."""
    return boards.final_ranking(runtime(request), challenge_id, resamples=resamples)

"""Who is calling, and may they: the FastAPI dependencies every route declares.

``Authorization: Bearer <token>`` names a user (:func:`adjudicator.service.users.authenticate`);
no header is the public; an unknown or revoked token is refused (401) rather than treated
as the public, so a typo in a token never silently downgrades a caller. ``require(*roles)``
refuses other roles with 403 (and the public with 401). Objects of another team are
answered with 404, so a participant cannot learn that they exist.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .runtime import Runtime
from .users import PUBLIC, Principal, authenticate

__all__ = ["bearer", "principal", "require", "runtime"]

bearer = HTTPBearer(auto_error=False, description="a token minted by `adjudicator users add`")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    """The caller: a user, or :data:`PUBLIC` without a token."""
    if credentials is None:
        if request.headers.get("authorization"):
            raise HTTPException(401, "the Authorization header must be 'Bearer <token>'",
                                headers=_CHALLENGE)
        return PUBLIC
    rt = runtime(request)
    with rt.store.db.read() as session:
        who = authenticate(session, credentials.credentials)
    if who is None:
        raise HTTPException(401, "unknown or revoked token", headers=_CHALLENGE)
    return who


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting only ``roles``."""

    def dependency(who: Principal = Depends(principal)) -> Principal:
        if who.role == "public":
            raise HTTPException(401, "this needs a token", headers=_CHALLENGE)
        if who.role not in roles:
            raise HTTPException(403, f"the {who.role} role may not do this")
        return who

    dependency.__name__ = "require_" + "_or_".join(roles)
    return dependency

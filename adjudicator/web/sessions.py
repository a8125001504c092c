"""Browser sessions: a signed cookie bound to the user's token, and a CSRF token per session.

A person signs in by pasting the bearer token ``adjudicator users add`` minted. The token
itself never goes into the cookie. The cookie holds the user's id, a random nonce and the
time it was issued, and is signed with HMAC-SHA256 over those *and the sha256 of the
user's current token*. So a revoked user, or a user whose token was replaced, loses every
session at once, and a cookie cannot be moved to another user.

==================  ===========================================================================
attribute           why
==================  ===========================================================================
``HttpOnly``        scripts on the page never read it
``SameSite=Lax``    other sites' forms and scripts do not send it (a link from an e-mail still
                    arrives signed in, which ``Strict`` would not)
``Secure``          when the request came over https (behind a proxy: uvicorn trusts the
                    ``X-Forwarded-Proto`` of ``FORWARDED_ALLOW_IPS``, by default the
                    local host); the cookie is then named ``__Host-adj_session``,
                    which browsers only accept from a secure origin, for the whole host
``Max-Age``         :data:`SESSION_SECONDS`; the signed issue time is also checked here
==================  ===========================================================================

CSRF: every form carries ``csrf = HMAC(key, "csrf" NUL nonce)`` of the session that showed
it, checked on every POST with a constant-time comparison. A visitor who is not signed in
still has an anonymous session (a nonce, no user), so the sign-in form is protected too
(login CSRF); signing in and out issue a fresh nonce.

The signing key is derived from the truth key (``HMAC(truth key,
"adjudicator/web-session/v1")``), as the leaderboard's secret is: it is never stored, and
rotating the truth key signs everybody out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from ..service.runtime import Runtime
from ..service.users import PUBLIC, Principal
from ..store.keys import truth_key
from ..store.models import Team, User

__all__ = ["SESSION_SECONDS", "Session", "read_session", "new_session", "set_cookie",
           "cookie_name", "csrf_valid"]

#: how long a session lasts after signing in
SESSION_SECONDS = 12 * 3600
_DOMAIN = b"adjudicator/web-session/v1"
_NAME = "adj_session"
_SECURE_NAME = "__Host-adj_session"
_MAX_COOKIE = 512


@dataclass(frozen=True)
class Session:
    """A browser's session: who (or the public), its nonce, when it was issued."""

    principal: Principal
    nonce: str
    issued: int

    def csrf(self, key: bytes) -> str:
        return _b64(hmac.new(key, b"csrf\0" + self.nonce.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_key(rt: Runtime) -> bytes:
    """The key that signs session cookies and CSRF tokens (derived, never stored)."""
    return hmac.new(truth_key(rt.settings.keys), _DOMAIN, hashlib.sha256).digest()


def cookie_name(request: Request) -> str:
    return _SECURE_NAME if request.url.scheme == "https" else _NAME


def _mac(key: bytes, payload: bytes, token_sha256: str) -> bytes:
    return hmac.new(key, payload + b"\0" + token_sha256.encode(), hashlib.sha256).digest()


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def new_session(rt: Runtime, key: bytes, user: User | None = None) -> tuple[Session, str]:
    """A fresh session (anonymous, or signed in as ``user``) and its cookie value."""
    nonce = secrets.token_hex(16)
    issued = _seconds(rt.now())
    payload = json.dumps({"u": user.id if user else None, "n": nonce, "t": issued},
                         separators=(",", ":")).encode()
    value = _b64(payload) + "." + _b64(_mac(key, payload, user.token_sha256 if user else ""))
    principal = PUBLIC if user is None else _principal_of(user, None)
    return Session(principal, nonce, issued), value


def _principal_of(user: User, team: Team | None) -> Principal:
    return Principal(role=user.role, user_id=user.id, name=user.name, team_id=user.team_id,
                     team=team.name if team else None)


def _parse(value: str) -> tuple[bytes, bytes, dict[str, object]] | None:
    if len(value) > _MAX_COOKIE or value.count(".") != 1:
        return None
    head, mac = value.split(".")
    try:
        payload, signature = _unb64(head), _unb64(mac)
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or set(data) != {"u", "n", "t"}:
        return None
    if not isinstance(data["n"], str) or not isinstance(data["t"], int) or not (
            data["u"] is None or isinstance(data["u"], int)):
        return None
    return payload, signature, data


def read_session(request: Request, rt: Runtime, key: bytes) -> Session:
    """The request's session; a new anonymous one when it has none or an invalid one.

    Checks, in order: (1) the cookie parses; (2) it was issued no more than
    :data:`SESSION_SECONDS` ago and not in the future; (3) for a user, the user exists and
    is not revoked; (4) the signature matches, with the user's current token hash.
    """
    raw = request.cookies.get(cookie_name(request))
    parsed = _parse(raw) if raw else None  # (1)
    if parsed is not None:
        payload, signature, data = parsed
        now = _seconds(rt.now())
        issued = int(data["t"])  # type: ignore[call-overload]
        if issued <= now + 60 and now - issued <= SESSION_SECONDS:  # (2)
            user_id = data["u"]
            if user_id is None:
                if hmac.compare_digest(signature, _mac(key, payload, "")):  # (4)
                    return Session(PUBLIC, str(data["n"]), issued)
            else:
                with rt.store.db.read() as session:
                    user = session.get(User, user_id)
                    if user is not None and user.revoked_at is None:  # (3)
                        team = session.get(Team, user.team_id) if user.team_id else None
                        if hmac.compare_digest(  # (4)
                                signature, _mac(key, payload, user.token_sha256)):
                            return Session(_principal_of(user, team), str(data["n"]), issued)
    return _anonymous(request, rt, key)


def _anonymous(request: Request, rt: Runtime, key: bytes) -> Session:
    session, value = new_session(rt, key)
    # remembered on the request so the page that shows the form sets this very cookie
    request.state.new_cookie = value
    return session


def set_cookie(request: Request, response: Response, value: str | None = None) -> None:
    """Send the session cookie (``value``, or the anonymous one made for this request)."""
    value = value or getattr(request.state, "new_cookie", None)
    if value is None:
        return
    secure = request.url.scheme == "https"
    response.set_cookie(cookie_name(request), value, max_age=SESSION_SECONDS, path="/",
                        secure=secure, httponly=True, samesite="lax")


def csrf_valid(session: Session, key: bytes, supplied: str | None) -> bool:
    """Does the form's CSRF token belong to this session?"""
    if not supplied or len(supplied) > 100:
        return False
    return hmac.compare_digest(supplied.encode(), session.csrf(key).encode())


def find_user_by_token(rt: Runtime, token: str) -> User | None:
    """The active user a pasted token names, or None."""
    from ..service.users import token_sha256

    token = token.strip()
    if not token or len(token) > 200:
        return None
    with rt.store.db.read() as session:
        user = session.scalars(select(User).where(
            User.token_sha256 == token_sha256(token))).first()
        if user is None or user.revoked_at is not None:
            return None
        session.expunge(user)
        return user

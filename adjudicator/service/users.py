"""Users, teams and bearer tokens.

A token is 32 random bytes (``adj_`` + URL-safe base64), shown once when it is minted and
stored only as its SHA-256: a database leak gives no usable token. With 256 bits of
entropy a plain hash is enough (no password-stretching needed: there is nothing to guess).

Roles: ``admin`` runs challenges; ``participant`` (always in a team) submits and reads its
own team's submissions, results and reports; ``auditor`` reads every result, report and the
ledger and writes nothing. A caller without a token is the *public*: challenge pages, the
leaderboard, protocols and ledger checkpoints.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError
from ..store.errors import ConflictError, NotFoundError
from ..store.models import ROLES, Team, User
from .runtime import Runtime

__all__ = ["Principal", "PUBLIC", "token_sha256", "add_user", "authenticate", "revoke_user",
           "ensure_team"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user with a role (and a team), or the public."""

    role: str
    user_id: int | None = None
    name: str | None = None
    team_id: int | None = None
    team: str | None = None


PUBLIC = Principal(role="public")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise InputError(f"{what} {value!r}: use 1-100 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return value


def ensure_team(session: Session, name: str, at: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).first()
    if team is None:
        team = Team(name=_check_name(name, "team"), created_at=at)
        session.add(team)
        session.flush()
    return team


def add_user(rt: Runtime, name: str, role: str, team: str | None = None) -> tuple[User, str]:
    """Create a user; return it and its token (the only time the token exists in clear)."""
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "participant" and not team:
        raise InputError("a participant belongs to a team: give --team")
    if role != "participant" and team:
        raise InputError(f"an {role} has no team")
    _check_name(name, "user name")
    token = "adj_" + secrets.token_urlsafe(32)
    at = rt.stamp()
    with rt.store.db.write() as session:
        if session.scalars(select(User).where(User.name == name)).first() is not None:
            raise ConflictError(f"user {name!r} exists")
        team_row = ensure_team(session, team, at) if team else None
        user = User(name=name, role=role, team_id=team_row.id if team_row else None,
                    token_sha256=token_sha256(token), created_at=at)
        session.add(user)
    return user, token


def revoke_user(rt: Runtime, name: str) -> None:
    with rt.store.db.write() as session:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise NotFoundError(f"no user {name!r}")
        user.revoked_at = rt.stamp()


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal a token stands for, or None for an unknown or revoked token."""
    user = session.scalars(
        select(User).where(User.token_sha256 == token_sha256(token))
    ).first()
    if user is None or user.revoked_at is not None:
        return None
    team = session.get(Team, user.team_id) if user.team_id is not None else None
    return Principal(role=user.role, user_id=user.id, name=user.name,
                     team_id=user.team_id, team=team.name if team else None)

"""The database schema (SQLAlchemy 2 declarative models).

Every change of these models comes with an Alembic migration in ``migrations/versions``;
the service runs the migrations when it starts (:func:`adjudicator.store.open_database`).

Conventions: times are ISO 8601 UTC text (``2026-11-29T10:00:00.000000Z``), the same on
SQLite and PostgreSQL; digests are ``sha256:<hex>`` text; artifact addresses are the bare
64-character hex sha256 of the stored bytes. No file content sits in the database, and the
sequestered truth never does (only its sealed blob's address and its public digest), nor
do the sequestered inputs of a model-to-data challenge.
"""

from __future__ import annotations

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Team",
    "User",
    "Artifact",
    "ProtocolRecord",
    "Challenge",
    "Baseline",
    "PowerAnalysis",
    "FamilyCounter",
    "Submission",
    "Report",
    "Job",
    "IdempotencyRecord",
    "WithdrawalAttempt",
    "LedgerEntry",
    "LedgerHead",
    "ROLES",
    "ORDERS",
    "PHASES",
]

ROLES = ("admin", "participant", "auditor")
ORDERS = ("retrospective", "prospective")
PHASES = ("draft", "open", "closed")

_SHA = String(64)
_DIGEST = String(71)
_TIME = String(32)


class Base(DeclarativeBase):
    pass


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[str] = mapped_column(_TIME)


class User(Base):
    """Who may call the API; the bearer token is stored as its sha256 only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    token_sha256: Mapped[str] = mapped_column(_SHA, unique=True)
    created_at: Mapped[str] = mapped_column(_TIME)
    revoked_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)


class Artifact(Base):
    """A file in the content-addressed store, by the sha256 of its bytes."""

    __tablename__ = "artifacts"

    sha256: Mapped[str] = mapped_column(_SHA, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(_TIME)


class ProtocolRecord(Base):
    """A registered (frozen) protocol: its canonical JSON and digest."""

    __tablename__ = "protocols"

    digest: Mapped[str] = mapped_column(_DIGEST, primary_key=True)
    protocol_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    canonical: Mapped[str] = mapped_column(Text)
    source_sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    registered_at: Mapped[str] = mapped_column(_TIME)
    ledger_seq: Mapped[int] = mapped_column(Integer)


class Challenge(Base):
    """A protocol + the truth commitment + a submission window, in one of two orders."""

    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    protocol_digest: Mapped[str] = mapped_column(ForeignKey("protocols.digest"))
    order: Mapped[str] = mapped_column("submission_order", String(16))
    phase: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[str] = mapped_column(_TIME)
    # the units manifest of a prospective challenge (what is to be predicted)
    units_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"),
                                                     nullable=True)
    units_digest: Mapped[str | None] = mapped_column(_DIGEST, nullable=True)
    truth_digest: Mapped[str | None] = mapped_column(_DIGEST, nullable=True)
    truth_sealed_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"),
                                                            nullable=True)
    truth_n_units: Mapped[int | None] = mapped_column(Integer, nullable=True)
    truth_committed_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    truth_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # model to data (protocol submission.mode: code): the sequestered inputs, sealed like
    # the truth; inputs_digest is the public commitment (adjudicator-inputs/v1)
    inputs_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"),
                                                      nullable=True)
    inputs_digest: Mapped[str | None] = mapped_column(_DIGEST, nullable=True)
    inputs_columns: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list
    inputs_committed_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    inputs_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    opened_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    opened_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    closed_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    closed_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # a protocol with a leaderboard block: the public/private split and sha256 of the
    # secret that seeded it, both recorded in the truth_committed entry
    split_digest: Mapped[str | None] = mapped_column(_DIGEST, nullable=True)
    secret_sha256: Mapped[str | None] = mapped_column(_SHA, nullable=True)


class Baseline(Base):
    """The committee's baseline predictions a protocol compares entries with."""

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"))
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    digest: Mapped[str] = mapped_column(_DIGEST)
    created_at: Mapped[str] = mapped_column(_TIME)


class PowerAnalysis(Base):
    """A power analysis the committee recorded before the window opened: the full result
    (canonical JSON of :meth:`adjudicator.power.PowerResult.to_dict`), its digest, and the
    ``power_analysis`` ledger entry holding that digest and the inputs."""

    __tablename__ = "power_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    units: Mapped[int] = mapped_column(Integer)
    options: Mapped[str] = mapped_column(Text)  # canonical JSON: the keyword arguments
    result: Mapped[str] = mapped_column(Text)  # canonical JSON of the PowerResult
    digest: Mapped[str] = mapped_column(_DIGEST)  # sha256: of ``result``'s UTF-8 bytes
    recorded_at: Mapped[str] = mapped_column(_TIME)
    ledger_seq: Mapped[int] = mapped_column(Integer)


class FamilyCounter(Base):
    """Accepted submissions of one multiplicity family; the row PostgreSQL locks."""

    __tablename__ = "family_counters"

    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), primary_key=True)
    family: Mapped[str] = mapped_column(String(100), primary_key=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)


class Submission(Base):
    """An accepted submission: validated, stored, recorded in the ledger."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("challenge_id", "family", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    family: Mapped[str] = mapped_column(String(100))
    sequence: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    digest: Mapped[str] = mapped_column(_DIGEST)
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    received_at: Mapped[str] = mapped_column(_TIME)
    received_seq: Mapped[int] = mapped_column(Integer)
    # received -> adjudicated | failed
    status: Mapped[str] = mapped_column(String(16), default="received")
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    estimate: Mapped[float | None] = mapped_column(Float, nullable=True)
    alpha_k: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"),
                                                      nullable=True)
    posteriors: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON name -> sha
    adjudicated_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    adjudicated_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the name the ledger and the published results give the team: its pseudonym when the
    # protocol publishes pseudonymously (None: the team's name)
    team_label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # the team's short public note (set once, recorded in the ledger: note_attached)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    note_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)
    note_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the adjudication_failed entry of a submission whose adjudication could not run
    failed_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # code submissions: the sealed full record of the last run (logs: committee only) and,
    # when the run failed, its run_failed ledger entry
    run_sha256: Mapped[str | None] = mapped_column(ForeignKey("artifacts.sha256"),
                                                   nullable=True)
    run_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Report(Base):
    """A signed certification report of one adjudication."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("artifacts.sha256"))
    minisig: Mapped[str | None] = mapped_column(Text, nullable=True)
    checkpoint: Mapped[str] = mapped_column(Text)  # the signed note it was issued under
    issued_at: Mapped[str] = mapped_column(_TIME)
    ledger_seq: Mapped[int] = mapped_column(Integer)


class Job(Base):
    """Background work that survives a restart: claimed with a lease, re-run when it lapses."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    # queued -> running -> done | failed
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[str] = mapped_column(_TIME)
    finished_at: Mapped[str | None] = mapped_column(_TIME, nullable=True)


class IdempotencyRecord(Base):
    """An ``Idempotency-Key`` of one user and the submission its first request created."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(_SHA)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[str] = mapped_column(_TIME)


class WithdrawalAttempt(Base):
    """A refused request to delete or hide a submission, and its ledger entry (once per
    submission, user and action: a repeated attempt is answered the same, not re-logged)."""

    __tablename__ = "withdrawal_attempts"
    __table_args__ = (UniqueConstraint("submission_id", "user_id", "action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[str] = mapped_column(_TIME)
    ledger_seq: Mapped[int] = mapped_column(Integer)


class LedgerEntry(Base):
    """One event of the Merkle log and the signed checkpoint of the tree that ends with it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_challenge_seq", "challenge", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(_TIME)
    # the event's "challenge" (None for events of no challenge): finds the previous entry
    # of a challenge, which each new one links to (challenge_prev)
    challenge: Mapped[str | None] = mapped_column(String(100), nullable=True)


class LedgerHead(Base):
    """The single row holding the log's size and right frontier; appends lock it."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    frontier: Mapped[str] = mapped_column(Text)  # JSON list of hex subtree hashes

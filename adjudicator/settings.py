"""Runtime settings: one strict object, read by the CLI and the app factory alone.

Only the protocol changes a verdict; these settings say *where* things happen (files,
database, keys, cluster), never *what* is decided. Every field can be set by an environment
variable ``ADJUDICATOR_<FIELD>`` (e.g. ``ADJUDICATOR_HOME``, ``ADJUDICATOR_DATABASE_URL``,
``ADJUDICATOR_DASK_SCHEDULER``); unknown ``ADJUDICATOR_*`` variables are ignored, wrong
values are a :class:`~adjudicator.errors.ConfigurationError`.

================================  =============================================================
setting                           default
================================  =============================================================
``home``                          ``~/.adjudicator``: database, artifact store, keys
``database_url``                  ``sqlite:///<home>/adjudicator.db``
``keys_dir``                      ``<home>/keys``: signing key and certificate (0600 files)
``store_dir``                     ``<home>/store``: content-addressed files by sha256
``reports_dir``                   ``reports`` (relative to the working directory)
``dask_scheduler``                none: compute in process
``workers``                       threads over resample blocks in process (1)
``service_compute``               ``process``: where the service's worker adjudicates
                                  (``process``; ``blocks``: here, its resample blocks on
                                  the Dask cluster; ``adjudications``: each one a task on
                                  the cluster; both need ``dask_scheduler``)
``service_workers``               jobs the service's worker runs at once in this process
                                  (1; threads, each claiming jobs on its own; several
                                  server processes may share one database too)
``max_upload_bytes``              2 GiB
``sandbox_dir``                   where code runs stage their files and the decrypted inputs
                                  (``/dev/shm`` when writable, so they stay in memory; else
                                  the system's temporary directory)
================================  =============================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Where adjudicator keeps its state and runs its work."""

    model_config = SettingsConfigDict(env_prefix="ADJUDICATOR_", extra="ignore", frozen=True)

    home: Path = Field(default_factory=lambda: Path.home() / ".adjudicator")
    database_url: str | None = None
    keys_dir: Path | None = None
    store_dir: Path | None = None
    reports_dir: Path = Path("reports")
    dask_scheduler: str | None = Field(
        default=None, description="tcp://host:port of a dask.distributed scheduler"
    )
    workers: int = Field(default=1, ge=1, le=256)
    service_compute: Literal["process", "blocks", "adjudications"] = Field(
        default="process",
        description="where the service's worker adjudicates: process, blocks (resample "
        "blocks on the Dask cluster) or adjudications (each one a task on the cluster)",
    )
    service_workers: int = Field(
        default=1, ge=1, le=64,
        description="jobs (adjudications, reports) the service runs at once in this process",
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    sandbox_dir: Path | None = Field(
        default=None, description="staging of sandboxed runs (code, decrypted inputs)"
    )

    @field_validator("dask_scheduler")
    @classmethod
    def _scheduler(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("tcp://", "tls://", "inproc://")):
            raise ValueError("must be an address like tcp://host:8786")
        return v

    @field_validator("service_compute")
    @classmethod
    def _cluster_named(cls, v: str, info: ValidationInfo) -> str:
        if v != "process" and info.data.get("dask_scheduler") is None:
            raise ValueError(f"{v!r} needs a Dask scheduler (dask_scheduler)")
        return v

    @property
    def database(self) -> str:
        """The SQLAlchemy URL of the store's database."""
        return self.database_url or f"sqlite:///{self.home / 'adjudicator.db'}"

    @property
    def keys(self) -> Path:
        return self.keys_dir or self.home / "keys"

    @property
    def store(self) -> Path:
        return self.store_dir or self.home / "store"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. from CLI flags)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None

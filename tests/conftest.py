"""Shared fixtures: named test assets and reference data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs property tests with a fixed derivation of examples, so a red build can be
# reproduced bit for bit; locally they explore new examples on every run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "assets"
PROTOCOLS = ROOT / "protocols"
# the shared reference datasets sit beside the checkout (../shared in CI and sessions)
REFERENCE = ROOT.parent / "shared" / "data" / "reference"


def _asset(name: str) -> Path:
    path = ASSETS / name
    if not path.exists():
        raise FileNotFoundError(f"test asset {name} is missing from {ASSETS}")
    return path


@pytest.fixture
def asset():
    """``asset("truth_ties.csv")`` -> the path of a named test asset."""
    return _asset


@pytest.fixture
def reference():
    """``reference("pROC_aSAH.csv")`` -> a path in shared/data/reference."""

    def get(name: str) -> Path:
        path = REFERENCE / name
        if not path.exists():
            raise FileNotFoundError(f"reference dataset {name} is missing from {REFERENCE}")
        return path

    return get


@pytest.fixture(scope="session")
def gbsg2_files(tmp_path_factory):
    """The demo challenge on real data (GBSG2 from scikit-survival), staged once as CSVs:
    truth, the clinical-cox baseline, and entries strong, weak, variant-1, variant-2."""
    from adjudicator.demo_data import stage_gbsg2

    return stage_gbsg2(tmp_path_factory.mktemp("gbsg2"), n_variants=2)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ADJUDICATOR_HOME for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("ADJUDICATOR_HOME", str(path))
    return path

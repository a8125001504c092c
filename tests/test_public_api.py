"""The public surface is small and pinned: a change here is a change of contract."""

from __future__ import annotations

import adjudicator


def test_exported_members():
    expected = {
        "__version__",
        "AdjudicatorError",
        "ComputationError",
        "ConfigurationError",
        "DegenerateResamplingError",
        "InputError",
        "MultiplicityError",
        "ProtocolError",
        "VerificationError",
        "Protocol",
        "load_protocol",
        "parse_protocol",
        "read_truth",
        "read_submission",
        "score",
        "adjudicate",
        "adjust",
        "verify_report",
    }
    assert set(adjudicator.__all__) == expected
    for name in adjudicator.__all__:
        assert hasattr(adjudicator, name), name


def test_exception_tree():
    for name in ("ProtocolError", "InputError", "ComputationError", "MultiplicityError",
                 "VerificationError", "ConfigurationError"):
        assert issubclass(getattr(adjudicator, name), adjudicator.AdjudicatorError)
    assert issubclass(adjudicator.DegenerateResamplingError, adjudicator.ComputationError)
    assert adjudicator.ProtocolError("x").exit_code == 2
    assert adjudicator.ComputationError("x").exit_code == 1


def test_lazy_members_resolve_and_import_is_light():
    import subprocess
    import sys

    code = ("import sys, adjudicator; heavy = [m for m in ('numba', 'pymc', 'weasyprint') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", "import adjudicator must not load heavy modules"
    assert callable(adjudicator.adjudicate) and callable(adjudicator.verify_report)

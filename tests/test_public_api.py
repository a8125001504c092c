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
    }
    assert expected <= set(adjudicator.__all__)
    for name in adjudicator.__all__:
        assert hasattr(adjudicator, name), name


def test_exception_tree():
    for name in ("ProtocolError", "InputError", "ComputationError", "MultiplicityError",
                 "VerificationError", "ConfigurationError"):
        assert issubclass(getattr(adjudicator, name), adjudicator.AdjudicatorError)
    assert issubclass(adjudicator.DegenerateResamplingError, adjudicator.ComputationError)
    assert adjudicator.ProtocolError("x").exit_code == 2
    assert adjudicator.ComputationError("x").exit_code == 1

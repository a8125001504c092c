"""A protocol with a public leaderboard is adjudicated on its certification units only."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from adjudicator import InputError
from adjudicator import leaderboard as lb
from adjudicator.adjudication import adjudicate
from adjudicator.data import read_submission, read_truth
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol
from adjudicator.result_schema import validate_result

from .conftest import ASSETS

NOW = datetime(2026, 11, 29, 12, 0, 0)


def _inputs(certify_on: str = "private"):
    text = (ASSETS / "service_board.yaml").read_text()
    protocol = parse_protocol(text.replace("certify_on: private", f"certify_on: {certify_on}"))
    truth = read_truth(protocol, ASSETS / "service_truth.csv")
    entry = read_submission(protocol, ASSETS / "service_entry.csv", truth)
    base = {"baseline": read_submission(protocol, ASSETS / "service_baseline.csv", truth)}
    split = lb.split_units(protocol, truth, secret="test-secret")
    return protocol, truth, entry, base, split


def test_entry_and_baselines_are_read_on_the_private_part_only():
    protocol, truth, entry, base, split = _inputs()
    doc = adjudicate(protocol, truth, entry, baselines=base, split=split, now=NOW).to_dict()
    validate_result(doc)
    kernel = get_kernel(protocol.metric)
    private = lb.certification_table(protocol, split, entry.table)
    assert private.n_units == 40
    assert math.isclose(doc["estimate"], kernel(private), rel_tol=0, abs_tol=0)
    assert doc["estimate"] != kernel(entry.table)  # the whole set would say otherwise
    assert math.isclose(doc["baselines"][0]["estimate"],
                        kernel(lb.certification_table(protocol, split,
                                                      base["baseline"].table)),
                        rel_tol=0, abs_tol=0)
    assert doc["certification"] == {"part": "private", "split_digest": split.digest,
                                    "n_units": 40, "units_total": 80}
    summary = doc["truth"]["summary"]
    assert doc["truth"]["digest"] == truth.digest  # the commitment stays the whole truth's
    assert (summary["units"], summary["part"], summary["units_total"]) == (40, "private", 80)
    assert summary["positives"] + summary["negatives"] == 40


def test_changing_public_labels_changes_no_certification():
    """The other direction of the split: the board's units never decide a prize."""
    import pandas as pd

    protocol, truth, entry, base, split = _inputs()
    frame = pd.read_csv(ASSETS / "service_truth.csv", dtype=str)
    public = set(split.units[split.public].tolist())
    rows = frame.unit_id.isin(public)
    frame.loc[rows, "outcome"] = frame.loc[rows, "outcome"].map({"0": "1", "1": "0"})
    from adjudicator.data import truth_from_frame

    flipped = truth_from_frame(protocol, frame)
    split2 = lb.split_units(protocol, flipped, secret="test-secret")
    assert split2.digest == split.digest  # no strata: the split does not read labels
    e2 = read_submission(protocol, ASSETS / "service_entry.csv", flipped)
    b2 = {"baseline": read_submission(protocol, ASSETS / "service_baseline.csv", flipped)}
    one = adjudicate(protocol, truth, entry, baselines=base, split=split, now=NOW).to_dict()
    two = adjudicate(protocol, flipped, e2, baselines=b2, split=split2, now=NOW).to_dict()
    for key in ("verdict", "estimate", "interval", "criteria", "baselines"):
        assert one[key] == two[key], key


def test_all_units_when_the_protocol_says_so():
    protocol, truth, entry, base, split = _inputs("all")
    doc = adjudicate(protocol, truth, entry, baselines=base, split=split, now=NOW).to_dict()
    assert doc["certification"]["part"] == "all" and doc["certification"]["n_units"] == 80
    assert math.isclose(doc["estimate"], get_kernel(protocol.metric)(entry.table),
                        rel_tol=0, abs_tol=0)


def test_the_split_is_required_exactly_for_a_leaderboard_protocol():
    protocol, truth, entry, base, split = _inputs()
    with pytest.raises(InputError, match="split is needed"):
        adjudicate(protocol, truth, entry, baselines=base, now=NOW)
    plain = parse_protocol((ASSETS / "service_binary.yaml").read_bytes())
    t = read_truth(plain, ASSETS / "service_truth.csv")
    e = read_submission(plain, ASSETS / "service_entry.csv", t)
    b = {"baseline": read_submission(plain, ASSETS / "service_baseline.csv", t)}
    with pytest.raises(InputError, match="no leaderboard block"):
        adjudicate(plain, t, e, baselines=b, split=split, now=NOW)
    doc = adjudicate(plain, t, e, baselines=b, now=NOW).to_dict()
    assert "certification" not in doc  # results of other protocols keep their bytes

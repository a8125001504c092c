"""protocol/v1: strict validation, canonical digest, hostile documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from adjudicator import ProtocolError, load_protocol, parse_protocol
from adjudicator.protocol import MAX_PROTOCOL_BYTES, Protocol, protocol_schema

from .conftest import PROTOCOLS

EXAMPLES = sorted(PROTOCOLS.glob("*.yaml"))

BASE = """\
adjudicator: protocol/v1
id: demo-survival
version: 1
title: A survival challenge
task:
  kind: survival
  unit: patient_id
  truth: {time: days, event: died}
  prediction: risk
metric: {name: harrell_c}
threshold:
  absolute: 0.70
  baselines: [{name: clinical-cox, margin: 0.02}]
"""


def _with(**changes: object) -> str:
    """BASE with top-level fields replaced (a value of None deletes the field)."""
    data = yaml.safe_load(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def _error(text: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, source="p.yaml")
    return info.value


def test_examples_exist_for_every_challenge_family():
    kinds = {load_protocol(p).task.kind for p in EXAMPLES}
    metrics = {load_protocol(p).metric.name for p in EXAMPLES}
    assert {"binary", "survival", "regression", "sets"} <= kinds
    assert {"per_unit_pearson_mean", "auroc", "harrell_c", "uno_c", "rmse", "set_f1"} <= metrics


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_protocol_validates(path: Path):
    p = load_protocol(path)
    assert p.digest.startswith("sha256:") and len(p.digest) == 7 + 64
    assert p.id == path.stem, "the file name is the protocol id"
    assert len(p.summary.split()) > 30, "a summary a scientist would accept"


def test_digest_ignores_comments_whitespace_key_order_and_number_spelling():
    p = parse_protocol(BASE)
    data = yaml.safe_load(BASE)
    reordered = dict(reversed(list(data.items())))
    reordered["task"] = dict(reversed(list(data["task"].items())))
    text = "# a comment\n" + yaml.safe_dump(reordered, sort_keys=False, indent=4)
    text = text.replace("0.7\n", "0.700   # seventy percent\n")
    assert "0.700" in text
    assert parse_protocol(text).digest == p.digest


def test_digest_fills_defaults_in():
    explicit = _with(resampling={"method": "bca", "resamples": 10000, "confidence": 0.95})
    assert parse_protocol(explicit).digest == parse_protocol(BASE).digest


def test_digest_changes_with_any_change_of_meaning():
    base = parse_protocol(BASE).digest
    nudged = _with(threshold={"absolute": 0.70 + 1e-9, "baselines": [
        {"name": "clinical-cox", "margin": 0.02}]})
    assert parse_protocol(nudged).digest != base
    assert parse_protocol(_with(version=2)).digest != base
    assert parse_protocol(_with(resampling={"resamples": 10001})).digest != base


def test_digest_is_sha256_of_canonical_json():
    import hashlib

    p = parse_protocol(BASE)
    assert p.digest == "sha256:" + hashlib.sha256(p.canonical.encode()).hexdigest()
    assert json.loads(p.canonical)["threshold"]["absolute"] == 0.7
    assert " " not in p.canonical.split('"title"')[0], "no whitespace between tokens"


def test_protocol_is_frozen():
    p = parse_protocol(BASE)
    with pytest.raises(Exception, match="frozen"):
        p.version = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": {"absolute": float("nan")}}, r"threshold\.absolute: must be a finite"),
        ({"threshold": {"absolute": float("inf")}}, r"threshold\.absolute: must be a finite"),
        ({"threshold": {"absolute": "0.7"}}, r"threshold\.absolute: must be a number"),
        (
            {"threshold": {"baselines": [{"name": "cox", "margin": "abc"}]}},
            r"threshold\.baselines\[0\]\.margin: must be a number",
        ),
        ({"resampling": {"confidence": 1.2}}, r"resampling\.confidence: must be in \(0, 1\)"),
        ({"resampling": {"confidence": 0}}, r"resampling\.confidence: must be in \(0, 1\)"),
        ({"resampling": {"resamples": 0}}, r"resampling\.resamples: .*greater than or equal"),
        ({"resampling": {"resamples": 10**12}}, r"resampling\.resamples: .*less than or equal"),
        ({"metric": {"name": "accuracy"}}, r"metric: unknown metric"),
        ({"metric": {"name": "auroc"}}, r"metric\.name: auroc does not fit a survival task"),
        ({"task": {"kind": "images", "unit": "u", "prediction": "p"}}, r"task\.kind"),
        ({"version": "1"}, r"version: must be an integer"),
        ({"colour": "blue"}, r"colour: unknown field"),
        ({"threshold": {"baselines": []}}, r"no criteria cannot certify"),
        ({"id": "Has Spaces"}, r"id: String should match pattern"),
        ({"multiplicity": {"rule": "geometric", "ratio": 2}}, r"multiplicity\.ratio: must be in"),
        (
            {"multiplicity": {"rule": "list", "alphas": [0.04, 0.04], "max_submissions": 2}},
            r"multiplicity\.alphas: they sum to 0\.08",
        ),
        (
            {"task": {"kind": "binary", "unit": "u", "truth": {"label": "y"}, "prediction": "p"}},
            r"task\.positive: a binary task must name its positive class",
        ),
        (
            {"task": {"kind": "survival", "unit": "u", "truth": {"time": "t"}, "prediction": "p"}},
            r"task\.truth: a survival task needs the roles \{time, event\} \(missing event\)",
        ),
    ],
)
def test_invalid_fields_are_named_with_their_path(changes, message):
    err = _error(_with(**changes))
    assert re.search(message, str(err)), str(err)
    assert str(err).startswith("p.yaml: "), "the file is named"


def test_several_problems_are_all_listed():
    err = _error(_with(version="x", colour=1))
    assert len(err.problems) == 2
    assert any(p.startswith("version:") for p in err.problems)
    assert any(p.startswith("colour:") for p in err.problems)


def test_missing_format_marker():
    assert "adjudicator: must be 'protocol/v1'" in str(_error(_with(adjudicator=None)))


# -- hostile documents --------------------------------------------------------------------


def test_yaml_alias_bomb_is_refused_fast():
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        bomb.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    err = _error("\n".join(bomb))
    assert "aliases" in str(err)


def test_fifty_megabyte_file_is_refused_before_parsing(tmp_path: Path):
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.write(BASE.encode())
        fh.write(b"# " + b"x" * (50 * 1024 * 1024) + b"\n")
    with pytest.raises(ProtocolError, match=f"at most {MAX_PROTOCOL_BYTES}"):
        load_protocol(big)


def test_tabs_are_a_yaml_error_with_line_number():
    err = _error(BASE.replace("  kind: survival", "\tkind: survival"))
    assert re.search(r"not valid YAML \(line \d+, column \d+\)", str(err))


def test_garbage_bytes_are_refused():
    assert "not UTF-8" in str(_error(b"\xff\xfe\x00garbage" + bytes(range(128, 256))))
    assert "NUL" in str(_error(BASE + "\x00"))


def test_not_a_mapping():
    assert "a protocol is a YAML mapping" in str(_error("- just\n- a list\n"))
    assert "a protocol is a YAML mapping" in str(_error(""))


def test_duplicated_keys_are_refused():
    assert "duplicated key 'version'" in str(_error(BASE + "version: 2\n"))


def test_python_tags_are_refused():
    err = _error(BASE + "x: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in str(err)


def test_unreadable_path_is_a_protocol_error(tmp_path: Path):
    with pytest.raises(ProtocolError, match="cannot read"):
        load_protocol(tmp_path / "missing.yaml")


def test_schema_is_json_schema_with_every_top_level_field():
    schema = protocol_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(Protocol.model_fields) <= set(schema["properties"])
    json.dumps(schema)  # serialisable

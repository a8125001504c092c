"""The protocol's publication block: how the open results name teams."""

from __future__ import annotations

import pytest

from adjudicator import ProtocolError
from adjudicator.protocol import parse_protocol

from .conftest import ASSETS

TEXT = (ASSETS / "service_board.yaml").read_text()


def test_the_default_leaves_the_digest_as_it_was():
    plain = parse_protocol(TEXT)
    named = parse_protocol(TEXT + "publication: {teams: named}\n")
    assert plain.publication.teams == "named"
    assert named.digest == plain.digest and "publication" not in plain.canonical


def test_pseudonymous_publication_is_preregistered():
    p = parse_protocol(TEXT + "publication: {teams: pseudonymous}\n")
    assert p.publication.teams == "pseudonymous" and '"publication"' in p.canonical
    with pytest.raises(ProtocolError, match="publication"):
        parse_protocol(TEXT + "publication: {teams: hidden}\n")
    with pytest.raises(ProtocolError, match="publication"):
        parse_protocol(TEXT + "publication: {teams: named, withdraw: true}\n")

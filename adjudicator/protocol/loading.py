"""Strict loading of protocol files: YAML without surprises, errors with field paths."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from ..errors import ProtocolError
from ._common import (
    FORMAT,
    MAX_PROTOCOL_BYTES,
    METRICS,
)
from .model import (
    Protocol,
)

# -- loading ------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that also refuses aliases (bombs) and duplicated keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a protocol",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicated key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # discriminated unions and tagged unions add the tag to the location; hide it
            if part in METRICS or part in {"function-after", "function-before", "str", "int",
                                           "float", "bool", "tuple[str, ...]", "none"}:
                continue
            if re.fullmatch(r"tuple\[.*\]|list\[.*\]|literal\[.*\]", str(part)):
                continue
            out += ("." if out else "") + str(part)
    return out or "(document)"


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in {"float_type", "int_type", "float_parsing", "int_parsing"}:
        return "must be a number" if kind.startswith("float") else "must be an integer"
    if kind == "string_type":
        return "must be a string"
    if kind == "union_tag_invalid":
        return "unknown metric; known: " + ", ".join(METRICS)
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg


def _format(exc: ValidationError) -> tuple[str, ...]:
    problems: list[str] = []
    for err in exc.errors():
        path = _path(tuple(err["loc"]))
        msg = _message(err)
        if err["type"] == "value_error" and re.match(r"^[A-Za-z_][\w.\[\]]*: ", msg):
            # a model validator names the field relative to the model it checks
            text = msg if path == "(document)" else f"{path}.{msg}"
        else:
            text = f"{path}: {msg}"
        if text not in problems:
            problems.append(text)
    return tuple(problems)


def parse_protocol(text: str | bytes, *, source: str | None = None) -> Protocol:
    """Parse and validate a protocol document given as YAML text.

    Raises
    ------
    ProtocolError
        For anything that is not a valid ``protocol/v1`` document; the message names the
        source and every failing field path.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_PROTOCOL_BYTES:
            raise ProtocolError(
                f"file is {len(text)} bytes; a protocol may be at most {MAX_PROTOCOL_BYTES}",
                source=source,
            )
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"not UTF-8 text (byte {exc.start}): a protocol is a YAML document",
                source=source,
            ) from None
    if len(text.encode("utf-8")) > MAX_PROTOCOL_BYTES:
        raise ProtocolError(
            f"document is larger than {MAX_PROTOCOL_BYTES} bytes", source=source
        )
    if "\x00" in text:
        raise ProtocolError("contains NUL bytes: a protocol is a YAML text", source=source)
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProtocolError(f"not valid YAML{where}: {problem}", source=source) from None
    if not isinstance(data, dict):
        raise ProtocolError(
            "a protocol is a YAML mapping with fields adjudicator, id, version, ...",
            source=source,
        )
    if data.get("adjudicator") != FORMAT:
        raise ProtocolError(
            f"adjudicator: must be {FORMAT!r} (the format marker), got "
            f"{str(data.get('adjudicator'))[:40]!r}",
            source=source,
        )
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        problems = _format(exc)
        head = problems[0] if len(problems) == 1 else (
            f"{len(problems)} problems:\n  " + "\n  ".join(problems)
        )
        raise ProtocolError(head, source=source, problems=problems) from None


def load_protocol(path: str | Path) -> Protocol:
    """Read, parse and validate the protocol at ``path``.

    Examples
    --------
    >>> p = load_protocol("protocols/gbsg2-recurrence-free-survival.yaml")  # doctest: +SKIP
    >>> p.digest  # doctest: +SKIP
    'sha256:...'
    """
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_PROTOCOL_BYTES:
            raise ProtocolError(
                f"file is {size} bytes; a protocol may be at most {MAX_PROTOCOL_BYTES}",
                source=source,
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_PROTOCOL_BYTES + 1)
    except OSError as exc:
        raise ProtocolError(f"cannot read: {exc.strerror}", source=source) from None
    return parse_protocol(raw, source=source)


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of ``protocol/v1`` (what ``adjudicator protocol schema`` prints)."""
    schema = Protocol.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adjudicator protocol/v1"
    return schema

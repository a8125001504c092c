"""The three things a sandboxed run is made of, each validated and digested.

* **Inputs**: the sequestered features, committed like the truth. :func:`read_inputs`
  reads a CSV or Parquet file, refuses what a hostile or careless file could carry (the
  truth's or the strata's columns above all: the truth never reaches submitted code), and
  checks that it covers exactly the truth's units.
* **Code**: what a team sent, a directory or a zip/tar archive. :func:`load_code` refuses
  links, devices, absolute or ``..`` paths, duplicated names and oversized bundles, and
  keeps the files in memory, so the bytes that run are the bytes that were digested.
* **Runtime**: the interpreter and the installed distributions the code runs on.

Canonical forms (``sha256:`` + hex of the bytes shown)
-------------------------------------------------------
Inputs, ``adjudicator-inputs/v1``: a JSON header ``{"format", "unit", "keys",
"columns"}`` (feature columns sorted by name) and a newline, then one JSON array per row,
``[unit, *keys, *features]``, rows sorted by unit then keys (as text), each line ending in
a newline. A feature column is *numeric* when every non-missing cell is a finite number
(Parquet: a numeric type; CSV: every non-empty cell parses as one): its cells are written
as the shortest repr of their float64 value (``-0.0`` as ``0.0``); otherwise cells are
text exactly as written (Parquet booleans as ``true``/``false``). A missing cell (empty in
CSV, null or NaN in Parquet) is ``null``. Row and column order, CSV versus Parquet and
number spelling do not change the digest; any changed value does. (Integers beyond 2**53
are digested as their float64 value.) The exact file a run mounts is bound as well, by
:attr:`Inputs.file_digest`, the sha256 of its bytes, which every run checks again.

Code, ``adjudicator-code/v1``: the line ``adjudicator-code/v1``, then one line per file,
sorted by path: the JSON array ``[path, "x" or "-", size, "sha256:<hex>"]`` ("x" when any
execute bit is set). Directory or archive, timestamps, owners and empty directories do not
change it.

Runtime, ``adjudicator-runtime/v1``: the canonical JSON of ``{"format", "python"
(sys.version), "implementation", "machine", "packages": {normalised name: version}}``.
"""

# ruff: noqa: S103, S603 -- staged code is read-only for everyone; the runtime interpreter is the service's own

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from ..data import DEFAULT_MAX_BYTES, Truth
from ..errors import ConfigurationError, InputError
from ..protocol import Protocol, canonical_json

__all__ = [
    "Inputs",
    "CodeBundle",
    "RuntimeInfo",
    "read_inputs",
    "load_code",
    "runtime_info",
    "file_digest",
    "MAX_CODE_BYTES",
    "MAX_CODE_FILES",
]

#: the largest code bundle accepted (the sum of its files' sizes)
MAX_CODE_BYTES = 256 * 1024**2
#: the most files a code bundle may hold
MAX_CODE_FILES = 20_000

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_SHOW = 5
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _few(values: list[Any]) -> str:
    shown = ", ".join(repr(str(v)[:40]) for v in values[:_SHOW])
    return shown + (f" and {len(values) - _SHOW} more" if len(values) > _SHOW else "")


# -- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """Validated sequestered inputs (features) of one protocol.

    Attributes
    ----------
    source
        Where they were read from.
    path
        The file a run mounts read-only as ``/inputs/features.csv`` (or ``.parquet``).
    format
        ``csv`` or ``parquet`` (by content, not by name).
    digest
        ``sha256:...`` of the canonical form: the commitment a challenge publishes.
    file_digest
        ``sha256:...`` of the file's bytes, checked again before every run.
    n_units, n_rows
        Units and rows.
    columns
        The feature columns (besides the unit and keys), sorted.
    """

    source: str
    path: Path
    format: str
    digest: str
    file_digest: str
    n_units: int
    n_rows: int
    columns: tuple[str, ...]

    @property
    def mount_name(self) -> str:
        """The file's name inside the sandbox."""
        return f"features.{self.format}"


def read_inputs(
    protocol: Protocol,
    path: str | Path,
    *,
    truth: Truth | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Inputs:
    """Read, validate and digest the sequestered inputs for ``protocol``.

    Raises
    ------
    InputError
        For a refused file: unreadable, not CSV or Parquet, no unit column, empty or
        duplicated ids, a truth or strata column (the truth never reaches submitted code),
        an unsupported column type, infinite numbers, or (with ``truth``) units that are
        not exactly the truth's.
    """
    source = str(path)
    path = Path(path)
    frame = _read_table(path, max_bytes, source)
    task = protocol.task
    columns = [str(c) for c in frame.columns]
    truth_side = [c for c in (*task.truth.values(), *task.strata)
                  if c in columns and c not in (task.unit, *task.keys)]
    if truth_side:
        raise InputError(f"carries the truth or strata column(s) {_few(truth_side)}: the "
                         "inputs are given to submitted code, and the truth must never be",
                         source=source)
    if task.unit not in columns:
        raise InputError(f"no unit column {task.unit!r}; found {_few(columns)}",
                         source=source)
    keys = [k for k in task.keys if k in columns]
    ids = pd.DataFrame({"_unit": _ids(frame[task.unit], task.unit, source)})
    for i, key in enumerate(keys):
        ids[f"_k{i}"] = _ids(frame[key], key, source)
    key_cols = list(ids.columns)
    dup = ids.duplicated(keep="first").to_numpy()
    if dup.any():
        shown = [" / ".join(ids.iloc[i]) for i in np.flatnonzero(dup)]
        raise InputError(f"{int(dup.sum())} duplicated row(s) "
                         f"({' + '.join([task.unit, *keys])}): {_few(shown)}", source=source)
    features = sorted(c for c in columns if c not in (task.unit, *keys))
    cells = [_feature_cells(frame[c], c, source) for c in features]
    order = np.lexsort([ids[c].to_numpy().astype(str) for c in reversed(key_cols)])
    units = np.unique(ids["_unit"].to_numpy().astype(str))
    if truth is not None:
        _check_units(units, truth, source)
    h = hashlib.sha256()
    header = {"format": "adjudicator-inputs/v1", "unit": task.unit, "keys": keys,
              "columns": features}
    h.update(_json(header) + b"\n")
    id_arrays = [ids[c].to_numpy() for c in key_cols]
    for i in order:
        row = [str(a[i]) for a in id_arrays] + [col[i] for col in cells]
        h.update(_json(row) + b"\n")
    return Inputs(
        source=source, path=path.resolve(), format=_format_of(path), digest="sha256:"
        + h.hexdigest(), file_digest=file_digest(path), n_units=len(units),
        n_rows=len(frame), columns=tuple(features),
    )


def _read_table(path: Path, max_bytes: int, source: str) -> pd.DataFrame:
    """A CSV (UTF-8, header row, every cell text) or Parquet file, refused when unsafe."""
    try:
        if not path.is_file():
            raise InputError("no such file", source=source)
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"file is {size} bytes, over the size limit of {max_bytes} "
                             "bytes", source=source)
        if size == 0:
            raise InputError("file is empty", source=source)
        with path.open("rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    if head[:4] == b"PAR1":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(f"not a readable Parquet file: {str(exc)[:200]}",
                             source=source) from None
    elif b"\x00" in head:
        raise InputError("not a CSV or Parquet file (binary content)", source=source)
    else:
        try:
            header = next(csv.reader(io.StringIO(head.decode("utf-8-sig", "replace"))), [])
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                                encoding="utf-8-sig", engine="c")
        except UnicodeDecodeError:
            raise InputError("not a CSV file: not UTF-8 text", source=source) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            msg = (str(exc).strip().splitlines() or ["empty"])[0][:200]
            raise InputError(f"not a valid CSV file: {msg}", source=source) from None
        dupes = sorted({c for c in header if header.count(c) > 1})
        if dupes:
            raise InputError(f"duplicated column name(s) {_few(dupes)}", source=source)
    if any(not isinstance(c, str) for c in frame.columns):
        raise InputError("column names must be text", source=source)
    if len(set(frame.columns)) != len(frame.columns):
        raise InputError("duplicated column names", source=source)
    if len(frame) == 0:
        raise InputError("has no rows", source=source)
    return frame


def _ids(series: pd.Series, name: str, source: str) -> np.ndarray:
    """Ids as text, as the truth reads them: CSV cells as written, Parquet text or ints."""
    kind = series.dtype.kind
    if kind == "f":
        raise InputError(f"column {name!r}: ids must be text or integers, got "
                         "floating-point numbers", source=source)
    if kind in "iu":
        ints: np.ndarray = series.astype(str).to_numpy(dtype=object)
        return ints
    values = []
    for i, v in enumerate(series.astype(object).tolist()):
        if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
            raise InputError(f"column {name!r}: a missing or non-text id in row {i + 1}",
                             source=source)
        text = str(v)
        if len(text) > 256 or _CONTROL.search(text):
            raise InputError(f"column {name!r}: id in row {i + 1} is longer than 256 "
                             "characters or has control characters", source=source)
        values.append(text)
    return np.array(values, dtype=object)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, sort_keys=True).encode("utf-8")


def _format_of(path: Path) -> str:
    with path.open("rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def file_digest(path: Path) -> str:
    """``sha256:`` of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _feature_cells(series: pd.Series, name: str, source: str) -> list[Any]:
    """Canonical cell values of one feature column (see the module docstring)."""
    kind = series.dtype.kind
    if kind in "iuf":
        values = series.to_numpy(dtype=np.float64)
        if np.isinf(values).any():
            raise InputError(f"column {name!r}: infinite numbers", source=source)
        return [None if math.isnan(v) else float(v) + 0.0 for v in values.tolist()]
    if kind == "b":
        return ["true" if v else "false" for v in series.tolist()]
    raw = series.astype(object).tolist()
    out: list[Any] = []
    for v in raw:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
            out.append(None)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (int, float)) and math.isfinite(v):
            out.append(float(v) + 0.0)
        else:
            raise InputError(f"column {name!r}: values of type {type(v).__name__} are not "
                             "supported (numbers or text)", source=source)
    texts = [v for v in out if isinstance(v, str)]
    if texts and len(texts) == sum(v is not None for v in out) and all(
        _NUMBER.match(t) for t in texts
    ):
        return [None if v is None else float(v) + 0.0 for v in out]
    return out


def _check_units(units: np.ndarray, truth: Truth, source: str) -> None:
    truth_units = np.unique(truth._rows["_unit"].to_numpy().astype(str))
    unknown = np.setdiff1d(units, truth_units)
    if unknown.size:
        raise InputError(f"{unknown.size} unit(s) not in the truth: "
                         f"{_few(unknown.tolist())}", source=source)
    missing = np.setdiff1d(truth_units, units)
    if missing.size:
        raise InputError(f"no inputs for {missing.size} truth unit(s): "
                         f"{_few(missing.tolist())}", source=source)


# -- code ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeBundle:
    """A team's code: validated files held in memory, with their digest.

    Attributes
    ----------
    source
        Where it was read from.
    digest
        ``sha256:...`` of the canonical manifest (module docstring).
    files
        Relative POSIX path -> (bytes, executable).
    """

    source: str
    digest: str
    files: Mapping[str, tuple[bytes, bool]] = field(repr=False)

    @property
    def size(self) -> int:
        """Total bytes of the files."""
        return sum(len(data) for data, _ in self.files.values())

    def has_module(self, module: str) -> bool:
        """True when ``module`` (dotted) is a ``.py`` file or a package of the bundle."""
        base = module.replace(".", "/")
        return f"{base}.py" in self.files or f"{base}/__init__.py" in self.files

    def wheels(self) -> list[str]:
        """The wheel files under ``wheelhouse/``."""
        return sorted(p for p in self.files
                      if p.startswith("wheelhouse/") and p.endswith(".whl"))

    def write_to(self, folder: Path) -> None:
        """Write the files under ``folder``: read-only, executable where marked."""
        for rel, (data, executable) in sorted(self.files.items()):
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(target, 0o555 if executable else 0o444)
        for d in sorted({p for p in folder.rglob("*") if p.is_dir()}, reverse=True):
            os.chmod(d, 0o555)


def load_code(
    path: str | Path, *, max_bytes: int = MAX_CODE_BYTES, max_files: int = MAX_CODE_FILES
) -> CodeBundle:
    """Read a team's code from a directory or a zip/tar archive (recognised by content).

    Raises
    ------
    InputError
        For anything but regular files and directories, unsafe or duplicated paths,
        more than ``max_files`` files or ``max_bytes`` bytes, or an empty bundle.
    """
    source = str(path)
    path = Path(path)
    limits = _Budget(source, max_bytes, max_files)
    try:
        if path.is_dir():
            files = _from_directory(path, limits)
        elif path.is_file() and zipfile.is_zipfile(path):
            files = _from_zip(path, limits)
        elif path.is_file() and tarfile.is_tarfile(path):
            files = _from_tar(path, limits)
        elif path.exists():
            raise InputError("not a directory, zip or tar archive", source=source)
        else:
            raise InputError("no such file or directory", source=source)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise InputError(f"cannot read the code: {exc}", source=source) from None
    if not files:
        raise InputError("the code bundle holds no files", source=source)
    h = hashlib.sha256(b"adjudicator-code/v1\n")
    for rel in sorted(files):
        data, executable = files[rel]
        line = [rel, "x" if executable else "-", len(data),
                "sha256:" + hashlib.sha256(data).hexdigest()]
        h.update(_json(line) + b"\n")
    return CodeBundle(source=source, digest="sha256:" + h.hexdigest(), files=files)


class _Budget:
    def __init__(self, source: str, max_bytes: int, max_files: int) -> None:
        self.source, self.max_bytes, self.max_files = source, max_bytes, max_files
        self.bytes = 0
        self.files: dict[str, tuple[bytes, bool]] = {}

    def fail(self, message: str) -> None:
        raise InputError(message, source=self.source)

    def name(self, raw: str) -> str:
        if "\x00" in raw or "\\" in raw or any(ord(ch) < 32 for ch in raw):
            self.fail(f"unsafe path {raw[:80]!r} (control characters or backslashes)")
        p = PurePosixPath(raw)
        parts = [x for x in p.parts if x not in ("", ".")]
        if p.is_absolute() or ".." in parts or not parts:
            self.fail(f"unsafe path {raw[:80]!r} (absolute, empty or with '..')")
        if len(parts) > 32 or any(len(x.encode()) > 255 for x in parts):
            self.fail(f"path too deep or a name too long: {raw[:80]!r}")
        return "/".join(parts)

    def check_size(self, size: int, what: str) -> None:
        if size > self.max_bytes or self.bytes + size > self.max_bytes:
            self.fail(f"the code is larger than {self.max_bytes} bytes (at {what!r})")
        if len(self.files) >= self.max_files:
            self.fail(f"the code holds more than {self.max_files} files")

    def add(self, raw: str, data: bytes, executable: bool) -> None:
        rel = self.name(raw)
        if rel in self.files:
            self.fail(f"the path {rel!r} appears twice")
        prefixes = {"/".join(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1)}
        if prefixes & set(self.files) or any(f.startswith(rel + "/") for f in self.files):
            self.fail(f"the path {rel!r} is both a file and a directory")
        self.bytes += len(data)
        self.files[rel] = (data, executable)


def _from_directory(root: Path, b: _Budget) -> dict[str, tuple[bytes, bool]]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                b.fail(f"{os.path.relpath(os.path.join(dirpath, name), root)}: a link is "
                       "not allowed in code")
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                b.fail(f"{rel}: only regular files are allowed in code (links, devices "
                       "and pipes are not)")
            b.check_size(st.st_size, rel)
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(b.max_bytes - b.bytes + 1)
            b.check_size(len(data), rel)
            b.add(rel.replace(os.sep, "/"), data, bool(st.st_mode & 0o111))
    return b.files


def _from_zip(path: Path, b: _Budget) -> dict[str, tuple[bytes, bool]]:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                b.name(info.filename)
                continue
            b.name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file
                b.fail(f"{info.filename}: only regular files are allowed in code (links, "
                       "devices and pipes are not)")
            b.check_size(info.file_size, info.filename)
            with zf.open(info) as fh:  # read no more than declared plus one byte
                data = fh.read(b.max_bytes - b.bytes + 1)
            b.check_size(len(data), info.filename)
            b.add(info.filename, data, bool(mode & 0o111))
    return b.files


def _from_tar(path: Path, b: _Budget) -> dict[str, tuple[bytes, bool]]:
    with tarfile.open(path) as tf:
        for m in tf:
            b.name(m.name)
            if m.isdir():
                continue
            if not m.isreg():
                b.fail(f"{m.name}: only regular files are allowed in code (links, devices "
                       "and pipes are not)")
            b.check_size(m.size, m.name)
            fh = tf.extractfile(m)
            assert fh is not None
            data = fh.read(b.max_bytes - b.bytes + 1)
            b.check_size(len(data), m.name)
            b.add(m.name, data, bool(m.mode & 0o111))
    return b.files


# -- runtime ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeInfo:
    """The interpreter submitted code runs on, and what is installed in it.

    Attributes
    ----------
    executable
        The interpreter (a venv's ``bin/python`` or a system one), as called.
    prefixes
        The directories the interpreter needs (its prefix and base prefix, as it names
        them; a run mounts each one's real path there).
    version
        ``sys.version`` of the interpreter.
    packages
        Normalised distribution name -> version, every one installed.
    digest
        ``sha256:...`` of the canonical runtime description (module docstring).
    """

    executable: str
    prefixes: tuple[str, ...]
    version: str
    packages: Mapping[str, str]
    digest: str

    def missing(self, names: tuple[str, ...]) -> list[str]:
        """The names (as the protocol spells them) not installed in the runtime."""
        return [n for n in names if _normalise(n) not in self.packages]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_RUNTIME_SCRIPT = r"""
import json, os, platform, sys
from importlib import metadata
pk = {}
for d in metadata.distributions():
    name = d.metadata.get("Name")
    if name:
        pk[name] = d.version
print(json.dumps({"version": sys.version, "implementation": sys.implementation.name,
                  "machine": platform.machine(), "prefixes": [sys.prefix, sys.base_prefix],
                  "packages": pk}))
"""


@lru_cache(maxsize=8)
def runtime_info(python: str | None = None) -> RuntimeInfo:
    """Describe the interpreter ``python`` (default: the one running the service).

    Raises
    ------
    ConfigurationError
        When the interpreter cannot be run.
    """
    exe = python or sys.executable
    try:
        out = subprocess.run(
            [exe, "-I", "-c", _RUNTIME_SCRIPT], capture_output=True, text=True, timeout=120,
            check=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        ).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ConfigurationError(f"the runtime interpreter {exe} cannot be described: "
                                 f"{exc}") from None
    packages = {_normalise(k): v for k, v in sorted(info["packages"].items())}
    doc = {"format": "adjudicator-runtime/v1", "python": info["version"],
           "implementation": info["implementation"], "machine": info["machine"],
           "packages": packages}
    digest = "sha256:" + hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()
    prefixes = tuple(dict.fromkeys(info["prefixes"]))
    return RuntimeInfo(executable=exe, prefixes=prefixes, version=info["version"],
                       packages=packages, digest=digest)

"""Plain files in and out: YAML read with one-line errors naming the file and the line, and atomic writes of text,
CSV and YAML (a temp file beside the target, renamed over it, so a crash never leaves a half-written file)."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` whose syntax errors become one ``ValueError`` naming ``where`` and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ValueError(f"{where}: malformed YAML{at} ({problem or 'syntax error'}); fix the syntax") from None


def read_yaml(path: str | Path, missing: str) -> Any:
    """Read and parse a YAML file; a missing file raises ``ValueError`` with the hint ``missing``."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ValueError(f"{p}: {missing}") from None
    except OSError as e:
        raise ValueError(f"{p}: cannot read ({e.strerror})") from None
    return parse_yaml(text, str(p))


def umask_mode() -> int:
    """The mode the user's umask gives a new file (0o644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``: never half-written.

    The file gets the mode the umask gives any new file (a temp file is created 0600, and its mode would
    survive the rename). A missing folder is a ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist; create it or write elsewhere")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            os.fchmod(f.fileno(), umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """``rows`` as CSV with a header of ``columns`` (other keys left out), written atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_atomic(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file, as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_yaml(path: Path, data: dict) -> None:
    """``data`` as YAML (keys in order), written atomically."""
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))

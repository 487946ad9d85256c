"""Reading YAML files with one-line errors that name the file, the line and the fix."""

from __future__ import annotations

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

"""Latency tables as data: an arch's latency predicted from a table of its parts, and a table read back and checked.

A table (``search.py latency``, measured by :mod:`seknet.engine.latency`) holds the stem's, the head's and every
stage's latency under every choice, in ms, with the device, threads and batch it was measured under. The arch's
predicted latency is the sum of its parts (:func:`predict`). Pure Python: a run's objective predicts and checks
tables without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from seknet.core.fileio import read_yaml

if TYPE_CHECKING:
    from seknet.core.space import Arch, Space


def predict(table: dict, arch: Arch) -> float:
    """Predicted latency of ``arch`` in ms: stem + each stage's entry for its choice + head."""
    return (
        table["stem_ms"]
        + table["head_ms"]
        + sum(st[str(c)] for st, c in zip(table["stages"], arch.choices, strict=True))
    )


def check_table(table: object, space: Space, device: str, path: str | Path) -> dict:
    """``table`` if it is a latency table of ``space`` measured on ``device``; one-line ValueError otherwise."""
    keys = {"space", "device", "batch", "stem_ms", "head_ms", "stages"}
    if not isinstance(table, dict) or not keys <= set(table):
        raise ValueError(
            f"{path}: not a latency table (keys {', '.join(sorted(keys))}); write one with "
            "`search.py latency --space S --out F`"
        )
    if table["space"] != space.name or len(table["stages"]) != len(space.stages):
        raise ValueError(f"{path}: measured for space {table['space']!r}, not {space.name!r}; measure this space")
    if table["device"] != device:
        raise ValueError(f"{path}: measured on {table['device']}, not {device}; measure on this device")
    for i, st in enumerate(table["stages"]):
        missing = [
            c for c in space.choices if not isinstance(st.get(c) if isinstance(st, dict) else None, (int, float))
        ]
        if missing:
            raise ValueError(f"{path}: stage {i} has no latency for {', '.join(missing)}; measure the table again")
    return table


def load_table(path: str | Path, space: Space, device: str = "cpu") -> dict:
    """Read a latency table YAML and check it fits ``space`` and ``device``."""
    return check_table(
        read_yaml(path, "no such latency table; write one with `search.py latency`"),
        space,
        device,
        path,
    )

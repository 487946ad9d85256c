"""Reading a run folder's files back: every damage becomes one ``ValueError`` naming the file and the fix.

config.yaml, evaluations.csv, retrain.csv and supernet.pt are read here only, so ``export``, ``retrain``
and ``--resume`` answer a truncated, edited or foreign file the same way: one line, exit code 2, nothing
written (the CLI turns the ``ValueError`` into that line).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from seknet.core.fileio import read_yaml
from seknet.core.space import Space, space_from_dict

RERUN = "the file is damaged; restore it or run the search again"

# Column -> (type, may be empty). Empty cells are allowed where a row has no value (failed trials, slices).
EVAL_TYPES: dict[str, tuple[type, bool]] = {
    "arch": (str, False),
    "params": (int, True),
    "macs": (int, True),
    "accuracy": (float, True),
    "n_eval": (int, True),
    "acc_low": (float, True),
    "acc_high": (float, True),
}
RETRAIN_TYPES: dict[str, tuple[type, bool]] = {
    "arch": (str, False),
    "macs": (int, False),
    "params": (int, False),
    "run_accuracy": (float, False),
    "seed": (int, False),
    "accuracy": (float, True),
    "n_eval": (int, True),
    "status": (str, False),
}


def _cell(value: str | None, kind: type, empty_ok: bool) -> bool:
    """True when ``value`` is a valid ``kind`` (or empty, where allowed)."""
    if value is None:
        return False
    if value == "":
        return empty_ok
    try:
        return kind is str or (math.isfinite(float(value)) if kind is float else str(int(value)) == value.strip())
    except ValueError:
        return False


def read_table(path: Path, types: Mapping[str, tuple[type, bool]]) -> list[dict]:
    """The rows of CSV ``path``, every cell of the ``types`` columns checked; ValueError naming the line otherwise."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in types if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: no column {', '.join(missing)} in its header; {RERUN}")
            rows = []
            for row in reader:
                for col, (kind, empty_ok) in types.items():
                    if not _cell(row.get(col), kind, empty_ok):
                        raise ValueError(
                            f"{path}, line {reader.line_num}: {col} is {row.get(col)!r}, not "
                            f"{'a number' if kind is float else 'an integer'}; {RERUN}"
                        )
                if None in row:  # more cells than the header names
                    raise ValueError(f"{path}, line {reader.line_num}: more cells than columns; {RERUN}")
                rows.append(row)
    except FileNotFoundError:
        raise ValueError(f"{path}: missing; pass a finished run folder (results/<run>)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: cannot be read as CSV ({e}); {RERUN}") from None
    return rows


def finished_run(run: Path) -> tuple[Path, Path]:
    """(evaluations.csv, config.yaml) of the finished run folder ``run``; one-line ValueError when it is not one."""
    evals, cfg_file = Path(run) / "evaluations.csv", Path(run) / "config.yaml"
    if not evals.is_file() or not cfg_file.is_file():
        raise ValueError(f"{run}: not a finished run folder (no evaluations.csv/config.yaml); pass results/<run>")
    return evals, cfg_file


@dataclass(frozen=True)
class FinishedRun:
    """A finished run folder as export and retrain read it: its evaluations.csv rows, its config.yaml and the space
    it searched (as saved, so a later edit of the space's YAML file changes nothing)."""

    path: Path
    rows: list[dict]
    config: dict  # config.yaml
    space: Space

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    def settings(self, cls: type, keep: tuple[str, ...] | None = None) -> Any:
        """The run's settings as ``cls`` (a config dataclass), ``keep``: only these fields (see :func:`config_from`)."""
        return config_from(cls, self.config["config"], self.config_file, keep)


def load_run(run: Path) -> FinishedRun:
    """Read the finished run folder ``run``: one-line ValueError naming the file when it is not one or is damaged."""
    evals, cfg_file = finished_run(run)
    config = read_run_config(cfg_file)
    return FinishedRun(Path(run), read_evaluations(evals), config, space_from_dict(config.get("space"), str(cfg_file)))


def read_evaluations(path: Path) -> list[dict]:
    """evaluations.csv of a run: :func:`read_table`, and every complete row carries MACs, accuracy and n_eval
    (and ``latency_ms``, in a run that has that column)."""
    rows = read_table(path, EVAL_TYPES)
    has_ms = bool(rows) and "latency_ms" in rows[0]
    for k, r in enumerate(rows, 2):
        if has_ms and not _cell(r["latency_ms"], float, True):
            raise ValueError(f"{path}, row {k}: latency_ms is {r['latency_ms']!r}, not a number; {RERUN}")
        wanted = ("macs", "accuracy", "n_eval", "latency_ms") if has_ms else ("macs", "accuracy", "n_eval")
        if r.get("status", "complete") == "complete" and "" in (r[c] for c in wanted):
            raise ValueError(f"{path}, row {k}: a complete arch without {', '.join(wanted)}; {RERUN}")
    return rows


def read_run_config(path: Path) -> dict:
    """config.yaml of a run: a mapping with a ``config`` mapping (the run's settings)."""
    data = read_yaml(path, "missing; pass a run folder that `search.py run` wrote")
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise ValueError(f"{path}: not a seknet run config (no 'config' mapping); {RERUN}")
    return data


def config_from(cls: type, saved: Mapping[str, Any], path: Path, keep: tuple[str, ...] | None = None) -> Any:
    """``cls(**saved)`` (a config dataclass) from a saved mapping; unknown or bad fields give one line naming ``path``.
    A setting the run was saved without takes the value that run had (``cls.as_before``), not today's default.

    ``keep``: take only these keys of ``saved`` (e.g. the data settings of another mode's config).
    """
    known = {f.name for f in fields(cls)}
    if keep is None and hasattr(cls, "as_before"):  # settings this run was saved without, as it had them
        saved = {**cls.as_before(saved), **saved}
    items = {k: v for k, v in saved.items() if keep is None or k in keep}
    unknown = sorted(set(items) - known)
    if unknown:
        raise ValueError(
            f"{path}: unknown setting(s) {', '.join(unknown)} for this version of seknet; "
            "run it with the seknet version that wrote it (git_commit in the file)"
        )
    try:
        return cls(**items)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


def load_state_dict(path: Path) -> dict:
    """A state dict saved by seknet (``torch.load(weights_only=True)``); ValueError when damaged or missing."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: missing; only one-shot runs write supernet.pt")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on a damaged file
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable state dict ({reason}); {RERUN}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors; {RERUN}")
    return state


def load_into(model, state: dict, path: Path) -> None:
    """``model.load_state_dict(state)``; keys or shapes that do not match give one line naming ``path``."""
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0][:160]
        raise ValueError(f"{path}: does not fit this run's space ({first}); {RERUN}") from None

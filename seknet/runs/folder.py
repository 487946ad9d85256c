"""The one run lifecycle that every search mode uses: create, ``.partial``, config.yaml, resume, rename.

A run is written into the hidden folder ``.<run>.partial`` beside its final place and renamed into place only
when every file is written, so a crash, a kill or Ctrl+C never leaves a half-written run where a finished
one would be. A leftover ``.partial`` folder is refused in one way for every mode: continue it with
``--resume`` (where the mode can) or remove it. config.yaml carries the same top-level keys in every mode.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seknet.core.fileio import read_yaml, write_yaml
from seknet.core.plugins import MODES
from seknet.runs.files import read_run_config


@dataclass(frozen=True)
class RunFolder:
    """A run's final folder ``out``; everything is written into :attr:`partial` until :func:`finish`."""

    out: Path

    @property
    def partial(self) -> Path:
        return self.out.with_name(f".{self.out.name}.partial")


def git_commit() -> str | None:
    """The checkout's commit, recorded in config.yaml (None outside a git checkout)."""
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def default_out(space_name: str, data: str) -> Path:
    """results/<time>-<space>-<data>."""
    return Path("results") / f"{time.strftime('%Y%m%d-%H%M%S')}-{space_name}-{data}"


def resumable_modes() -> tuple[str, ...]:
    """The registered modes whose interrupted runs ``--resume`` continues (their ``resumable`` info)."""
    return MODES.names(resumable=True)


def check_new(out: str | Path | None, space_name: str, data: str, mode: str) -> RunFolder:
    """The run folder a new run of ``mode`` would write (nothing is created): refuses a non-empty ``out`` and a
    leftover ``.partial`` folder, each with one line saying what to do."""
    folder = RunFolder(Path(out) if out else default_out(space_name, data))
    if folder.out.exists() and any(folder.out.iterdir()):
        raise ValueError(f"run folder {folder.out} already exists and is not empty; choose another --out or remove it")
    if folder.partial.exists():
        how = f"continue it with --resume {folder.out} or remove it" if mode in resumable_modes() else "remove it"
        raise ValueError(f"{folder.partial} holds an interrupted run; {how}")
    return folder


def create(folder: RunFolder, mode: str, cfg: Any) -> RunFolder:
    """Make ``folder.partial`` and write a first config.yaml into it (what ``--resume`` reads back)."""
    folder.partial.mkdir(parents=True)
    write_config(folder, mode, cfg)
    return folder


def write_config(folder: RunFolder, mode: str, cfg: Any, **extra: Any) -> None:
    """config.yaml of the run: mode, config (the dataclass's fields), git commit, then ``extra`` sections."""
    MODES[mode]  # noqa: B018 - an unknown mode: one ValueError naming the registered ones
    write_yaml(
        folder.partial / "config.yaml",
        {"mode": mode, "config": asdict(cfg), "git_commit": git_commit()} | extra,
    )


def resumable(run: str | Path) -> tuple[RunFolder, str]:
    """(folder, mode) of the interrupted run ``run`` names; one line when it finished already, left nothing to
    resume, or is of a mode that cannot resume (NNI)."""
    folder = RunFolder(Path(run))
    if (folder.out / "evaluations.csv").exists():
        raise ValueError(f"--resume {folder.out}: that search already finished")
    if not (folder.partial / "config.yaml").is_file():
        raise ValueError(f"--resume {folder.out}: no interrupted search there ({folder.partial} is missing)")
    mode = read_run_config(folder.partial / "config.yaml").get("mode")
    if mode not in resumable_modes():
        raise ValueError(
            f"--resume {folder.out}: a {mode} run cannot be resumed ({'|'.join(resumable_modes())} can); "
            f"remove {folder.partial} and run it again"
        )
    if mode == "multitrial" and not (folder.partial / "tune").is_dir():
        raise ValueError(
            f"--resume {folder.out}: the multitrial search never started ({folder.partial}/tune is "
            f"missing); remove {folder.partial} and run it again"
        )
    return folder, mode


REOPENED = "reopened.yaml"  # in a reopened run's .partial folder: the settings it was reopened with


def reopen(run: str | Path, settings: dict) -> RunFolder:
    """Move the finished run ``run`` back into its ``.partial`` folder to add to it, with ``settings`` (the new
    ones) saved beside its config.yaml; :func:`finish` puts it back. An interrupted reopening is continued by
    ``--resume``, as any interrupted run (:func:`reopened` tells it apart)."""
    folder = RunFolder(Path(run))
    if folder.partial.exists():
        raise ValueError(f"{folder.partial} holds an interrupted run; continue it with --resume {folder.out} first")
    folder.out.rename(folder.partial)
    write_yaml(folder.partial / REOPENED, settings)
    return folder


def put_back(folder: RunFolder) -> Path:
    """Undo :func:`reopen` after a refusal: the run goes back into place as the finished run it was (trainings the
    attempt added stay in its ledger, where a later extension counts them)."""
    if not folder.partial.exists():  # already put in place (a record that refused after writing)
        return folder.out
    (folder.partial / REOPENED).unlink(missing_ok=True)
    return finish(folder)


def reopened(folder: RunFolder) -> dict | None:
    """The settings an interrupted reopening (:func:`reopen`) was started with; None for any other run."""
    path = folder.partial / REOPENED
    if not path.is_file():
        return None
    settings = read_yaml(path, "missing")
    if not isinstance(settings, dict):
        raise ValueError(
            f"{path}: damaged (not a mapping of settings); delete it and rename {folder.partial} to {folder.out} to "
            "get the finished run back"
        )
    return settings


def finish(folder: RunFolder) -> Path:
    """Rename the complete ``.partial`` folder into place; returns the run folder."""
    if folder.out.exists():
        folder.out.rmdir()  # empty: check_new refused a non-empty one
    folder.partial.rename(folder.out)
    return folder.out

"""The Python API that mirrors the CLI: ``seknet.search(...)`` runs what ``search.py run`` runs, ``seknet.resume``
continues an interrupted run, ``seknet.configure`` builds the config the CLI builds, and ``seknet.Run`` reads a
finished run folder back (its settings, rows, front, placement, the best arch under a budget, export).

Every search goes the one way (``seknet.runs.spine``): ``prepare`` -> the mode's ``run(ctx)`` (found by name in
``seknet.core.plugins.MODES``; with ``verify``, the verification stage after it) -> ``record``. A setting means the
same thing in the CLI and here, smoke presets included, and one that does not apply to the mode is refused in one
line.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from seknet.core.config import configs, smoke
from seknet.core.plugins import COMMANDS, MODES, STAGES
from seknet.core.space import Arch, Space, space_from_dict
from seknet.runs import folder as runfolder
from seknet.runs.export import export, pick_within
from seknet.runs.files import (
    config_from,
    finished_run,
    read_evaluations,
    read_run_config,
    read_table,
)
from seknet.runs.objective import column
from seknet.runs.rows import front_rows, knee_row
from seknet.runs.spine import prepare, record


def config_class(mode: str) -> type:
    """The config dataclass of ``mode`` (a registered one, ``seknet.core.plugins.MODES``)."""
    MODES[mode]  # noqa: B018 - an unknown mode: one ValueError naming the registered ones
    return configs()[mode]


def configure(mode: str = "oneshot", **settings: Any) -> Any:
    """The config of a ``mode`` run from ``settings`` (the CLI flags' names); smoke presets fill what is not given.

    A setting the mode does not take is refused with one line naming its flag.
    """
    cls = config_class(mode)
    extra = sorted(set(settings) - {f.name for f in fields(cls)})
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise ValueError(f"{flags} does not apply to {mode} runs; drop it or pick another mode")
    if settings.get("smoke"):
        settings = smoke(mode) | settings
    return cls(**settings)


def execute(cfg: Any, mode: str, resume: Path | None = None) -> Path:
    """Run (or continue) one search from its config; returns the finished run folder."""
    module = MODES.load(mode)  # a seknet.modes.base.Mode
    ctx = prepare(cfg, mode, resume, module.check)
    out = module.run(ctx)
    for stage in STAGES:  # the stages the config asks for (verify: --verify)
        if getattr(cfg, stage, False):
            out = STAGES.load(stage).run(ctx, out)
    return record(ctx, out)


def search(mode: str = "oneshot", **settings: Any) -> Run:
    """Run a search as ``search.py run`` does (``mode``: oneshot, multitrial or nni); returns the finished run."""
    return Run(execute(configure(mode, **settings), mode))


def resume(run: str | Path, budget_units: float | None = None) -> Run:
    """Continue an interrupted run with its saved settings, as ``search.py run --resume RUN``. With
    ``budget_units``, add to a finished ``--verify --budget-units`` run instead: more looks of its sequential
    verification, up to ``budget_units`` in all (``run --resume RUN --budget-units U2``); nothing is trained twice."""
    if budget_units is not None:
        saved = Run(run).config  # a finished run, or one line saying what it is not
        STAGES.load("verify").check_extension(saved, budget_units)  # a seknet.modes.base.Extensible
        folder = runfolder.reopen(run, {"budget_units": budget_units})
        try:
            return Run(_extend(folder))
        except ValueError:  # refused on the way (its data gone, say): the finished run goes back as it was
            runfolder.put_back(folder)
            raise
    folder, mode = runfolder.resumable(run)
    if runfolder.reopened(folder) is not None:  # an extension that was interrupted
        return Run(_extend(folder))
    path = folder.partial / "config.yaml"
    cfg = config_from(config_class(mode), read_run_config(path)["config"], path)
    return Run(execute(cfg, mode, folder.out))


def _extend(folder: runfolder.RunFolder) -> Path:
    """Run the verification of the reopened run ``folder`` on with the settings it was reopened with."""
    path = folder.partial / "config.yaml"
    saved = read_run_config(path)
    settings = runfolder.reopened(folder) or {}
    cfg = config_from(config_class(saved["mode"]), saved["config"] | settings, path)
    ctx = prepare(cfg, saved["mode"], folder.out)
    return record(ctx, STAGES.load("verify").extend(ctx, saved))


def retrain(
    run: str | Path,
    top: int = 5,
    random: int = 15,
    epochs: int = 10,
    seeds: int = 3,
    gpus_per_trial: float = 0.0,
    progress: bool = True,
    test_variants: int = 24,
    address: str | None = None,
) -> dict:
    """Retrain a finished run's ``top`` front archs and ``random`` others stand-alone under ``seeds`` seeds, as
    ``search.py retrain RUN``; returns retrain.yaml's summary (rank agreement with the run's scores)."""
    command = COMMANDS.load("retrain")  # seknet.runs.retrain.retrain
    return command(Path(run), top, random, epochs, seeds, gpus_per_trial, progress, test_variants, address)


@dataclass(frozen=True)
class Run:
    """A finished run folder, read back: ``Run("results/<run>")``."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        finished_run(self.path)

    @cached_property
    def config(self) -> dict:
        """config.yaml: mode, config (the settings), space, data, timings."""
        return read_run_config(self.path / "config.yaml")

    @property
    def mode(self) -> str:
        return self.config.get("mode", "oneshot")

    @cached_property
    def space(self) -> Space:
        return space_from_dict(self.config.get("space"), str(self.path / "config.yaml"))

    @cached_property
    def evaluations(self) -> list[dict]:
        """Every scored arch or trial: evaluations.csv rows."""
        return read_evaluations(self.path / "evaluations.csv")

    @property
    def objective(self) -> str:
        """What the run's front minimizes beside error: ``macs`` or ``latency``."""
        return self.config["config"].get("objective", "macs")

    @property
    def front(self) -> list[dict]:
        """The Pareto front on the run's objective (accuracy vs MACs or vs latency_ms), by increasing cost."""
        return front_rows(self.evaluations, column(self.objective))

    @property
    def placement(self) -> list[dict]:
        """placement.csv rows (one-shot runs): per stage and choice, the gain vs none with its 95 % interval."""
        return read_table(self.path / "placement.csv", {"stage": (int, False), "choice": (str, False)})

    def best(self, max_macs: int | None = None, max_latency: float | None = None) -> Arch:
        """The most accurate fully evaluated arch within ``max_macs`` and ``max_latency`` (ms); the knee of the
        run's front when neither is given."""
        if max_macs is None and max_latency is None:
            return self.space.parse(knee_row(self.front, column(self.objective))["arch"])
        return self.space.parse(pick_within(self.path, self.evaluations, max_macs, max_latency)["arch"])

    def export(
        self,
        max_macs: int | None = None,
        out: str | Path | None = None,
        weights: bool = False,
        fmt: str | None = None,
        max_latency: float | None = None,
    ) -> Path:
        """``search.py export``: the arch YAML (and with ``weights`` the sub-net's state dict, with ``fmt`` an
        ONNX, torch.export or TorchScript model); returns its path."""
        return export(self.path, max_macs, None if out is None else str(out), weights, fmt, max_latency)

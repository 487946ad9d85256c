"""The Python API that mirrors the CLI: ``seknet.search(...)`` runs what ``search.py run`` runs, and
``seknet.Run`` opens a finished run (its front, best arch under a budget, placement, export).

The CLI builds its configs through :func:`configure` too, so a setting means the same thing in both, smoke
presets included, and a setting that does not apply to the mode is refused in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from seknet import report, rundir
from seknet.arch import Arch
from seknet.runconfig import CONFIGS
from seknet.runfiles import config_from, finished_run, read_evaluations, read_run_config, read_table
from seknet.space import Space, space_from_dict

MODES = tuple(CONFIGS)
SMOKE = {  # tiny budgets for CI; a setting given explicitly wins
    "oneshot": {"epochs": 1, "recal_images": 64, "slice": 0.5},
    "multitrial": {"epochs": 1, "trials": 4},
    "nni": {"epochs": 1, "trials": 3, "recal_images": 64},
}


def config_class(mode: str) -> type:
    """The config dataclass of ``mode``."""
    if mode not in CONFIGS:
        raise ValueError(f"unknown mode {mode!r}; valid: {'|'.join(MODES)}")
    return CONFIGS[mode]


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
        settings = SMOKE[mode] | settings
    return cls(**settings)


def runner(mode: str) -> Callable[..., Path]:
    """The function that runs a ``mode`` search from its config (``resume=RUN`` continues one where the mode can)."""
    if mode == "oneshot":
        from seknet.oneshot import run

        return run
    if mode == "multitrial":
        from seknet.tune_search import run_multitrial

        return run_multitrial
    try:
        from seknet.nni_search import run_nni
    except ImportError as e:
        raise ValueError(f"--backend nni needs NNI ({e}); install it with: pip install -e '.[nni]'") from None
    return run_nni


def search(mode: str = "oneshot", **settings: Any) -> Run:
    """Run a search as ``search.py run`` does (``mode``: oneshot, multitrial or nni); returns the finished run."""
    return Run(runner(mode)(configure(mode, **settings)))


def resume(run: str | Path) -> Run:
    """Continue an interrupted one-shot or multitrial run with its saved settings, as ``search.py run --resume RUN``."""
    folder, mode = rundir.resumable(run)
    path = folder.partial / "config.yaml"
    cfg = config_from(config_class(mode), read_run_config(path)["config"], path)
    return Run(runner(mode)(cfg, resume=folder.out))


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
        from seknet.cost import column

        return report.front_rows(self.evaluations, column(self.objective))

    @property
    def placement(self) -> list[dict]:
        """placement.csv rows (one-shot runs): per stage and choice, the gain vs none with its 95 % interval."""
        return read_table(self.path / "placement.csv", {"stage": (int, False), "choice": (str, False)})

    def best(self, max_macs: int | None = None, max_latency: float | None = None) -> Arch:
        """The most accurate fully evaluated arch within ``max_macs`` and ``max_latency`` (ms); the knee of the
        run's front when neither is given."""
        from seknet.cost import column
        from seknet.export import pick_within

        if max_macs is None and max_latency is None:
            return self.space.parse(report.knee_row(self.front, column(self.objective))["arch"])
        return self.space.parse(pick_within(self.path, self.evaluations, max_macs, max_latency)["arch"])

    def export(self, max_macs: int | None = None, out: str | Path | None = None, weights: bool = False,
               fmt: str | None = None, max_latency: float | None = None) -> Path:  # fmt: skip
        """``search.py export``: the arch YAML (and with ``weights`` the sub-net's state dict, with ``fmt`` an
        ONNX or TorchScript model); returns its path."""
        from seknet.export import export

        return export(self.path, max_macs, None if out is None else str(out), weights, fmt, max_latency)

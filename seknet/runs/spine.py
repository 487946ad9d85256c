"""The run spine: every search mode is ``prepare`` -> ``mode.run(ctx)`` -> ``record``.

:func:`prepare` does, once and in one order, what every mode needs before any work: load the space, open a new or
resumed run folder, settle the objective (its latency table is the saved one on resume), select the in-budget
archs, load and check the data, and probe a Ray cluster given by ``--address``; it returns a :class:`RunContext`.
A mode's ``run(ctx)`` trains and scores, writing its own artefacts (supernet.pt, Tune state) into
``ctx.partial``, and returns an :class:`Outcome`. :func:`record` writes evaluations.csv, pareto.csv/png,
placement.csv/png, decisions.csv, best.yaml, study.db (the run as an Optuna study) and config.yaml, renames the
folder into place and prints the summary.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seknet.core.config import SMOKE_LATENCY_RUNS, RunConfig
from seknet.core.fileio import write_csv, write_yaml
from seknet.core.latency_table import load_table
from seknet.core.plugins import DEVICES
from seknet.core.space import Arch, Space, load_space
from seknet.data.load import check_data, data_summary, run_data
from seknet.data.split import Data
from seknet.engine.ray_session import probe
from seknet.runs import folder as runfolder
from seknet.runs.decisions import COLUMNS as DECISION_COLUMNS
from seknet.runs.decisions import decider, report_lines
from seknet.runs.objective import TABLE_FILE, Objective, needs_table
from seknet.runs.placement import COLUMNS as PLACEMENT_COLUMNS
from seknet.runs.placement import placement
from seknet.runs.plots import plot_pareto, plot_placement
from seknet.runs.rows import front_rows, write_best
from seknet.runs.study import STUDY_FILE, importance_lines, importances, live_curves, trials_of, write_study
from seknet.runs.summary import summary

# What every accuracy of a run measures (issue 31 measured the variance-reduction levers, benchmarks/README.md "Noise
# floor": at the end of a schedule neither weight averaging nor paired seeds lowered the noise per training on
# digits; stopping a longer schedule early and reading its EMA did, and --verify adopts it: seknet.modes.verify.metric)
METRIC = {
    "accuracy": "top-1 on the run's validation images (n_eval of them)",
    "weights": "final: the plain weights after the last epoch (not an EMA or SWA average)",
    "seeds": "independent per training; every arch of a replicate shares its seed (common random numbers)",
}


@dataclass(frozen=True)
class RunContext:
    """What a mode is given: its settings, the space, the open run folder, the objective, the in-budget archs, the
    data, and when the run started."""

    cfg: Any  # the mode's config (seknet.core.config)
    mode: str
    space: Space
    folder: runfolder.RunFolder
    resumed: bool
    objective: Objective
    archs: list[Arch]  # within --max-macs and --max-latency, in the space's order
    data: Data
    started: float = field(default_factory=time.time)
    data_summary: dict = field(default_factory=dict)  # config.yaml's data section (name, split sizes)

    @property
    def partial(self) -> Path:
        """The hidden folder the run is written into until :func:`record` renames it into place."""
        return self.folder.partial


@dataclass
class Outcome:
    """What a mode's run gives :func:`record`: one evaluations.csv row per arch or trial, their columns (the
    objective adds ``latency_ms``), and what else the run folder and its report hold."""

    rows: list[dict]
    columns: list[str]
    config: dict = field(default_factory=dict)  # more sections of config.yaml (timings, training, trials, ...)
    title: str = ""  # pareto.png's title
    hits: dict | None = None  # {arch: bool tensor of the slice images it got right}: placement with intervals
    placement: list[dict] | None = None  # placement.csv rows the mode computed itself
    evidence: tuple | None = None  # (seknet.core.decisions.Evidence, what it is, looks): the training noise measured
    notes: list[str] = field(default_factory=list)  # lines the printed report adds
    files: str = "evaluations.csv, pareto.csv/png, best.yaml, config.yaml"  # what the report says was written
    scratch: list[str] = field(default_factory=list)  # files and folders of the run folder removed once recorded


def run_table(cfg: RunConfig, space: Space, kept: Path | None = None) -> dict | None:
    """The latency table of a run (None when it needs none): the one a resumed run kept (``kept``), else
    ``cfg.latency_table`` checked against the space and device, else one measured now at batch 1."""
    if not needs_table(cfg):
        return None
    path = kept if kept is not None and Path(kept).is_file() else cfg.latency_table
    if path is None:
        measure = DEVICES.load(cfg.latency_device)  # seknet.engine.latency.on_cpu, on_cuda
        return measure(space, runs=SMOKE_LATENCY_RUNS) if cfg.smoke else measure(space)
    return load_table(path, space, cfg.latency_device)


def prepare(
    cfg: Any,
    mode: str,
    resume: Path | None = None,
    check: Callable[[RunContext], None] | None = None,
) -> RunContext:
    """Everything before a mode's work, in one order; nothing is created until every check has passed.

    ``resume``: the run folder of an interrupted run of this mode, continued with its saved latency table.
    ``check(ctx)``: the mode's own checks (e.g. a grid's trials), run before the folder is created.
    """
    started = time.time()
    space = load_space(cfg.space)
    if resume is None:
        folder = runfolder.check_new(cfg.out, space.name, cfg.data, mode)
    else:
        folder = runfolder.resumable(resume)[0]
    table = run_table(cfg, space, None if resume is None else folder.partial / TABLE_FILE)
    objective = Objective.of(cfg, table)
    archs = objective.in_budget(space)
    if getattr(cfg, "address", None):
        probe(cfg.address)  # before hours of training, not after
    data = run_data(cfg, space.input_size)
    check_data(space, data)
    ctx = RunContext(cfg, mode, space, folder, resume is not None, objective, archs, data, started, data_summary(data))
    if check is not None:
        check(ctx)  # the mode's own checks: still nothing created
    if resume is None:
        runfolder.create(folder, mode, cfg)
        if table is not None:
            write_yaml(folder.partial / TABLE_FILE, table)  # so the run's latency_ms can be traced, and resumed
    return ctx


def record(ctx: RunContext, out: Outcome) -> Path:
    """Write a finished mode's results into its folder, rename it into place and print the report; returns it.

    The front holds complete, fully evaluated rows only. A run without one is finished as it is and then refused in
    one line naming its evaluations.csv (every trial failed, say).
    """
    col, partial = ctx.objective.column, ctx.partial
    rows = ctx.objective.with_latency(out.rows, ctx.space) if "status" in out.columns else out.rows
    front = front_rows(rows, col)
    for r in front:
        r["on_front"] = 1
    columns = ctx.objective.columns(out.columns)
    write_csv(partial / "evaluations.csv", rows, columns)
    write_csv(partial / "pareto.csv", front, columns)
    place = out.placement
    if place is None and out.hits is not None:
        cfg = ctx.cfg
        spread = getattr(cfg, "seed_spread", None)
        place = placement(rows, len(ctx.space.stages), ctx.space.choices, out.hits, spread, cfg.confidence, cfg.margin)
    if place:
        write_csv(partial / "placement.csv", place, PLACEMENT_COLUMNS)
    drawn = _decide_and_draw(ctx, out, rows, front, place) if front else None
    done = _finish(ctx, out)
    if drawn is None:
        raise ValueError(
            f"no arch completed ({', '.join(out.notes) or 'see the rows'}); the reasons are in {done}/evaluations.csv"
        )
    best, notes = drawn
    print(summary(done, rows, front, place or [], best, time.time() - ctx.started, notes, out.files))
    return done


def _decide_and_draw(ctx: RunContext, out: Outcome, rows: list[dict], front: list[dict], place) -> tuple[dict, list]:
    """A run with a front: decisions.csv, study.db, best.yaml and the PNGs, its scratch files removed; returns
    best.yaml's content and the report's notes."""
    col, partial = ctx.objective.column, ctx.partial
    keys = ctx.objective.columns(["params", "macs", "attn_ops", "accuracy", "acc_low", "acc_high", "n_eval"])
    keys = [k for k in keys if k in front[0]]
    decide = decider(rows, col, ctx.cfg.confidence, out.evidence, out.hits)
    decisions = decide(ctx.cfg.max_latency if col == "latency_ms" else ctx.cfg.max_macs)
    write_csv(partial / "decisions.csv", decisions, DECISION_COLUMNS)
    name = ctx.folder.out.name
    curves = live_curves(partial / STUDY_FILE)  # a multi-trial run's learning curves, written as its trials finished
    write_study(partial / STUDY_FILE, {name: (trials_of(rows, col, decisions, curves), col, ctx.space.choices)})
    importance = importances(partial / STUDY_FILE, name, col)
    tied = lambda best: decide(float(best[col]))[0]["indifference"].split()  # noqa: E731
    best = write_best(partial / "best.yaml", ctx.space, front, ctx.objective.budget_flags, keys, col, tied)
    plotted = [r for r in rows if r.get("status", "complete") == "complete"]
    title = f"{out.title}, {len(front)} on the front"
    plot_pareto(partial / "pareto.png", plotted, front, title, ctx.objective.axis_budget, col)
    if place:
        plot_placement(partial / "placement.png", place, len(ctx.space.stages), ctx.space.choices)
    for scratch in out.scratch:  # checkpoints and caches: of no use once the run is complete
        path = partial / scratch
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return best, [*out.notes, *importance_lines(importance), *report_lines(decisions, col)]


def _finish(ctx: RunContext, out: Outcome) -> Path:
    """Write config.yaml (the run's settings, space, data, metric and timings) and rename the folder into place."""
    config = {"space": ctx.space.to_dict(), "data": ctx.data_summary, "metric": METRIC} | out.config
    config["seconds"] = config.get("seconds", {}) | {"total": round(time.time() - ctx.started, 1)}
    runfolder.write_config(ctx.folder, ctx.mode, ctx.cfg, **config)
    return runfolder.finish(ctx.folder)

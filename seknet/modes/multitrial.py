"""The multi-trial search on Ray Tune: every trial trains one arch stand-alone; a proposer picks the archs.

``--sampler`` names the proposer (``seknet.modes.proposers``): ``nsga2`` and ``tpe`` through Optuna on two
objectives (accuracy up, the run's cost down), ``random`` and ``grid`` over the archs in budget. No arch is trained
twice and none over the budget, so ``--trials`` counts trained archs. Early stopping (``--asha``) stops weak trials
on accuracy; such a trial keeps status ``stopped_early`` and its truncated accuracy never enters the front, which
holds complete trials only. A crashing or NaN trial is recorded as ``failed`` with its reason and the search goes
on. ``--resume`` restores the Tune experiment (and the proposer with it) from the run's folder.

While it runs, each finished trial is added to the run's study.db (``seknet.runs.study.live_trial``) with its
validation accuracy per epoch (``--curves``, on by default: one evaluation per epoch, about 8 % of a digits
trial's time), so ``seknet dashboard RUN`` shows the finished trials and their learning curves before the run ends.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from seknet.core.config import MultiTrialConfig
from seknet.core.space import Space
from seknet.engine.ray_session import ray_session, tune_settings
from seknet.engine.ray_trials import error_line, experiment, job_of, local_gpus, standalone_trainable, trial_callback
from seknet.engine.train import TrainConfig
from seknet.modes import proposers
from seknet.modes.tune_searcher import ProposerSearcher, saved_counts
from seknet.nn.supernet import Supernet
from seknet.runs.files import load_into, load_state_dict
from seknet.runs.rows import MT_COLUMNS, tune_row
from seknet.runs.spine import Outcome
from seknet.runs.study import live_trial

if TYPE_CHECKING:
    from seknet.runs.objective import Objective
    from seknet.runs.spine import RunContext

STATUSES = ("complete", "stopped_early", "failed")


def check(ctx: RunContext) -> None:
    """Before the run folder exists: a grid fits in ``--trials``, and ``--init supernet`` names a fitting supernet."""
    cfg = ctx.cfg
    if cfg.sampler == "grid" and not ctx.resumed and len(ctx.archs) > cfg.trials:
        raise ValueError(
            f"grid needs one trial per arch: {len(ctx.archs)} archs in budget but --trials {cfg.trials}; "
            "raise --trials, prune with --max-macs, or use another --sampler"
        )
    init_state(cfg, ctx.space)


def init_state(cfg: MultiTrialConfig, space: Space) -> dict | None:
    """The supernet state every trial starts from (``--init supernet``), checked against ``space``; else None."""
    if cfg.init != "supernet":
        return None
    sn = Path(cfg.supernet) / "supernet.pt"
    if not sn.is_file():
        raise ValueError(f"--supernet {cfg.supernet}: no supernet.pt there; pass a one-shot run folder")
    state = load_state_dict(sn)
    load_into(Supernet(space, choice_affine=Supernet.has_choice_affine(state)), state, sn)
    return state


def arch_cost(objective: Objective, space: Space, arch: str) -> float:
    """What ``arch`` costs on the run's objective (a picklable function of the arch string, for the proposer)."""
    return objective.cost(space.parse(arch))


def run(ctx: RunContext) -> Outcome:
    """Train the archs the proposer gives as Ray Tune trials (or continue a resumed search); one row per trial."""

    cfg = ctx.cfg
    tcfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    trainable = standalone_trainable(
        ctx.space,
        ctx.data,
        tcfg,
        gpus_per_trial=cfg.gpus_per_trial,
        cpus_per_trial=cfg.cpus_per_trial,
        init_state=init_state(cfg, ctx.space),
        every_epoch=cfg.asha or cfg.curves,
    )
    with tune_settings(), ray_session(cfg.address, num_gpus=local_gpus(cfg.gpus_per_trial, cfg.address)):
        results = _tuner(ctx, trainable).fit()
    rows = [tune_row(ctx.space, cfg.epochs, job_of(r.config)["arch"], r.metrics, _error(r)) for r in results]
    statuses = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    proposals = {"distinct_archs_trained": len({r["arch"] for r in rows})} | saved_counts(ctx.partial / "tune")
    notes = [
        f"{len(rows)} trials: "
        + ", ".join(f"{v} {k}" for k, v in statuses.items() if v)
        + "".join(f", {v} {k.replace('_', ' ')}" for k, v in proposals.items() if v)
    ]
    notes += [f"  failed {r['arch'] or '?'}: {r['error']}" for r in rows if r["status"] == "failed"]
    done = statuses["complete"]
    return Outcome(
        rows,
        MT_COLUMNS,
        {"trials": statuses, "proposals": proposals},
        f"multitrial ({cfg.sampler}) on {ctx.data.name}: {done} complete trials",
        notes=notes,
    )


def _error(result) -> str | None:
    """The error line of a Tune result, None when it completed."""
    return None if result.error is None else error_line(result.error)


def _tuner(ctx: RunContext, trainable):
    """The Tune experiment in the run's ``tune`` folder: restored from its saved state on resume, or a new one."""
    from ray import tune

    cfg = ctx.cfg
    if ctx.resumed:
        return experiment(trainable, ctx.partial, cfg.progress, True, f"remove {ctx.partial} and run the search again")
    live = trial_callback(functools.partial(live_trial, ctx.space, ctx.objective, cfg.epochs, ctx.folder.out.name))
    allowed = [str(a) for a in ctx.archs]
    cost = functools.partial(arch_cost, ctx.objective, ctx.space)
    population = max(4, min(50, cfg.trials // 4))
    proposer = proposers.make(
        cfg.sampler, allowed, ctx.space.choices, len(ctx.space.stages), cfg.seed, cost, population
    )
    scheduler = None
    if cfg.asha:
        from ray.tune.schedulers import ASHAScheduler

        grace = min(cfg.grace_epochs, cfg.epochs)
        scheduler = ASHAScheduler(
            time_attr="epoch", metric="accuracy", mode="max", max_t=cfg.epochs, grace_period=grace
        )
    searcher, samples = ProposerSearcher(proposer, cost), min(cfg.trials, len(allowed))
    config = tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=samples)
    return experiment(trainable, ctx.partial, cfg.progress, callbacks=(live,), tune_config=config)

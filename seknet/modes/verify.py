"""The verification stage of a screening run (``run --verify``): stand-alone trainings answer where attention belongs.

Weight sharing under-rates attention whose benefit shows late in training (benchmarks/README.md, "Answer curve"),
so the screening only narrows the question, and stand-alone trainings answer it:

1. **Reduce.** Per stage keep ``none`` and, of each attention kind, the value the screening scored best (the truth's
   r / M axes show the differences between r, and between M, within noise): a factorial of at most 3 levels per
   stage (81 archs on 4 stages), the archs over the run's budget left out.
2. **Train.** Every arch of that factorial (or a fraction of it, ``--verify-archs``) stand-alone for
   ``--verify-epochs`` epochs of a cosine schedule twice as long (``--verify-schedule``), read with the EMA of its
   weights where it stops (the early read: per unit of compute the least noisy read measured, benchmarks/README.md
   "Noise floor"; a complete schedule is read with SWA over its last quarter, ``--verify-read`` and :func:`read`),
   under ``--verify-seeds`` seeds: Ray Tune trials, one per CPU worker or
   GPU share, or on a cluster (``--address``). Each finished (arch, seed, epochs) is kept in
   ``verify/trainings.csv``, and a resumed run trains only the rest. On digits the trainings are scored on a larger
   draw of the validation sources (24 per source), as the stand-alone noise needs.
3. **Answer.** The additive model (``seknet.core.factorial``: main effects, seeds as replicates) fitted to the
   trainings gives each stage's choice vs none, and SK vs SE, with a 95 % interval from the stand-alone evidence
   and a claim (placement.csv, ``significant``, ``claim``), and every factorial arch a predicted accuracy with its
   interval: the verified front and best.yaml. The fit and its residual (the run's own training noise) are the
   evidence of decisions.csv (``seknet.core.decisions``). The screening's own scores are kept in screening.csv.
4. **Sequential** (``--budget-units U``, :func:`sequential`): after the first design, more seeds of the archs the
   picks still hinge on, look by look, until every budget's epsilon reaches ``--epsilon`` or the units are spent.
   The confidence is split over at most ``LOOKS`` looks (Bonferroni), the last of them the answer, so it holds
   wherever the run stops. ``run --resume RUN --budget-units U2`` (:func:`extend`) continues a finished sequential
   run with the looks it has left and U2 units in all: every earlier training is kept, none is trained again.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seknet.core import factorial
from seknet.core.attention import Choice, stage_names
from seknet.core.count import count
from seknet.core.decisions import (
    DRIFTS,
    LOOKS,
    Evidence,
    claim,
    continuation_order,
    decide,
    final_evidence,
    training_order,
    training_units,
)
from seknet.core.fileio import read_csv, write_csv
from seknet.core.stats import pp_per_mmac
from seknet.data.load import run_data
from seknet.engine import ray_trials
from seknet.engine.averaging import SWA_BN_IMAGES
from seknet.engine.ray_trials import local_gpus, standalone_trainable, trial_callback
from seknet.engine.train import TrainConfig
from seknet.runs.decisions import budgets as decision_budgets
from seknet.runs.folder import REOPENED
from seknet.runs.placement import COLUMNS as PLACEMENT_COLUMNS
from seknet.runs.placement import placement
from seknet.runs.rows import EVAL_COLUMNS, VERIFY_COLUMNS
from seknet.runs.spine import METRIC, Outcome
from seknet.runs.study import live_trial

if TYPE_CHECKING:
    from seknet.data.split import Data
    from seknet.runs.spine import RunContext

FOLDER = "verify"  # in the run folder: the trainings' ledger and the Tune experiment
DIGITS_VARIANTS = 24  # digits: draws per validation source the trainings are scored on (8,616 images)


def levels(ctx: RunContext, screening: Outcome) -> list[list[str]]:
    """Per stage: none and, of each attention kind the space offers, the value whose archs scored best on average
    in the screening (its placement's mean accuracy)."""
    space = ctx.space
    place = placement(screening.rows, len(space.stages), space.choices)
    out = []
    for i in range(len(space.stages)):
        mean = {p["choice"]: float(p["mean_accuracy"]) for p in place if int(p["stage"]) == i}
        kinds: dict[str, str] = {}
        for c in space.choices:
            kind = Choice.parse(c).kind
            if c in mean and (kind not in kinds or mean[c] > mean[kinds[kind]]):
                kinds[kind] = c
        out.append(sorted(kinds.values(), key=lambda c: (c != "none", c)))
    return out


def design(ctx: RunContext, lv: list[list[str]]) -> list[str]:
    """The archs to train: the factorial of ``lv`` within the run's budget, or at most ``--verify-archs`` of them (the
    3^(n-1) fraction whose level indices sum to 0 mod 3 when every stage has 3 levels, else a seeded sample)."""
    return factorial.reduce(cells_in_budget(ctx, lv), lv, ctx.cfg.verify_archs, ctx.cfg.seed)


def cells_in_budget(ctx: RunContext, lv: list[list[str]]) -> list[str]:
    """The cells of the factorial of ``lv`` that the run's budget allows, in the factorial's order."""
    allowed = {str(a) for a in ctx.archs}
    return [a for a in factorial.cells(lv) if a in allowed]


def jobs_of(ctx: RunContext, archs: list[str]) -> list[dict]:
    """Every (arch, seed, epochs) the stage trains: each arch under --verify-seeds seeds from the run's seed."""
    cfg, states = ctx.cfg, _states(ctx)
    return [job(cfg, a, s, states) for s in range(cfg.seed, cfg.seed + cfg.verify_seeds) for a in archs]


def _states(ctx: RunContext) -> Path | None:
    """Where the trainings leave their state to be continued (``verify/states``), when the run continues any: an
    absolute path, as a Tune trial runs in a working directory of its own."""
    return (ctx.partial / FOLDER / "states").resolve() if continues(ctx.cfg) else None


def schedule(cfg) -> int:
    """The cosine schedule (epochs) a verify training follows: ``--verify-schedule``, else twice ``--verify-epochs``."""
    return cfg.verify_schedule or 2 * cfg.verify_epochs


def read(cfg) -> str:
    """The weights a verify training is read with (``--verify-read``): ``auto`` is the EMA where the training stops
    early and SWA after a complete schedule, the reads that need the fewest trainings (benchmarks/README.md, "Noise
    floor")."""
    if cfg.verify_read != "auto":
        return cfg.verify_read
    return "ema" if schedule(cfg) > cfg.verify_epochs else "swa"


def job(cfg, arch: str, seed: int, states: Path | None = None) -> dict:
    """One training: ``arch`` under ``seed`` for ``--verify-epochs`` epochs of its :func:`schedule`, read by
    :func:`read`; ``states``: the folder where it leaves its state at its stop, to be continued from there
    (:func:`continuation`)."""
    out = {"arch": arch, "seed": seed, "epochs": cfg.verify_epochs, "schedule": schedule(cfg), "read": read(cfg)}
    return out | ({"state": str(states / f"{arch}-s{seed}.pt")} if states is not None else {})


def continues(cfg) -> bool:
    """Whether sequential verification continues its contenders' trainings to the end of their schedule
    (``--verify-continue``): with ``--budget-units``, when the trainings stop early."""
    return cfg.budget_units is not None and cfg.verify_continue > 0 and schedule(cfg) > cfg.verify_epochs


def end_read(cfg) -> str:
    """The read of a training continued to the end of its schedule: SWA over its last quarter (``auto``, ``ema``),
    or the plain weights (``--verify-read plain``)."""
    return "plain" if read(cfg) == "plain" else "swa"


def continuation(cfg, arch: str, seed: int, states: Path) -> dict:
    """The training of ``arch`` under ``seed`` over its whole :func:`schedule`, continued from the state its early
    stop left in ``states`` (it costs the epochs left; without the file, e.g. on another node, it trains them all, to
    the same weights on CPU), read by :func:`end_read`. Its ledger key (arch, seed, schedule) is its own."""
    return job(cfg, arch, seed, states) | {"epochs": schedule(cfg), "read": end_read(cfg)}


def at(cfg) -> str:
    """Where in its schedule a verify training is read: "after epoch E of a S-epoch cosine schedule" (early) or "of a
    complete E-epoch schedule"."""
    epochs, of = cfg.verify_epochs, schedule(cfg)
    return (
        f"after epoch {epochs} of a {of}-epoch cosine schedule"
        if of > epochs
        else f"of a complete {epochs}-epoch schedule"
    )


def read_label(cfg) -> str:
    """The read in a few words, for the evidence a decision names (an early read's epsilon bounds the early read)."""
    return {"ema": "EMA", "swa": "SWA", "plain": "plain weights"}[read(cfg)] + " " + at(cfg)


def metric(cfg) -> dict:
    """What a verify training's accuracy measures (config.yaml's ``metric``)."""
    early = schedule(cfg) > cfg.verify_epochs
    weights = {
        "ema": f"EMA of the weights {at(cfg)}" + (" (the early read)" if early else ""),
        "swa": f"SWA: the mean of the weights at the ends of the last quarter of the epochs {at(cfg)}, BN statistics "
        f"recomputed on {SWA_BN_IMAGES:,} training images",
        "plain": ("" if early else "final: ") + f"the plain weights {at(cfg)}",
    }[read(cfg)]
    return METRIC | {"weights": weights}


def verify_data(ctx: RunContext) -> Data:
    """The data the trainings run on: the run's, with a larger validation draw on digits (``DIGITS_VARIANTS``)."""
    cfg = ctx.cfg
    variants = {"eval_variants": DIGITS_VARIANTS} if cfg.data == "digits" and not cfg.smoke else {}
    return run_data(cfg, ctx.space.input_size, **variants)


def train_jobs(ctx: RunContext, jobs: list[dict], look: int = 0, data: Data | None = None) -> list[dict]:
    """Train the ``jobs`` not yet in the run's ledger (``verify/trainings.csv``) as Ray Tune trials; a resumed run
    trains only the jobs the ledger lacks. Returns every ledger row of ``jobs``. ``look`` > 0: a
    round of sequential verification, its own experiment in ``verify/look-K``. ``data``: :func:`verify_data`, when
    the caller has it already (a sequential run trains at every look). Each finished training is added to the run's
    study.db as it finishes (``seknet.runs.study.live_trial``), so the dashboard shows them while the run goes on."""
    cfg = ctx.cfg
    data = verify_data(ctx) if data is None else data
    tcfg = TrainConfig(cfg.verify_epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    trainable = standalone_trainable(ctx.space, data, tcfg, gpus_per_trial=cfg.gpus_per_worker)
    gpus = local_gpus(cfg.gpus_per_worker, cfg.address)
    folder = ctx.partial / FOLDER
    where = folder / f"look-{look}" if look else folder
    ledger = folder / "trainings.csv"
    live = trial_callback(
        functools.partial(live_trial, ctx.space, ctx.objective, cfg.verify_epochs, ctx.folder.out.name)
    )
    return ray_trials.train_jobs(
        jobs, trainable, where, len(data.val), cfg.progress, cfg.address, gpus, ledger=ledger, callbacks=(live,)
    )


def sequential(
    ctx: RunContext, lv: list[list[str]], archs: list[str], before: dict | None = None
) -> tuple[list[dict], dict]:
    """``--budget-units U``: train the first design, then look at the evidence up to ``LOOKS`` times; at each look,
    decide every budget at ``1 - (1 - confidence) / LOOKS`` (Bonferroni over the looks, so the stated confidence holds
    wherever the run stops) and, before the last look, train one more seed of each arch in an indifference set whose
    epsilon is above ``--epsilon`` (the least-trained first, then the nearest the top of a budget's set:
    ``training_order``), as long as the units last. When the trainings stop early (:func:`continues`), each look
    first continues the trainings of each unsettled budget's top ``--verify-continue`` archs to the end of their
    schedule (``continuation_order``), and decides on the end's accuracy (:func:`evidence`): a budget is unsettled
    until ``DRIFTS`` (3) trainings are continued. The look the run stops at gives its answer. ``before``: the
    sequential record of a finished run being extended (:func:`extend`): its trainings count, and its looks go on
    from where it stopped. Returns (ledger rows, continuations included, what happened)."""
    cfg, space = ctx.cfg, ctx.space
    cells, data, states = cells_in_budget(ctx, lv), verify_data(ctx), _states(ctx)  # the data once, not every look
    macs = {a: float(count(space.parse(a)).macs) for a in cells}
    median = statistics.median(macs.values())
    epoch = {a: training_units(1, m, median) for a, m in macs.items()}  # an epoch's units, by arch
    left = schedule(cfg) - cfg.verify_epochs  # the epochs a continuation trains
    if before is None:
        first, start = jobs_of(ctx, archs), 1
        spent = sum(epoch[j["arch"]] * cfg.verify_epochs for j in first)
        if spent > cfg.budget_units:
            raise ValueError(
                f"--budget-units {cfg.budget_units:g} is less than the first design's {spent:.2f} units; raise it, "
                "or lower --verify-epochs or --verify-archs"
            )
        trained = train_jobs(ctx, first, data=data)
    else:
        trained, start = _ledger(ctx, cells), max(int(before["looks"]), _looks_begun(ctx) + 1)
        spent = sum(epoch[r["arch"]] * _epochs_of(cfg, r) for r in trained)
    budgets = decision_budgets(list(macs.values()), cfg.max_macs)
    stopped, look = "looks", start
    for look in range(start, LOOKS + 1):
        ev, _, _, _ = evidence(cfg, trained, cells)
        decided = [decide(ev, macs, b, cfg.confidence, looks=LOOKS) for b in budgets]
        if continues(cfg) and len(_continued(cfg, trained)) < DRIFTS:  # no end evidence yet: nothing is settled
            decided = [replace(d, epsilon_pp=math.inf) for d in decided]
        runs = Counter(r["arch"] for r in trained if int(r["epochs"]) == cfg.verify_epochs)
        hinge = training_order(decided, cfg.epsilon, runs)
        if not hinge or look == LOOKS:  # the last look answers: a training after it would need a look more
            stopped = "looks" if hinge else "epsilon"
            break
        batch = []
        for a, seed in _to_continue(cfg, trained, decided) if continues(cfg) else []:
            if spent + epoch[a] * left <= cfg.budget_units + 1e-9:
                batch.append(continuation(cfg, a, seed, states))
                spent += epoch[a] * left
        for a in hinge:
            if spent + epoch[a] * cfg.verify_epochs <= cfg.budget_units + 1e-9:
                batch.append(job(cfg, a, cfg.seed + runs[a], states))
                spent += epoch[a] * cfg.verify_epochs
        if not batch:
            stopped = "units"
            break
        trained += train_jobs(ctx, batch, look, data)
    done = {"looks": look, "units": round(spent, 3), "budget_units": cfg.budget_units, "epsilon": cfg.epsilon}
    return trained, done | {"stopped": stopped, "max_looks": LOOKS}


def evidence(cfg, trained: list[dict], cells: list[str]) -> tuple[Evidence, Evidence, factorial.Fit, str]:
    """(the evidence the decisions rest on, the early reads' own, their additive fit, what the decisions' evidence
    is) from the ledger rows ``trained``: the early reads' fit and each arch's departure from it (:func:`_evidence`),
    moved to the end of the schedule by the drifts of the continued trainings (``decisions.final_evidence``) once
    ``DRIFTS`` are."""
    ok = _early(cfg, trained)
    fit = factorial.fit(ok, pairs=False)
    ev, tau = _evidence(fit, ok, cells)
    what = f"stand-alone factorial fit of {len(ok)} trainings read with the {read_label(cfg)}, "
    what += f"sigma {fit.sigma:.2f} pp per training, df {fit.df}, archs' departures from it tau {tau:.2f} pp"
    drifts = _continued(cfg, trained)
    by_arch: dict[str, list[float]] = {}
    for (a, _), d in drifts.items():
        by_arch.setdefault(a, []).append(d)
    at_end = final_evidence(ev, by_arch)
    if at_end is None:
        few = f"; {len(drifts)} of the {DRIFTS} trainings needed continued to the end: epsilon bounds the early read"
        return ev, ev, fit, what + (few if continues(cfg) else "")
    spread = statistics.stdev(drifts.values())
    what += f"; epsilon of the end of the {schedule(cfg)}-epoch schedule: {len(drifts)} trainings continued there, "
    what += f"read with {end_read(cfg).upper() if end_read(cfg) == 'swa' else 'the plain weights'}, "
    what += f"drift from the early read {statistics.fmean(drifts.values()):+.2f} pp (SD {spread:.2f})"
    return at_end, ev, fit, what


def _early(cfg, trained: list[dict]) -> list[dict]:
    """The complete early reads among the ledger rows ``trained`` (a continuation's row has its schedule's epochs)."""
    return [r for r in trained if r["status"] == "complete" and int(r["epochs"]) == cfg.verify_epochs]


def _continued(cfg, trained: list[dict]) -> dict[tuple[str, int], float]:
    """{(arch, seed): the end read minus the early read (pp)} of every training continued to the end of its
    schedule (both reads complete in ``trained``)."""
    if schedule(cfg) == cfg.verify_epochs:
        return {}
    read_at = {
        (r["arch"], int(r["seed"]), int(r["epochs"])): 100 * float(r["accuracy"])
        for r in trained
        if r["status"] == "complete"
    }
    return {
        (a, s): acc - read_at[(a, s, cfg.verify_epochs)]
        for (a, s, e), acc in read_at.items()
        if e == schedule(cfg) and (a, s, cfg.verify_epochs) in read_at
    }


def _to_continue(cfg, trained: list[dict], decided: list) -> list[tuple[str, int]]:
    """(arch, seed) of the trainings this look continues (``continuation_order``): of each arch, its first
    complete early training not continued yet (a continuation that failed is not tried again)."""
    went = {(r["arch"], int(r["seed"])) for r in trained if int(r["epochs"]) == schedule(cfg)}
    ok = _early(cfg, trained)
    early = sorted(k for k in ((r["arch"], int(r["seed"])) for r in ok) if k not in went)
    done = Counter(a for a, _ in went)
    trainings = done + Counter(a for a, _ in early)
    order = continuation_order(decided, cfg.epsilon, done, trainings, cfg.verify_continue)
    return [(a, next(s for b, s in early if b == a)) for a in order]


def _epochs_of(cfg, row: dict) -> int:
    """The epochs a ledger row's training cost: its own, or a continuation's epochs left after the early stop."""
    epochs = int(row["epochs"])
    return epochs if epochs == cfg.verify_epochs else epochs - cfg.verify_epochs


def _ledger(ctx: RunContext, cells: list[str]) -> list[dict]:
    """Every training of the run's ledger (verify/trainings.csv) of the factorial's ``cells`` on its recipe: the
    early reads and the continuations to the end of their schedule."""
    path = ctx.partial / FOLDER / "trainings.csv"
    rows = read_csv(path) if path.is_file() else []
    keep, epochs = set(cells), {ctx.cfg.verify_epochs, schedule(ctx.cfg)}
    return [r for r in rows if r["arch"] in keep and int(r["epochs"]) in epochs]


def _looks_begun(ctx: RunContext) -> int:
    """The last look that began training (its ``verify/look-K`` experiment), 0 when none: an interrupted extension
    counts the look it was in as taken."""
    found = [int(p.name.split("-")[1]) for p in (ctx.partial / FOLDER).glob("look-*") if p.name[5:].isdigit()]
    return max(found, default=0)


def check_extension(saved: dict, budget_units: float) -> None:
    """ValueError (one line, the fix in it) unless the finished run whose config.yaml is ``saved`` is a sequential
    ``--verify`` run that has looks left and spent less than ``budget_units``."""
    seq = (saved.get("verify") or {}).get("sequential")
    if seq is None:
        raise ValueError(
            "--budget-units with --resume adds to a finished run made with --verify --budget-units; this run has no "
            "sequential verification (its confidence was not split over looks): start a new run with them"
        )
    if int(seq["looks"]) >= LOOKS:
        raise ValueError(
            f"the run took all {LOOKS} looks its confidence is split over; more trainings would void the stated "
            "confidence: start a new run"
        )
    if budget_units <= float(seq["units"]):
        raise ValueError(
            f"--budget-units {budget_units:g}: the run spent {float(seq['units']):g} units already; give a larger total"
        )


def extend(ctx: RunContext, saved: dict) -> Outcome:
    """Continue the sequential verification of a finished run (reopened into ``ctx.partial``; ``saved``: its
    config.yaml) up to ``ctx.cfg.budget_units`` in all: the screening is read back from its files (screening.csv,
    the levels it chose), the ledger's trainings count, and the looks go on from where the run stopped."""
    keep = {k: v for k, v in saved.items() if k not in ("mode", "config", "git_commit", "space", "data")}
    rows = read_csv(ctx.partial / "screening.csv")
    title = f"space {ctx.space.name}, data {ctx.data.name}: {len(rows)} archs"
    return run(ctx, Outcome(rows, EVAL_COLUMNS, keep, title, scratch=[REOPENED]))


def _evidence(fit: factorial.Fit, ok: list[dict], cells: list[str]) -> tuple[Evidence, float]:
    """(every cell's own mean accuracy (pp) with their covariance and the fit's df, the interaction SD tau in pp): the
    additive fit plus each arch's departure from it (``factorial.arch_means``), so that a pick is bounded against the
    archs' means and not only the additive model's (which missed the best arch by 1.2 pp under a budget on the
    digits truth)."""
    m = factorial.arch_means(fit, ok, cells)
    return Evidence(tuple(cells), m.mean, m.cov, fit.df), math.sqrt(m.tau2)


def answer(ctx: RunContext, lv: list[list[str]], trained: list[dict]) -> tuple[list[dict], list[dict], tuple]:
    """(evaluations rows of every factorial arch, placement rows, (evidence, what it is)) from the additive fit to the
    ``trained`` rows' early reads and each arch's departure from it: the fit's residual and the replicates are the
    run's own measure of the training noise and of what the additive model misses. The rows and placement are of the
    run's read (config.yaml's ``metric``); the decisions' evidence is of the end of the schedule where trainings
    were continued there (:func:`evidence`)."""
    cells = cells_in_budget(ctx, lv)
    decided_on, ev, fit, what = evidence(ctx.cfg, trained, cells)
    ok = _early(ctx.cfg, trained)
    pred, se = ev.mean, np.sqrt(np.maximum(np.diag(ev.cov), 0.0))
    half = factorial.t_quantile(fit.df) * se
    n_eval = max(int(r["n_eval"]) for r in ok)
    by_arch: dict[str, list[float]] = {}
    for r in ok:
        by_arch.setdefault(r["arch"], []).append(float(r["accuracy"]))
    rows = []
    for a, p, h in zip(cells, pred.tolist(), half.tolist(), strict=True):
        c = count(ctx.space.parse(a))
        measured = round(statistics.fmean(by_arch[a]), 6) if a in by_arch else ""
        rows.append(
            {
                "arch": a,
                "params": c.params,
                "macs": c.macs,
                "attn_ops": c.attn_ops,
                "accuracy": round(p / 100, 6),
                "acc_low": round((p - h) / 100, 6),
                "acc_high": round((p + h) / 100, 6),
                "n_eval": n_eval,
                "trainings": len(by_arch.get(a, [])),
                "measured_accuracy": measured,
                "on_front": 0,
            }
        )
    looks = LOOKS if ctx.cfg.budget_units is not None else 1
    if looks > 1:
        what += f"; sequential, confidence split over {looks} looks"
    return rows, placement_rows(ctx, fit, lv, rows, ok, looks), (decided_on, what, looks)


def placement_rows(
    ctx: RunContext, fit: factorial.Fit, lv: list[list[str]], rows: list[dict], ok: list[dict], looks: int = 1
) -> list[dict]:
    """placement.csv from the fit: per stage, each choice vs none (and each conv-slot kind's choice vs each
    attention-slot kind's, ``vs``), with its 95 % interval, whether that excludes 0, and its claim at the run's
    confidence (resolved, negligible or unresolved with the trainings it would need)."""
    decide_by = (len(ok), 1 - (1 - ctx.cfg.confidence) / looks, ctx.cfg.margin)
    out = []
    for i, choices in enumerate(lv):
        for c in choices:
            sel = [r for r in rows if stage_names(r["arch"])[i] == c]
            macs = statistics.fmean(int(r["macs"]) for r in sel)
            acc = statistics.fmean(float(r["accuracy"]) for r in sel)
            n = sum(stage_names(r["arch"])[i] == c for r in ok)
            out.append(
                {
                    "stage": i,
                    "choice": c,
                    "vs": "none",
                    "archs": n,
                    "mean_accuracy": round(acc, 5),
                    "mean_macs": round(macs),
                }
                | _delta(fit, i, c, "none", sel, rows, decide_by)
            )
        for k, e in factorial.contrasts(choices)[len(choices) :]:  # the conv-slot choices vs the attention-slot ones
            sel = [r for r in rows if stage_names(r["arch"])[i] == k]
            out.append(
                {
                    "stage": i,
                    "choice": k,
                    "vs": e,
                    "archs": "",
                    "mean_accuracy": "",
                    "mean_macs": "",
                }
                | _delta(fit, i, k, e, sel, rows, decide_by)
            )
    return [dict.fromkeys(PLACEMENT_COLUMNS, "") | r for r in out]


def _delta(fit: factorial.Fit, stage: int, a: str, b: str, sel: list[dict], rows: list[dict], decide_by: tuple) -> dict:
    """The placement columns of ``a`` vs ``b`` at ``stage`` (fractions, as the screening's placement writes them), and
    its claim (``seknet.core.decisions.claim``; ``decide_by``: trainings, confidence, margin)."""
    trainings, confidence, margin = decide_by
    if a == b:
        return {
            "delta_accuracy": 0.0,
            "delta_low": "",
            "delta_high": "",
            "significant": "",
            "delta_macs": 0,
            "pp_per_mmac": "",
        }
    e = factorial.contrast(fit, stage, a, b)
    other = [r for r in rows if stage_names(r["arch"])[stage] == b]
    mine, theirs = statistics.fmean(int(r["macs"]) for r in sel), statistics.fmean(int(r["macs"]) for r in other)
    c = claim(e.pp, e.se, fit.df, trainings, confidence, margin)
    return {
        "delta_accuracy": round(e.pp / 100, 5),
        "delta_low": round(e.low / 100, 5),
        "delta_high": round(e.high / 100, 5),
        "significant": int(e.significant),
        "delta_macs": round(mine - theirs),
        "pp_per_mmac": pp_per_mmac(e.pp, mine - theirs, (mine + theirs) / 2),
        "claim": c.kind,
        "trainings_needed": "" if math.isnan(c.needed) else c.needed,
    }


def write_screening(ctx: RunContext, screening: Outcome) -> None:
    """The screening's own answer beside the verified one: screening.csv and screening-placement.csv."""
    cfg = ctx.cfg
    write_csv(ctx.partial / "screening.csv", screening.rows, ctx.objective.columns(EVAL_COLUMNS))
    screened = placement(
        screening.rows, len(ctx.space.stages), ctx.space.choices, screening.hits, cfg.seed_spread, cfg.confidence
    )
    write_csv(ctx.partial / "screening-placement.csv", screened, PLACEMENT_COLUMNS)


def _record(
    ctx: RunContext, lv: list[list[str]], trained: list[dict], rounds: dict, seconds: float
) -> tuple[dict, list[str]]:
    """(config.yaml's ``verify`` record, the report's notes) of the verification's ledger rows ``trained``."""
    cfg = ctx.cfg
    ok = _early(cfg, trained)
    failed = [r for r in trained if r["status"] != "complete"]
    epochs = sum(_epochs_of(cfg, r) for r in trained)
    continued = len(_continued(cfg, trained))
    record = {
        "levels": lv,
        "archs_trained": len({r["arch"] for r in ok}),
        "trainings": sum(int(r["epochs"]) == cfg.verify_epochs for r in trained),  # the early reads, failed or not
        "continued": continued,
        "failed": len(failed),
        "epochs": epochs,
        "seconds": round(seconds, 1),
    } | ({"sequential": rounds} if rounds else {})
    notes = [
        f"Verified stand-alone: {len(ok)} trainings of {len({r['arch'] for r in ok})} archs, "
        f"{cfg.verify_epochs} epochs each of a {schedule(cfg)}-epoch schedule"
        + (f", {continued} of them continued to its end" if continued else "")
        + f" ({epochs} epochs in all); levels per stage: "
        + "; ".join("/".join(x) for x in lv)
    ]
    return record, notes + [f"  failed {r['arch']} seed {r['seed']}: {r['error']}" for r in failed]


def run(ctx: RunContext, screening: Outcome) -> Outcome:
    """Verify the screening's answer stand-alone; the outcome holds the verified rows and placement."""
    t0 = time.time()
    earlier = screening.config.get("verify", {})  # a finished run being extended (extend): its levels and looks
    lv = earlier.get("levels") or levels(ctx, screening)
    archs = design(ctx, lv)
    rounds = {}
    if ctx.cfg.budget_units is None:
        trained = train_jobs(ctx, jobs_of(ctx, archs))
    else:
        trained, rounds = sequential(ctx, lv, archs, earlier.get("sequential"))
    ok = _early(ctx.cfg, trained)
    if len({r["arch"] for r in ok}) <= sum(len(x) - 1 for x in lv) + 1:
        raise ValueError(
            f"--verify: {len(ok)} of {len(trained)} trainings finished, too few to fit the placement; "
            f"see {ctx.partial / FOLDER}/trainings.csv"
        )
    rows, place, evidence = answer(ctx, lv, trained)
    if screening.hits is not None:  # a screening read back from its files (extend) keeps them as they are
        write_screening(ctx, screening)
    record, notes = _record(ctx, lv, trained, rounds, time.time() - t0)
    config = screening.config | {"metric": metric(ctx.cfg), "verify": record}
    title = f"verified {len(rows)} archs ({ctx.data.name}), stand-alone additive model"
    files = (
        "evaluations.csv (verified), screening.csv, screening-placement.csv, pareto.csv/png, placement.csv/png, "
        "best.yaml, config.yaml, supernet.pt, verify/trainings.csv"
        + (", verify/states (the trainings' states at their early stop, to be continued)" if continues(ctx.cfg) else "")
    )
    return replace(
        screening,
        rows=rows,
        columns=VERIFY_COLUMNS,
        config=config,
        title=title,
        hits=None,
        placement=place,
        evidence=evidence,
        notes=notes,
        files=files,
    )

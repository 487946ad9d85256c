"""The answer curve: every route to the placement answer, its compute against its quality, on the 81-arch space.

Each route is scored against the placement truth (``benchmarks/truth/truth.csv``: the 81 archs of {none, se16,
sk2}^4, 2 seeds, 16 epochs) as ``search.py check`` scores a run: the truth-significant effects it *resolves* (its
own 95 % interval excludes 0) with the right sign and with the wrong sign, Kendall tau over the 81 archs, and the
regret at the 25 / 50 / 75 % MAC quantiles. Compute is in stand-alone 30-epoch trainings of the median-MAC arch.

Routes replayed from stand-alone tables trained under seeds 2, 3, 4, independent of the truth's seeds 0 and 1
(``benchmarks/truth/curves.csv``, ``truth/curves.py``): every epoch of each schedule scored on 8,616 validation
images (complete 4-, 8- and 16-epoch schedules), and warm starts from the 81-arch space's supernets
(``truth/warm.csv``). Routes that read only a 16-epoch end are replayed on each of the three 16-epoch seeds there
are (truth.csv's 0 and 1, the curves' 2, 3 and 4 as far as complete), each scored against a truth of all the others
(``folds``). ``run --verify``'s own rule is also replayed on early reads of the 16-epoch trainings of seeds 3 and 4
(the EMA or the plain weights at epoch 4 or 8, ``Curves.early``), judged by seeds 0-2. Each route's
estimate is the additive model (main effects, as the truth's) fitted to its trainings; its intervals are that fit's.
Compute of a replayed route is the sum over its trainings of epochs x the arch's seconds per epoch (median of its
trainings in truth.csv) / (30 x the median-MAC arch's). Routes run for real (``--runs``: ``search.py run --space
search_space/digits-81.yaml --seed K [--verify]`` folders) are scored from their files, their compute from their
wall time beside one stand-alone training (``benchmarks/verify_run.py`` records it in ``unit.yaml``), and scored
again against the truth of every complete 16-epoch seed (``pooled``; with seeds 3 and 4, the 5-seed truth).

    python -m benchmarks.answer_curve [--runs results/v81-s0 …] [--default-runs results/default-s0 …]
                                      [--warm-runs results/s81-s0 …] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.answer_data import (
    ARCHS,
    CONTRASTS,
    CURVES,
    CURVES_S34,
    LEVELS,
    WARM,
    Curves,
    Score,
    Truth,
    fitted_answer,
    folds,
    fraction,
    placement_of,
    pooled,
    predictions,
)
from seknet.core import decisions, factorial, read_csv, read_yaml

SIGMA = 0.52  # pp: residual SD of one 16-epoch training on 8,616 validation images (additive fit, seed 2)
CAP = 10.0  # units: the compute goal for run --verify
LOO = " [leave one seed out]"  # a route replayed on each complete 16-epoch seed, scored against the others (folds)


def covering_sample(n: int, draw: int, fractions: bool = True) -> list[str]:
    """``n`` of the 81 archs that hold every level in every stage (so the additive model can be fitted): with
    ``fractions``, a 3^(4-1) fraction for 27; else the first seeded random sample that covers every level."""
    if n == 27 and fractions:
        return fraction(draw % 3)
    rng = random.Random(draw)
    while True:
        marks = rng.sample(ARCHS, n)
        if all({a.split("-")[i] for a in marks} == set(LEVELS) for i in range(4)):
            return marks


# --- from-scratch factorials and their fractions ----------------------------------------------------------------
def route_factorial(
    t: Truth, c: Curves, schedule: int, epoch: int | None, archs_of: Callable[[int], list[str]], designs: int = 1
) -> list[Score]:
    """Train ``archs_of(k)`` (k < ``designs``, e.g. each 3^(4-1) fraction) on a ``schedule``-epoch schedule (read at
    ``epoch``, default its end: a smaller ``epoch`` is a training stopped there, ASHA's rung) under each seed of the
    curves; the answer is the additive fit."""
    out = []
    for seed in c.seeds(schedule):
        for k in range(designs):
            archs = archs_of(k)
            pred, place = fitted_answer(c.rows(archs, seed, schedule, epoch))
            out.append(t.score(t.units([(a, epoch or schedule) for a in archs]), pred, place))
    return out


def route_replication(t: Truth, c: Curves) -> list[Score]:
    """The truth's own recipe again under two new seeds (every pair of the curves' 16-epoch seeds): all 81 archs x 2
    seeds x 16 epochs, the truth's cost. How far the truth agrees with itself: no route can be held below this."""
    out = []
    seeds = c.seeds(16)
    for i, s in enumerate(seeds):
        for u in seeds[i + 1 :]:
            pred, place = fitted_answer(c.rows(ARCHS, s, 16) + c.rows(ARCHS, u, 16))
            out.append(t.score(2 * t.units([(a, 16) for a in ARCHS]), pred, place))
    return out


# --- multi-fidelity: low rungs with a late-gain correction ------------------------------------------------------
def route_landmarks(t: Truth, c: Curves, low: int, landmarks: int, truncated: bool, draws: int = 1) -> list[Score]:
    """All 81 archs at ``low`` epochs, plus ``landmarks`` archs at the full 16 (a seeded sample per draw): the late
    gain (16-epoch minus low-epoch accuracy) is fitted as a second additive model on the landmarks and added to the
    low-fidelity fit; each effect's interval joins both fits' variances. ``truncated``: the low fidelity is the first
    ``low`` epochs of the 16-epoch schedule and the landmarks continue those trainings (ASHA's rungs, a promotion
    picked at random rather than by score, so that the correction is unbiased); else a complete ``low``-epoch
    schedule beside 16-epoch landmarks."""
    out = []
    seeds = c.seeds(16) if truncated else [s for s in c.seeds(low) if s in c.seeds(16)]
    for seed in seeds:
        for k in range(draws):
            lows = c.rows(ARCHS, seed, 16, low) if truncated else c.rows(ARCHS, seed, low)
            marks = covering_sample(landmarks, k)
            gains = [{"arch": a, "accuracy": c.at(a, seed, 16) - lows[ARCHS.index(a)]["accuracy"]} for a in marks]
            f_low, f_gain = factorial.fit(lows, pairs=False), factorial.fit(gains, pairs=False)
            beta, cov = f_low.beta + f_gain.beta, f_low.cov + f_gain.cov
            joined = factorial.Fit(beta, cov, min(f_low.df, f_gain.df), f_low.levels, False)
            if truncated:
                trainings = [(a, 16 if a in marks else low) for a in ARCHS]
            else:
                trainings = [(a, low) for a in ARCHS] + [(a, 16) for a in marks]
            out.append(t.score(t.units(trainings), predictions(joined), placement_of(joined)))
    return out


# --- designed experiments: sequential, targeted, racing ---------------------------------------------------------
def route_targeted(t: Truth, c: Curves, schedule: int, targeted: bool, batch: int = 9) -> list[Score]:
    """A sequential design: a 3^(4-1) fraction on a ``schedule``-epoch schedule, then batches of ``batch`` archs until
    the next batch would pass ``CAP`` units or every contrast is resolved. ``targeted``: each batch is picked
    greedily to shrink the variance of the contrasts the fit has not yet resolved (A-optimal for them, over the
    untrained archs: Sherman-Morrison updates of (X'X)^-1); else at random (the control)."""
    out = []
    for seed in c.seeds(schedule):
        for k in range(3):
            archs, rng = list(fraction(k)), random.Random(k)
            while True:
                f = factorial.fit(c.rows(archs, seed, schedule), pairs=False)
                open_ = [o for o, e in zip(CONTRASTS, factorial.main_effects(f), strict=True) if not e.significant]
                rest = [a for a in ARCHS if a not in archs]
                if not open_ or not rest or t.units([(a, schedule) for a in archs]) + batch * schedule / 30 > CAP:
                    break
                archs += (
                    _next_batch(f, archs, rest, open_, batch) if targeted else rng.sample(rest, min(batch, len(rest)))
                )
            pred, place = fitted_answer(c.rows(archs, seed, schedule))
            out.append(t.score(t.units([(a, schedule) for a in archs]), pred, place))
    return out


def _next_batch(f: factorial.Fit, archs: list[str], rest: list[str], open_: list[tuple], batch: int) -> list[str]:
    """``batch`` of ``rest`` chosen one by one to cut the summed relative variance of the ``open_`` contrasts most."""
    x = factorial.design_matrix(archs, f)
    m = np.linalg.pinv(x.T @ x)
    w = np.stack([factorial.contrast_vector(f, *o) for o in open_])
    cand = factorial.design_matrix(rest, f)
    chosen: list[int] = []
    for _ in range(min(batch, len(rest))):
        mw, mc = m @ w.T, m @ cand.T  # (p, C), (p, N)
        var = np.einsum("cp,pc->c", w, mw)
        gain = ((cand @ mw) ** 2 / var).sum(1) / (1 + np.einsum("np,pn->n", cand, mc))
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        v = m @ cand[j]
        m = m - np.outer(v, v) / (1 + cand[j] @ v)
    return [rest[j] for j in chosen]


def route_confirm(t: Truth, c: Curves, screen: int, top: int, race: bool = False) -> list[Score]:
    """Screening: each 3^(4-1) fraction on a ``screen``-epoch schedule, the additive fit (its placement is the
    route's); confirmation: per budget the ``top`` archs it predicts best, each trained for 16 epochs, and the pick
    under each budget is the best *measured* of its shortlist. ``race``: then, while the cap allows, every shortlisted
    arch still within two standard errors of its budget's leader gets one more 16-epoch seed (racing over seeds, as
    F-race does; the extra seeds are the curves' other seeds, so these replicates share trainings)."""
    out = []
    for seed in [s for s in c.seeds(screen) if s in c.seeds(16)]:
        for k in range(3):
            archs = fraction(k)
            pred, place = fitted_answer(c.rows(archs, seed, screen))
            short = [sorted(t.in_budget(b), key=lambda a: -pred[a])[:top] for b in range(3)]
            runs = {a: [c.at(a, seed, 16)] for s in short for a in s}
            units = t.units([(a, screen) for a in archs]) + t.units(
                [(a, 16) for a in runs if not (screen == 16 and a in archs)]
            )
            extra = [s for s in c.seeds(16) if s != seed]
            while race:
                alive = {a for a in _contenders(short, runs) if len(runs[a]) <= len(extra)}
                cost = t.units([(a, 16) for a in alive])
                if not alive or units + cost > CAP:
                    break
                for a in alive:
                    runs[a].append(c.at(a, extra[len(runs[a]) - 1], 16))
                units += cost
            mean = {a: statistics.fmean(v) for a, v in runs.items()}
            picks = [max(s, key=mean.get) for s in short]
            out.append(t.score(units, pred, place, picks))
    return out


def _contenders(short: list[list[str]], runs: dict[str, list[float]]) -> set[str]:
    """The archs of each budget's shortlist still within two standard errors of its leader, with that leader."""
    mean = {a: statistics.fmean(v) for a, v in runs.items()}
    out: set[str] = set()
    for s in short:
        lead = max(s, key=mean.get)
        close = {
            a
            for a in s
            if a != lead and mean[lead] - mean[a] < 2 * SIGMA / 100 * np.sqrt(1 / len(runs[a]) + 1 / len(runs[lead]))
        }
        out |= close | ({lead} if close else set())
    return out


# --- the run's own rule: run --verify --budget-units, replayed ------------------------------------------------------
def route_sequential(
    t: Truth,
    c: Curves,
    schedule: int,
    cap: float = CAP,
    epsilon: float = 0.5,
    confidence: float = 0.9,
    departures: bool = True,
    end: Curves | None = None,
) -> list[Score]:
    """``run --verify --budget-units`` replayed with its own rule (``seknet.core.decisions``, as
    ``seknet.modes.verify.sequential``): each 3^(4-1) fraction under one seed of ``c``'s ``schedule``-epoch
    trainings, then up to ``decisions.LOOKS`` looks; each decides every budget (each arch's own mean, as verify's
    evidence, see :func:`_decide`; the max-t bound at 1 - (1 - confidence) / LOOKS) and, before the last, trains the
    next seed of every arch in an indifference set whose epsilon is above ``epsilon``, in verify's order
    (``decisions.training_order``), while
    ``cap`` units last (an arch with no seed left in ``c`` is not trained again). The score carries the stated
    epsilon per budget, to be held against the truth (calibration). ``departures``: see :func:`_decide`.

    ``end``: the same trainings read at the end of their 16-epoch schedule, when ``c`` holds early reads of it
    (``Curves.early``). Then, as verify does with ``--verify-continue``, each look first continues the trainings
    of each unsettled budget's pick and strongest challenger to the end (``decisions.continuation_order``; it costs
    the epochs left), and the decisions are of the end's accuracy (``decisions.final_evidence``): a budget is
    unsettled until ``decisions.DRIFTS`` trainings are continued, and a replay that never continues that many states
    the early read's."""
    order = sorted({s for _, s, e in c.acc if e == schedule})
    out = []
    for s0 in c.seeds(schedule):
        for k in range(3):
            runs = {a: [s0] for a in fraction(k)}
            went_on: dict[str, list[int]] = {}  # the trainings continued to the end, by arch
            units = t.units([(a, schedule) for a in runs])
            for look in range(1, decisions.LOOKS + 1):
                made = _decide(t, c, runs, schedule, confidence, departures, _drifts(c, end, went_on, schedule))
                if end is not None and sum(map(len, went_on.values())) < decisions.DRIFTS:  # none settled yet
                    made = [dataclasses.replace(d, epsilon_pp=math.inf) for d in made]
                hinge = decisions.training_order(made, epsilon, {a: len(seeds) for a, seeds in runs.items()})
                if not hinge or look == decisions.LOOKS:
                    break
                going = _to_continue(t, made, epsilon, runs, went_on, 16 - schedule, cap - units) if end else []
                units += t.units([(a, 16 - schedule) for a, _ in going])
                batch = []
                for a in hinge:
                    more = [s for s in [s0, *order] if s not in runs.get(a, []) and (a, s, schedule) in c.acc]
                    if more and units + t.units([(a, schedule)]) <= cap + 1e-9:
                        batch.append((a, more[0]))
                        units += t.units([(a, schedule)])
                if not batch and not going:
                    break
                for a, s in batch:
                    runs.setdefault(a, []).append(s)
                for a, s in going:
                    went_on.setdefault(a, []).append(s)
            made = _decide(t, c, runs, schedule, confidence, departures, _drifts(c, end, went_on, schedule))
            out.append(_scored(t, _rows(c, runs, schedule), units, made, confidence))
    return out


def _scored(t: Truth, rows: list[dict], units: float, made: list, confidence: float) -> Score:
    """A replay of verify's rule scored against ``t``: its picks and stated epsilons (``made``), and the placement
    claims of the fit to its trainings ``rows`` at verify's per-look level."""
    f = factorial.fit(rows, pairs=False)
    level = 1 - (1 - confidence) / decisions.LOOKS
    place = placement_of(f, (len(rows), level, decisions.MARGIN_PP))
    score = t.score(units, predictions(f), place, [d.pick for d in made])
    eps, picks = tuple(d.epsilon_pp for d in made), tuple(d.pick for d in made)
    return dataclasses.replace(score, epsilon=eps, confidence=confidence, picks=picks)


def _to_continue(
    t: Truth, made: list, epsilon: float, runs: dict, went_on: dict, epochs: int, left: float
) -> list[tuple[str, int]]:
    """(arch, seed) of the trainings a look continues for ``epochs`` more (``decisions.continuation_order``; of each
    arch its first training not continued yet), while ``left`` units last."""
    count = {a: len(v) for a, v in went_on.items()}
    out = []
    for a in decisions.continuation_order(made, epsilon, count, {a: len(v) for a, v in runs.items()}):
        if t.units([(b, epochs) for b, _ in out] + [(a, epochs)]) <= left + 1e-9:
            out.append((a, next(s for s in runs[a] if s not in went_on.get(a, []))))
    return out


def _rows(c: Curves, runs: dict[str, list[int]], schedule: int) -> list[dict]:
    return [{"arch": a, "accuracy": c.at(a, s, schedule)} for a, seeds in runs.items() for s in seeds]


def _drifts(c: Curves, end: Curves | None, went_on: dict[str, list[int]], schedule: int) -> dict | None:
    """pp: each continued training's end read minus its early read, by arch (None: the route reads no end)."""
    if end is None:
        return None
    return {a: [100 * (end.at(a, s, 16) - c.at(a, s, schedule)) for s in seeds] for a, seeds in went_on.items()}


def _decide(
    t: Truth,
    c: Curves,
    runs: dict[str, list[int]],
    schedule: int,
    confidence: float,
    departures: bool = True,
    drifts: dict | None = None,
) -> list:
    """The decision under each of the truth's three budgets from the trainings in ``runs``: each arch's own mean
    (``factorial.arch_means``, verify's evidence), or with ``departures`` False the additive fit's predictions alone
    (verify's evidence before the interaction variance; kept as a row of the curve). ``drifts``: of the continued
    trainings (:func:`_drifts`); from two on, the decisions are of the end's accuracy (before, of the early read's,
    as the run states them)."""
    rows = _rows(c, runs, schedule)
    f = factorial.fit(rows, pairs=False)
    if departures:
        m = factorial.arch_means(f, rows, ARCHS)
        mean, cov = m.mean, m.cov
    else:
        mean, cov = factorial.predict(f, ARCHS)
    ev = decisions.Evidence(tuple(ARCHS), mean, cov, f.df)
    macs = {a: float(t.macs[a]) for a in ARCHS}
    ev = (decisions.final_evidence(ev, drifts) if drifts is not None else None) or ev
    return [decisions.decide(ev, macs, b, confidence, looks=decisions.LOOKS) for b in t.budgets]


# --- warm starts, references, real runs ---------------------------------------------------------------------------
def route_warm(t: Truth, w: Curves, epochs: int, screening: dict[int, float]) -> list[Score]:
    """All 81 archs fine-tuned for ``epochs`` from the 81-arch space's supernet of each seed (``truth/warm.csv``), the
    additive fit; compute adds the screening run that trained the supernet (its unit.yaml, by seed)."""
    out = []
    for seed in w.seeds(epochs):
        pred, place = fitted_answer(w.rows(ARCHS, seed, epochs))
        units = screening.get(seed, float("nan")) + t.units([(a, epochs) for a in ARCHS])
        out.append(t.score(units, pred, place))
    return out


def route_in_sample(t: Truth, archs_of: Callable[[int], list[str]], replicates: int) -> list[Score]:
    """Replayed from the truth's own trainings (seeds 0, 1): ``archs_of(k)``'s 16-epoch rows of one truth seed, the
    additive fit to them. In-sample, so optimistic: the seed is half of the mean it is scored against."""
    out = []
    for seed in (0, 1):
        for k in range(replicates):
            archs = set(archs_of(k))
            rows = [r for r in t.rows if int(r["seed"]) == seed and r["arch"] in archs]
            pred, place = fitted_answer(rows)
            out.append(t.score(t.units([(a, 16) for a in archs]), pred, place))
    return out


def route_oracle(t: Truth) -> list[Score]:
    """The truth's own additive fit (both seeds, all 81 archs): the floor of every additive-model route's regret,
    at the truth's cost."""
    pred, place = fitted_answer(t.rows)
    return [t.score(t.units([(r["arch"], 16) for r in t.rows]), pred, place)]


def route_runs(t: Truth, runs: list[Path], screening: bool) -> list[Score]:
    """Runs made for real: the screening's own answer (screening.csv, screening-placement.csv), or the run's final
    one (evaluations.csv, placement.csv); compute from unit.yaml beside the run. A final answer whose decisions.csv
    decides the truth's three budgets (a run of the 81-arch space) is scored by its own picks, with its stated
    epsilon and confidence held against the truth (calibration)."""
    out = []
    for run in runs:
        evals = run / ("screening.csv" if screening and (run / "screening.csv").is_file() else "evaluations.csv")
        name = (
            "screening-placement.csv" if screening and (run / "screening-placement.csv").is_file() else "placement.csv"
        )
        pred = {r["arch"]: float(r["accuracy"]) for r in read_csv(evals)}
        unit = read_yaml(run / "unit.yaml", "run benchmarks/verify_run.py") if (run / "unit.yaml").is_file() else {}
        units = unit.get("screening_units" if screening else "units", float("nan"))
        made = read_csv(run / "decisions.csv") if (run / "decisions.csv").is_file() and not screening else []
        place = read_csv(run / name)
        if [int(float(d["budget"])) for d in made] == t.budgets:
            score = t.score(units, pred, place, [d["pick"] for d in made])
            eps = tuple(float(d["epsilon_pp"]) for d in made)
            out.append(dataclasses.replace(score, epsilon=eps, confidence=float(made[0]["confidence"])))
        else:
            out.append(t.score(units, pred, place))
    return out


def route_random(t: Truth, draws: int = 2000, seed: int = 0) -> list[Score]:
    """The reference every pick must beat: an arch drawn at random under each budget, at no compute (``draws``
    draws of the three picks; the mean regret is a random pick's expected regret)."""
    rng = np.random.default_rng(seed)
    best = [max(t.mean[a] for a in t.in_budget(k)) for k in range(3)]
    out = []
    for _ in range(draws):
        picks = [t.in_budget(k)[rng.integers(len(t.in_budget(k)))] for k in range(3)]
        regret = tuple(100 * (b - t.mean[p]) for b, p in zip(best, picks, strict=True))
        out.append(Score(units=0.0, right=0, wrong=0, tau=0.0, regret=regret, of=len(t.effects)))
    return out


def screening_units(runs: list[Path]) -> dict[int, float]:
    """{seed: the screening's compute} of one-shot run folders measured by verify_run.py."""
    out = {}
    for run in runs:
        cfg = read_yaml(run / "config.yaml", "not a run folder")
        out[int(cfg["config"]["seed"])] = float(
            read_yaml(run / "unit.yaml", "run benchmarks/verify_run.py")["screening_units"]
        )
    return out


def sequential_routes(t: Truth, c: Curves) -> dict[str, list[Score]]:
    """run --verify --budget-units replayed, with verify's evidence and with the additive evidence it had before."""
    r = {}
    c16 = Curves.merged(CURVES, CURVES_S34)
    for departures, how in ((True, "its own rule"), (False, "additive evidence only, the rule before")):
        r[f"run --verify --budget-units {CAP:g} replayed ({how}), 4-epoch trainings, seeds 2/3"] = route_sequential(
            t, c, 4, departures=departures
        )
        r[f"run --verify --budget-units 20 replayed ({how}), 16-epoch trainings, seeds 2/3/4"] = route_sequential(
            t, c16, 16, cap=20.0, departures=departures
        )
    judge = pooled(t, c16, leave_out=(3, 4))  # seeds 0-2: none of the seeds the early reads were trained under
    end = Curves.early(CURVES_S34, 16, "swa_val_correct")  # the same trainings' SWA read at their end
    for epoch, column, what in (
        (8, "ema_val_correct", "EMA"),
        (8, "val_correct", "plain weights"),
        (4, "ema_val_correct", "EMA"),
    ):
        early = Curves.early(CURVES_S34, epoch, column)
        name = f"run --verify --budget-units {CAP:g} replayed (its own rule), {what} at epoch {epoch} of 16"
        r[name + ", contenders continued, seeds 3/4, vs seeds 0-2"] = route_sequential(judge, early, epoch, end=end)
        r[name + ", none continued (the rule before), seeds 3/4, vs seeds 0-2"] = route_sequential(judge, early, epoch)
    return r


def real_routes(t: Truth, args: argparse.Namespace) -> dict[str, list[Score]]:
    """The runs made for real (``--default-runs``, ``--runs``), scored against ``t``, by name."""
    r = {}
    if args.default_runs:
        r["default one-shot run (python search.py, 4,096-arch space)"] = route_runs(t, args.default_runs, False)
    if args.runs:
        r["one-shot run, 81-arch space: the screening alone"] = route_runs(t, args.runs, True)
        r["run --verify, 81-arch space"] = route_runs(t, args.runs, False)
    if r:
        r["reference: a random pick under each budget (2,000 draws)"] = route_random(t)
    return r


def routes(
    t: Truth, c: Curves, w: Curves, loo: list[tuple[int, Truth, Curves]], args: argparse.Namespace
) -> dict[str, list[Score]]:
    """Every route with the data there is for it, by name; ``loo``: the leave-one-seed-out folds (``folds``)."""
    r: dict[str, list[Score]] = {}
    all81, two = (lambda k: ARCHS), (lambda k: fraction(k) + fraction((k + 1) % 3))
    r |= real_routes(t, args)
    for e in (4, 8):
        r[f"81 archs x {e} epochs (complete schedule)"] = route_factorial(t, c, e, None, all81)
        r[f"54 archs (two fractions) x {e} epochs"] = route_factorial(t, c, e, None, two, 3)
        r[f"27 archs (3^(4-1) fraction) x {e} epochs"] = route_factorial(t, c, e, None, fraction, 3)
    for _, tf, cf in loo:  # the 16-epoch ends: each complete seed, scored against all the others
        for name, scores in (
            ("81 archs x 16 epochs, one seed (reference)", route_factorial(tf, cf, 16, None, all81)),
            ("54 archs (two fractions) x 16 epochs", route_factorial(tf, cf, 16, None, two, 3)),
            ("27 archs (fraction) x 16 epochs", route_factorial(tf, cf, 16, None, fraction, 3)),
            ("fraction x 16 epochs + top 2 per budget x 16 epochs, pick by measurement", route_confirm(tf, cf, 16, 2)),
        ):
            r.setdefault(name + LOO, []).extend(scores)
    for e in (4, 8, 10, 12):
        r[f"81 archs x first {e} of 16 epochs (stopped there: ASHA's rung)"] = route_factorial(t, c, 16, e, all81)
    r["81 x 4 epochs + 12 landmarks x 16 (late-gain correction)"] = route_landmarks(t, c, 4, 12, truncated=False)
    for low, marks in ((4, 12), (4, 27), (8, 12), (8, 27)):
        name = f"81 x first {low} epochs, {marks} continued to 16 (ASHA rungs + late-gain correction)"
        r[name] = route_landmarks(t, c, low, marks, truncated=True, draws=5)
    for e in (4, 8):
        r[f"sequential: fraction x {e} epochs + batches of 9 targeted at unresolved contrasts, to {CAP:g} units"] = (
            route_targeted(t, c, e, targeted=True)
        )
        r[f"sequential control: fraction x {e} epochs + batches of 9 at random, to {CAP:g} units"] = route_targeted(
            t, c, e, targeted=False
        )
    for e in (4, 8, 16):
        if e < 16:
            r[f"fraction x {e} epochs + top 2 per budget x 16 epochs, pick by measurement"] = route_confirm(t, c, e, 2)
        r[f"fraction x {e} epochs + top 3 per budget x 16, racing over seeds to {CAP:g} units"] = route_confirm(
            t, c, e, 3, race=True
        )
    r |= sequential_routes(t, c)
    warm = screening_units(args.warm_runs)
    for e in sorted({e for _, _, e in w.acc}):
        r[f"warm start: 81 archs x {e} epochs from the 81-arch supernet (lr {args.warm_lr:g})"] = route_warm(
            t, w, e, warm
        )
    r["replication: the truth's recipe under 2 new seeds (81 x 2 x 16 epochs)"] = route_replication(t, c)
    r["in-sample: 81 archs x 16 epochs, one truth seed"] = route_in_sample(t, all81, 1)
    r["in-sample: 27 archs (each 3^(4-1) fraction) x 16 epochs, one truth seed"] = route_in_sample(t, fraction, 3)
    r["in-sample: 54 archs (two fractions) x 16 epochs, one truth seed"] = route_in_sample(t, two, 3)
    r["oracle: the truth's own additive fit (2 seeds x 81 x 16 epochs)"] = route_oracle(t)
    return {k: v for k, v in r.items() if v}


def power(data: list[tuple[Truth, Curves]], schedule: int, sizes: tuple[int, ...], draws: int = 20) -> list[tuple]:
    """Effects resolved against trainings: ``n`` archs of one seed drawn at random (covering every level), ``draws``
    times per seed; past 81, every arch under one seed plus a random ``n - 81`` under another. ``data``: (truth,
    table) pairs, e.g. the leave-one-seed-out folds. Rows: (n, units, mean right, worst right, share of draws with
    >= 7 right, wrong in all, draws)."""
    out = []
    for n in sizes:
        scores = []
        for t, c in data:
            seeds = c.seeds(schedule)
            for i, seed in enumerate(seeds):
                for d in range(draws if n < 81 or len(seeds) > 1 else 1):
                    if n <= 81:
                        rows = c.rows(covering_sample(n, 1000 * i + d, False) if n < 81 else ARCHS, seed, schedule)
                    elif len(seeds) > 1:
                        more = random.Random(d).sample(ARCHS, n - 81) if n < 162 else ARCHS
                        rows = c.rows(ARCHS, seed, schedule) + c.rows(more, seeds[(i + 1) % len(seeds)], schedule)
                    else:
                        continue
                    pred, place = fitted_answer(rows)
                    scores.append(t.score(t.units([(r["arch"], schedule) for r in rows]), pred, place))
        if scores:
            out.append(
                (
                    n,
                    statistics.fmean(s.units for s in scores),
                    statistics.fmean(s.right for s in scores),
                    min(s.right for s in scores),
                    statistics.fmean(s.right >= 7 for s in scores),
                    sum(s.wrong for s in scores),
                    len(scores),
                )
            )
    return out


def table(results: dict[str, list[Score]], markdown: bool) -> str:
    head = [
        "route",
        "seeds",
        "trainings",
        "resolved right (mean, worst)",
        "wrong claims: resolved / negligible (of negligible made)",
        "tau (mean, worst)",
        "regret pp 25/50/75 % (mean)",
        "regret worst",
        "within 0.5 pp at all 3 budgets",
        "stated epsilon held (rate / confidence)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] if markdown else ["  ".join(head)]
    for name, s in results.items():
        reg = [statistics.fmean(x.regret[i] for x in s) for i in range(3)]
        worst = [max(x.regret[i] for x in s) for i in range(3)]
        cells = [
            name,
            str(len(s)),
            f"{statistics.fmean(x.units for x in s):.1f}",
            f"{statistics.fmean(x.right for x in s):.1f} of {_of(s)} ({min(x.right for x in s)})",
            f"{sum(x.wrong for x in s)} / {sum(x.negligible_wrong for x in s)} ({sum(x.negligible for x in s)})",
            f"{statistics.fmean(x.tau for x in s):.2f} ({min(x.tau for x in s):.2f})",
            " / ".join(f"{v:.2f}" for v in reg),
            " / ".join(f"{v:.2f}" for v in worst),
            f"{statistics.fmean(x.within() for x in s):.2f}",
            _calibration(s),
        ]
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    return "\n".join(lines)


def _calibration(scores: list[Score]) -> str:
    """How often a route's stated "within epsilon of the best" held in the truth, over its budgets and replays, beside
    the confidence it stated (and the mean epsilon); "—" for a route that states none."""
    held = [h for x in scores for h in x.held()]
    if not held:
        return "—"
    eps = statistics.fmean(e for x in scores for e in x.epsilon)
    return f"{statistics.fmean(held):.2f} / {scores[0].confidence:g} (of {len(held)}, mean epsilon {eps:.2f} pp)"


def _of(scores: list[Score]) -> str:
    """The truth's effect count(s) behind ``scores``: e.g. "9", or "9/7/8" over leave-one-seed-out truths."""
    counts = sorted({x.of for x in scores}, reverse=True)
    return "/".join(map(str, counts))


def power_table(rows: list[tuple], schedule: int, markdown: bool) -> str:
    head = ["trainings", "units", "resolved right (mean)", "worst", "share >= 7", "wrong (total)", "draws"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] if markdown else ["  ".join(head)]
    for n, units, mean, worst, share, wrong, draws in rows:
        cells = [
            f"{n} x {schedule} epochs",
            f"{units:.1f}",
            f"{mean:.1f}",
            str(worst),
            f"{share:.2f}",
            str(wrong),
            str(draws),
        ]
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    return "\n".join(lines)


def judge_picks(t: Truth, picks: list[str]) -> str:
    """The regret (pp) of a pick under each of ``t``'s three budgets against ``t``'s best there, in one line: a run
    whose folder is gone is judged again from the picks its record names."""
    unknown = [p for p in picks if p not in t.mean]
    if unknown:
        print(f"--picks: not an arch of the 81-arch space: {' '.join(unknown)}", file=sys.stderr)
        raise SystemExit(2)
    cells = []
    for k, p in enumerate(picks):
        best = max(t.in_budget(k), key=t.mean.get)
        over = "" if t.macs[p] <= t.budgets[k] else " (over the budget)"
        cells.append(f"<= {t.budgets[k]:,} MACs: {p} {100 * (t.mean[best] - t.mean[p]):.2f} pp below {best}{over}")
    return f"against seeds {t.seeds}: " + "; ".join(cells)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, nargs="*", default=[], help="run --verify folders of the 81-arch space")
    p.add_argument(
        "--default-runs",
        type=Path,
        nargs="*",
        default=[],
        help="default one-shot run folders (python -m benchmarks.verify_run --seed K: the 4,096-arch space)",
    )
    p.add_argument(
        "--warm-runs", type=Path, nargs="*", default=[], help="the 81-arch one-shot runs truth/warm.csv started from"
    )
    p.add_argument("--warm-lr", type=float, default=0.05, help="the learning rate warm.csv was trained with (a label)")
    p.add_argument(
        "--picks",
        nargs=3,
        metavar=("P25", "P50", "P75"),
        help="only judge these picks under the 25 / 50 / 75 %% MAC budgets against the truth of every complete seed",
    )
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    t, c, c16 = Truth(), Curves(), Curves.merged(CURVES, CURVES_S34)
    if args.picks:
        print(judge_picks(pooled(t, c16), args.picks))
        return
    print(f"truth: {len(t.effects)} significant effects; budgets (MACs) {t.budgets}")
    loo = folds(t, c16)
    print(f"leave-one-seed-out folds over the complete 16-epoch seeds {[s for s, _, _ in loo]}")
    print(table(routes(t, c, Curves(WARM), loo, args), args.markdown))
    if args.runs or args.default_runs:
        judge = pooled(t, c16)
        print(f"\nthe real runs against the truth of every complete 16-epoch seed {judge.seeds}")
        print(table(real_routes(judge, args), args.markdown))
    for schedule in (4, 8, 16):
        by_fold = schedule == 16 and bool(loo)
        data = [(tf, cf) for _, tf, cf in loo] if by_fold else [(t, c)]
        rows = power(data, schedule, (18, 27, 36, 54, 81, 108, 162))
        if rows:
            fold = f" (leave one seed out: {len(loo)} seeds, each against the others)" if by_fold else ""
            print(f"\nresolution against trainings, {schedule}-epoch schedule{fold}")
            print(power_table(rows, schedule, args.markdown))


if __name__ == "__main__":
    main()

"""The answer curve: every route to the placement answer, its compute against its quality, on the 81-arch space.

Each route is scored against the placement truth (``benchmarks/truth/truth.csv``: the 81 archs of {none, se16,
sk2}^4, 2 seeds, 16 epochs) as ``search.py check`` scores a run: the truth-significant effects it *resolves* (its
own 95 % interval excludes 0) with the right sign and with the wrong sign, Kendall tau over the 81 archs, and the
regret at the 25 / 50 / 75 % MAC quantiles. Compute is in stand-alone 30-epoch trainings of the median-MAC arch.

Routes replayed from stand-alone tables trained under seeds 2, 3, 4, independent of the truth's seeds 0 and 1
(``benchmarks/truth/curves.csv``, ``truth/curves.py``): every epoch of the 16-epoch schedule scored on 8,616
validation images, and complete short schedules. Each route's estimate is the additive model (main effects, as the
truth's) fitted to its trainings; its intervals are that fit's. Compute of a replayed route is the sum over its
trainings of epochs x the arch's seconds per epoch (median of its trainings in truth.csv) / (30 x the median-MAC
arch's). Routes run for real (``--runs``: ``search.py run --space search_space/digits-81.yaml --seed K [--verify]``
folders) are scored from their files, their compute from their wall time beside one stand-alone training
(``benchmarks/verify_run.py`` records it in ``unit.yaml``).

    python benchmarks/answer_curve.py [--runs results/v81-s0 …] [--default-runs results/default-s0 …] [--markdown]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seknet.core import truth  # noqa: E402
from seknet.core.fileio import read_csv, read_yaml  # noqa: E402

TRUTH = ROOT / "benchmarks" / "truth" / "truth.csv"
CURVES = ROOT / "benchmarks" / "truth" / "curves.csv"
LEVELS = ("none", "se16", "sk2")
ARCHS = ["-".join(p) for p in itertools.product(LEVELS, repeat=4)]
SEEDS = (2, 3, 4)  # the curves' seeds: a replayed route's replicates


@dataclass(frozen=True)
class Score:
    """One route on one seed: compute, effects resolved right / wrong (of the truth's significant), tau, regret."""

    units: float
    right: int
    wrong: int
    tau: float
    regret: tuple[float, float, float]


class Truth:
    """The truth table's factorial: per-arch 2-seed means, MACs, the significant effects, the budgets."""

    def __init__(self) -> None:
        rows = self.rows = truth.factorial_rows([r for r in read_csv(TRUTH)], 16)
        self.effects = [e for e in truth.main_effects(truth.fit(rows)) if e.significant]
        self.mean = {a: statistics.fmean(v) for a, v in truth.per_arch(rows).items()}
        self.macs = {r["arch"]: int(r["macs"]) for r in rows}
        self.budgets = [int(np.quantile(list(self.macs.values()), q / 100)) for q in (25, 50, 75)]
        secs: dict[str, list[float]] = {}
        for r in rows:
            secs.setdefault(r["arch"], []).append(float(r["seconds"]) / int(r["epochs"]))
        per_epoch = {a: statistics.median(v) for a, v in secs.items()}
        median_arch = sorted(ARCHS, key=lambda a: (self.macs[a], a))[len(ARCHS) // 2]
        self.epoch_cost = {a: per_epoch[a] / per_epoch[median_arch] for a in ARCHS}  # in median-arch epochs

    def units(self, trainings: list[tuple[str, int]]) -> float:
        """Compute of (arch, epochs) trainings in 30-epoch trainings of the median-MAC arch."""
        return sum(e * self.epoch_cost[a] for a, e in trainings) / 30

    def score(self, units: float, predicted: dict[str, float], place: list[dict]) -> Score:
        """A route's answer (predicted accuracy of every arch; placement rows with significance) against the truth."""
        claims = truth.claims(place, self.effects)
        tau = truth_tau(predicted, self.mean)
        regret = tuple(truth.regret(predicted, self.mean, self.macs, b) for b in self.budgets)
        return Score(units, len(claims["resolved"]), len(claims["wrong"]), tau, regret)


def truth_tau(predicted: dict[str, float], mean: dict[str, float]) -> float:
    from scipy.stats import kendalltau

    common = sorted(set(predicted) & set(mean))
    return float(kendalltau([predicted[a] for a in common], [mean[a] for a in common]).statistic)


def fitted_answer(rows: list[dict]) -> tuple[dict[str, float], list[dict]]:
    """(predicted accuracy of all 81 archs, placement rows) of the additive model fitted to ``rows``
    (arch, accuracy as a fraction); the placement as ``search.py`` writes it (fractions, ``significant``)."""
    f = truth.fit(rows, pairs=False)
    pred = dict(zip(ARCHS, truth.design_matrix(ARCHS, f) @ f.beta / 100, strict=True))
    return pred, placement_of(f)


def placement_of(f: truth.Fit) -> list[dict]:
    """A fit's effects as the placement rows ``search.py`` writes (fractions, ``significant``)."""
    return [
        {
            "stage": e.stage,
            "choice": e.a,
            "vs": e.b,
            "delta_accuracy": e.pp / 100,
            "significant": int(e.significant),
        }
        for e in truth.main_effects(f)
    ]


# --- the stand-alone tables the replayed routes draw from -------------------------------------------------------
class Curves:
    """{(arch, seed, schedule epochs): {epoch: val accuracy}} of benchmarks/truth/curves.csv."""

    def __init__(self) -> None:
        self.acc: dict[tuple[str, int, int], dict[int, float]] = {}
        for r in read_csv(CURVES) if CURVES.is_file() else []:
            key = (r["arch"], int(r["seed"]), int(r["epochs"]))
            self.acc.setdefault(key, {})[int(r["epoch"])] = int(r["val_correct"]) / int(r["val_n"])
        self.acc = {k: v for k, v in self.acc.items() if len(v) == k[2]}  # complete trainings only

    def seeds(self, schedule: int) -> list[int]:
        """The seeds under which all 81 archs were trained on a ``schedule``-epoch schedule."""
        return [s for s in SEEDS if all((a, s, schedule) in self.acc for a in ARCHS)]

    def at(self, arch: str, seed: int, schedule: int, epoch: int | None = None) -> float:
        return self.acc[(arch, seed, schedule)][epoch or schedule]


def fraction(k: int) -> list[str]:
    """The k-th (0, 1, 2) 3^(4-1) fraction of the factorial: level indices summing to k mod 3."""
    return [a for a in ARCHS if sum(LEVELS.index(c) for c in a.split("-")) % 3 == k]


def route_factorial(
    t: Truth, c: Curves, schedule: int, epoch: int | None, archs_of: Callable[[int], list[str]], designs: int = 1
):
    """Train ``archs_of(k)`` (k < ``designs``, e.g. each 3^(4-1) fraction) on a ``schedule``-epoch schedule (read at
    ``epoch``, default its end) under each seed of the curves; the answer is the additive fit."""
    out = []
    for seed in c.seeds(schedule):
        for k in range(designs):
            archs = archs_of(k)
            rows = [{"arch": a, "accuracy": c.at(a, seed, schedule, epoch)} for a in archs]
            pred, place = fitted_answer(rows)
            out.append(t.score(t.units([(a, epoch or schedule) for a in archs]), pred, place))
    return out


def landmark_sample(n: int, draw: int) -> list[str]:
    """``n`` archs that hold every level in every stage (so the late-gain model can be fitted): a 3^(4-1) fraction
    for 27, else the first seeded random sample that covers every level."""
    if n == 27:
        return fraction(draw % 3)
    rng = random.Random(draw)
    while True:
        marks = rng.sample(ARCHS, n)
        if all({a.split("-")[i] for a in marks} == set(LEVELS) for i in range(4)):
            return marks


def route_landmarks(t: Truth, c: Curves, low: int, landmarks: int, truncated: bool, draws: int = 1):
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
            lows = [{"arch": a, "accuracy": c.at(a, seed, 16, low) if truncated else c.at(a, seed, low)} for a in ARCHS]
            marks = landmark_sample(landmarks, k)
            gains = [{"arch": a, "accuracy": c.at(a, seed, 16) - lows[ARCHS.index(a)]["accuracy"]} for a in marks]
            f_low, f_gain = truth.fit(lows, pairs=False), truth.fit(gains, pairs=False)
            beta, cov = f_low.beta + f_gain.beta, f_low.cov + f_gain.cov
            joined = truth.Fit(beta, cov, min(f_low.df, f_gain.df), f_low.levels, False)
            pred = dict(zip(ARCHS, truth.design_matrix(ARCHS, joined) @ beta / 100, strict=True))
            if truncated:
                trainings = [(a, 16 if a in marks else low) for a in ARCHS]
            else:
                trainings = [(a, low) for a in ARCHS] + [(a, 16) for a in marks]
            out.append(t.score(t.units(trainings), pred, placement_of(joined)))
    return out


def route_confirm(t: Truth, c: Curves, top: int) -> list[Score]:
    """Each 3^(4-1) fraction at 16 epochs, then per budget the ``top`` archs the additive fit predicts best trained
    too (those not in the fraction), and the pick under each budget is the best *measured* of them: can measuring
    the predicted front undo what an additive model cannot see (the 25 % budget's interaction)?"""
    out = []
    for seed in c.seeds(16):
        for k in range(3):
            archs = fraction(k)
            pred, place = fitted_answer([{"arch": a, "accuracy": c.at(a, seed, 16)} for a in archs])
            shortlist = [sorted((a for a in ARCHS if t.macs[a] <= b), key=lambda a: -pred[a])[:top] for b in t.budgets]
            measured = {a: c.at(a, seed, 16) for a in archs + [a for s in shortlist for a in s]}
            picks = [max(s, key=measured.__getitem__) for s in shortlist]
            regret = tuple(
                100 * (max(t.mean[a] for a in ARCHS if t.macs[a] <= b) - t.mean[pick])
                for pick, b in zip(picks, t.budgets, strict=True)
            )
            score = t.score(t.units([(a, 16) for a in measured]), pred, place)
            out.append(replace(score, regret=regret))
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
    one (evaluations.csv, placement.csv); compute from unit.yaml beside the run."""
    out = []
    for run in runs:
        evals = run / ("screening.csv" if screening else "evaluations.csv")
        place = read_csv(run / ("screening-placement.csv" if screening else "placement.csv"))
        pred = {r["arch"]: float(r["accuracy"]) for r in read_csv(evals)}
        unit = read_yaml(run / "unit.yaml", "run benchmarks/verify_run.py") if (run / "unit.yaml").is_file() else {}
        units = unit.get("screening_units" if screening else "units", float("nan"))
        out.append(t.score(units, pred, place))
    return out


def routes(t: Truth, c: Curves, runs: list[Path], default_runs: list[Path]) -> dict[str, list[Score]]:
    """Every route with the data there is for it, by name."""
    r: dict[str, list[Score]] = {}
    if default_runs:
        r["default one-shot run (python search.py, 4,096-arch space)"] = route_runs(t, default_runs, screening=False)
    if runs:
        r["one-shot run (default), screening only"] = route_runs(t, runs, screening=True)
        r["one-shot + verify (run --verify)"] = route_runs(t, runs, screening=False)
    r["81 archs x 4 epochs (complete schedule)"] = route_factorial(t, c, 4, None, lambda k: ARCHS)
    r["27 archs (3^(4-1) fraction) x 4 epochs"] = route_factorial(t, c, 4, None, fraction, 3)
    r["81 archs x 16 epochs, one seed (reference)"] = route_factorial(t, c, 16, None, lambda k: ARCHS)
    r["27 archs (fraction) x 16 epochs"] = route_factorial(t, c, 16, None, fraction, 3)
    for e in (4, 8):
        r[f"81 archs x first {e} of 16 epochs (truncated, ASHA's rung)"] = route_factorial(t, c, 16, e, lambda k: ARCHS)
    r["81 x 4 epochs + 12 landmarks x 16 (late-gain correction)"] = route_landmarks(t, c, 4, 12, truncated=False)
    for low, marks in ((4, 12), (4, 27), (8, 12), (8, 27)):
        r[f"81 x first {low} epochs, {marks} continued to 16 (ASHA rungs + late-gain correction)"] = route_landmarks(
            t, c, low, marks, truncated=True, draws=5
        )
    r["27 archs (fraction) x 16 epochs + top 2 per budget measured, pick by measurement"] = route_confirm(t, c, 2)
    r["in-sample: 81 archs x 16 epochs, one truth seed"] = route_in_sample(t, lambda k: ARCHS, 1)
    r["in-sample: 27 archs (each 3^(4-1) fraction) x 16 epochs, one truth seed"] = route_in_sample(t, fraction, 3)
    r["in-sample: 54 archs (two fractions) x 16 epochs, one truth seed"] = route_in_sample(
        t, lambda k: fraction(k) + fraction((k + 1) % 3), 3
    )
    r["oracle: the truth's own additive fit (2 seeds x 81 x 16 epochs)"] = route_oracle(t)
    return {k: v for k, v in r.items() if v}


def table(results: dict[str, list[Score]], n_effects: int, markdown: bool) -> str:
    head = [
        "route",
        "seeds",
        "trainings",
        "resolved right (mean, worst)",
        "resolved wrong (total)",
        "tau (mean, worst)",
        "regret pp 25/50/75 % (mean)",
        "regret worst",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] if markdown else ["  ".join(head)]
    for name, s in results.items():
        reg = [statistics.fmean(x.regret[i] for x in s) for i in range(3)]
        worst = [max(x.regret[i] for x in s) for i in range(3)]
        cells = [
            name,
            str(len(s)),
            f"{statistics.fmean(x.units for x in s):.1f}",
            f"{statistics.fmean(x.right for x in s):.1f} of {n_effects} ({min(x.right for x in s)})",
            str(sum(x.wrong for x in s)),
            f"{statistics.fmean(x.tau for x in s):.2f} ({min(x.tau for x in s):.2f})",
            " / ".join(f"{v:.2f}" for v in reg),
            " / ".join(f"{v:.2f}" for v in worst),
        ]
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(cells))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--runs",
        type=Path,
        nargs="*",
        default=[],
        help="run folders of the 81-arch space (--verify)",
    )
    p.add_argument(
        "--default-runs",
        type=Path,
        nargs="*",
        default=[],
        help="default one-shot run folders (python benchmarks/verify_run.py --seed K: the 4,096-arch space)",
    )
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    t = Truth()
    results = routes(t, Curves(), args.runs, args.default_runs)
    print(f"truth: {len(t.effects)} significant effects; budgets (MACs) {t.budgets}")
    print(table(results, len(t.effects), args.markdown))


if __name__ == "__main__":
    main()

"""What the answer curve replays and scores against: the placement truth, the stand-alone tables, the additive fit.

- :class:`Truth`: the truth table's factorial (``benchmarks/truth/truth.csv``: the 81 archs of {none, se16, sk2}^4,
  2 seeds, 16 epochs, test accuracy): its significant effects, per-arch means, MAC budgets, and what a training
  costs in stand-alone 30-epoch trainings of the median-MAC arch (the unit every route's compute is counted in).
- :class:`Curves`: stand-alone tables trained under other seeds (``truth/curves.py``): every epoch of each schedule
  scored on 8,616 validation images; warm starts from a supernet (``truth/warm.csv``) have the same shape.
- :func:`fitted_answer`: a route's answer from its trainings, the additive model (main effects, as the truth's).
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from seknet.core import decisions, factorial, read_csv, truth

TRUTH = ROOT / "benchmarks" / "truth" / "truth.csv"
CURVES = ROOT / "benchmarks" / "truth" / "curves.csv"
CURVES_S34 = ROOT / "benchmarks" / "truth" / "curves-s34.csv"  # seeds 3 and 4 x 16 epochs (the 5-seed truth's)
WARM = ROOT / "benchmarks" / "truth" / "warm.csv"
LEVELS = ("none", "se16", "sk2")
ARCHS = ["-".join(p) for p in itertools.product(LEVELS, repeat=4)]
CONTRASTS = [(s, a, b) for s in range(4) for a, b in (("se16", "none"), ("sk2", "none"), ("sk2", "se16"))]


@dataclass(frozen=True)
class Score:
    """One route on one seed: compute, effects resolved right / wrong (of the truth's significant), tau, regret."""

    units: float
    right: int
    wrong: int
    tau: float
    regret: tuple[float, float, float]
    of: int  # the truth's significant effects (9 for truth.csv's; a leave-one-seed-out truth may have others)
    epsilon: tuple[float, ...] = ()  # a route that states decisions: its epsilon (pp) per budget, at ``confidence``
    confidence: float | None = None
    negligible: int = 0  # contrasts it claims negligible (|delta| below the margin; routes that state claims)
    negligible_wrong: int = 0  # of the truth's significant effects, those it calls negligible beyond the truth's
    picks: tuple[str, ...] = ()  # a route that states decisions: its pick per budget

    def within(self, pp: float = 0.5) -> bool:
        """Epsilon-success: the pick under every budget lies within ``pp`` of the truth's best there."""
        return all(r <= pp + 1e-9 for r in self.regret)

    def held(self) -> list[bool]:
        """Per budget, whether the stated "within epsilon of the best" holds in the truth (empty: nothing stated)."""
        return [r <= e + 1e-9 for r, e in zip(self.regret, self.epsilon, strict=True)] if self.epsilon else []


class Truth:
    """The truth table's factorial: per-arch 2-seed means, MACs, the significant effects, the budgets."""

    def __init__(self, rows: list[dict] | None = None, epoch_cost: dict[str, float] | None = None) -> None:
        """``rows``: another truth of the same shape (arch, seed, epochs, accuracy, macs, seconds); default
        truth.csv's. ``epoch_cost``: the compute model to keep (e.g. truth.csv's, so that folds count alike)."""
        rows = self.rows = truth.factorial_rows(rows if rows is not None else read_csv(TRUTH), 16)
        self.effects = [e for e in factorial.main_effects(factorial.fit(rows)) if e.significant]
        self.mean = {a: statistics.fmean(v) for a, v in truth.per_arch(rows).items()}
        self.macs = {r["arch"]: int(r["macs"]) for r in rows}
        self.budgets = [int(np.quantile(list(self.macs.values()), q / 100)) for q in (25, 50, 75)]
        secs: dict[str, list[float]] = {}
        for r in rows:
            secs.setdefault(r["arch"], []).append(float(r["seconds"]) / int(r["epochs"]))
        per_epoch = {a: statistics.median(v) for a, v in secs.items()}
        median_arch = sorted(ARCHS, key=lambda a: (self.macs[a], a))[len(ARCHS) // 2]
        self.epoch_cost = epoch_cost or {a: per_epoch[a] / per_epoch[median_arch] for a in ARCHS}  # median-arch epochs

    @property
    def seeds(self) -> list[int]:
        """The seeds this truth's rows were trained with."""
        return sorted({int(r["seed"]) for r in self.rows})

    def units(self, trainings: list[tuple[str, int]]) -> float:
        """Compute of (arch, epochs) trainings in 30-epoch trainings of the median-MAC arch."""
        return sum(e * self.epoch_cost[a] for a, e in trainings) / 30

    def in_budget(self, k: int) -> list[str]:
        """The archs within the k-th budget (25 / 50 / 75 % MAC quantile)."""
        return [a for a in ARCHS if self.macs[a] <= self.budgets[k]]

    def score(self, units: float, predicted: dict[str, float], place: list[dict], picks=None) -> Score:
        """A route's answer (predicted accuracy of every arch; placement rows with significance) against the truth.

        ``picks``: the route's arch under each budget, when it picks by something else than ``predicted`` (e.g. by
        measuring its shortlist); else its best predicted arch under each."""
        claims = truth.claims(place, self.effects)
        tau = truth_tau(predicted, self.mean)
        if picks is None:
            regret = tuple(truth.regret(predicted, self.mean, self.macs, b) for b in self.budgets)
        else:
            regret = tuple(
                100 * (max(self.mean[a] for a in self.in_budget(k)) - self.mean[p]) for k, p in enumerate(picks)
            )
        negligible = sum(p.get("claim") == "negligible" for p in place)
        score = Score(units, len(claims["resolved"]), len(claims["wrong"]), tau, regret, len(self.effects))
        return replace(score, negligible=negligible, negligible_wrong=len(claims["negligible_wrong"]))


def truth_tau(predicted: dict[str, float], mean: dict[str, float]) -> float:
    """Kendall tau between a route's predicted accuracies and the truth's means, over the archs both have."""
    from scipy.stats import kendalltau

    common = sorted(set(predicted) & set(mean))
    return float(kendalltau([predicted[a] for a in common], [mean[a] for a in common]).statistic)


def fitted_answer(rows: list[dict]) -> tuple[dict[str, float], list[dict]]:
    """(predicted accuracy of all 81 archs, placement rows) of the additive model fitted to ``rows``
    (arch, accuracy as a fraction); the placement as ``search.py`` writes it (fractions, ``significant``)."""
    f = factorial.fit(rows, pairs=False)
    return predictions(f), placement_of(f)


def predictions(f: factorial.Fit) -> dict[str, float]:
    """A fit's predicted accuracy (a fraction) of every one of the 81 archs."""
    return dict(zip(ARCHS, factorial.design_matrix(ARCHS, f) @ f.beta / 100, strict=True))


def placement_of(f: factorial.Fit, decide_by: tuple[int, float, float] | None = None) -> list[dict]:
    """A fit's effects as the placement rows ``search.py`` writes (fractions, ``significant``). ``decide_by``
    (trainings, confidence, margin): each row also gets ``run --verify``'s claim (``seknet.core.decisions.claim``)."""
    out = []
    for e in factorial.main_effects(f):
        row = {
            "stage": e.stage,
            "choice": e.a,
            "vs": e.b,
            "delta_accuracy": e.pp / 100,
            "significant": int(e.significant),
        }
        if decide_by is not None:
            row["claim"] = decisions.claim(e.pp, e.se, f.df, *decide_by).kind
        out.append(row)
    return out


class Curves:
    """{(arch, seed, schedule epochs): {epoch: val accuracy}} of a curves table (complete trainings only)."""

    def __init__(self, path: Path | None = CURVES) -> None:
        self.acc: dict[tuple[str, int, int], dict[int, float]] = {}
        self.test: dict[tuple[str, int, int], float] = {}
        for r in read_csv(path) if path is not None and path.is_file() else []:
            key = (r["arch"], int(r["seed"]), int(r["epochs"]))
            self.acc.setdefault(key, {})[int(r["epoch"])] = int(r["val_correct"]) / int(r["val_n"])
            if r["epoch"] == r["epochs"] and r["test_correct"]:
                self.test[key] = int(r["test_correct"]) / int(r["test_n"])
        self.acc = {k: v for k, v in self.acc.items() if len(v) == k[2]}

    @classmethod
    def merged(cls, *paths: Path) -> Curves:
        """One table of several curves tables (e.g. curves.csv and curves-s34.csv)."""
        c = cls(None)
        for path in paths:
            part = cls(path)
            c.acc |= part.acc
            c.test |= part.test
        return c

    def only(self, seed: int, schedule: int) -> Curves:
        """This table's trainings of one ``seed`` on one ``schedule``: a route replayed on it reads nothing else."""
        c = Curves(None)
        c.acc = {k: v for k, v in self.acc.items() if k[1:] == (seed, schedule)}
        c.test = {k: v for k, v in self.test.items() if k[1:] == (seed, schedule)}
        return c

    @classmethod
    def finals(cls, seed: int, accuracy: dict[str, float], schedule: int = 16) -> Curves:
        """A table of final accuracies only: replays the routes that read a schedule's end (an earlier epoch is a
        KeyError, not a copy of the end)."""
        c = cls(None)
        c.acc = {(a, seed, schedule): {schedule: v} for a, v in accuracy.items()}
        return c

    @classmethod
    def early(cls, path: Path, epoch: int, column: str = "ema_val_correct", schedule: int = 16) -> Curves:
        """The ``epoch``-th epoch's read (``column``: the EMA's validation accuracy, or ``val_correct`` for the
        plain weights) of every complete ``schedule``-epoch training of ``path``, as trainings of an ``epoch``-epoch
        schedule: a route replayed on it stops the long recipe at ``epoch`` and pays for ``epoch`` epochs."""
        c, rows = cls(None), read_csv(path) if path.is_file() else []
        done = {(r["arch"], int(r["seed"])) for r in rows if r["epoch"] == r["epochs"] == str(schedule)}
        for r in rows:
            key = (r["arch"], int(r["seed"]))
            if int(r["epochs"]) == schedule and int(r["epoch"]) == epoch and r[column] and key in done:
                c.acc[(*key, epoch)] = {epoch: int(r[column]) / int(r["val_n"])}
        return c

    def seeds(self, schedule: int) -> list[int]:
        """The seeds under which all 81 archs were trained on a ``schedule``-epoch schedule."""
        found = sorted({s for _, s, e in self.acc if e == schedule})
        return [s for s in found if all((a, s, schedule) in self.acc for a in ARCHS)]

    def at(self, arch: str, seed: int, schedule: int, epoch: int | None = None) -> float:
        """Validation accuracy of ``arch`` trained under ``seed`` on a ``schedule``-epoch schedule, after ``epoch``."""
        return self.acc[(arch, seed, schedule)][epoch or schedule]

    def rows(self, archs: list[str], seed: int, schedule: int, epoch: int | None = None) -> list[dict]:
        """Fit rows (arch, accuracy) of ``archs``."""
        return [{"arch": a, "accuracy": self.at(a, seed, schedule, epoch)} for a in archs]


def fraction(k: int) -> list[str]:
    """The k-th (0, 1, 2) 3^(4-1) fraction of the factorial: level indices summing to k mod 3."""
    return factorial.fraction([LEVELS] * 4, k)


def seed_rows(t: Truth, c: Curves) -> dict[int, list[dict]]:
    """{seed: 81 truth rows} of every seed under which all 81 archs were trained on the truth's recipe (16 epochs) and
    tested on its 8,640 test images: truth.csv's 0 and 1, then the curves' (2 in curves.csv, 3 and 4 in
    curves-s34.csv, each once all 81 are there). Rows have truth.csv's shape; the curves' seeds borrow seed 0's
    seconds (every fold keeps truth.csv's compute model anyway). A seed of which truth.csv holds only some archs
    (its seed 2: 3 re-trained archs) is no seed of this truth: the curves' complete seed of that number is."""
    by_seed = {s: [r for r in t.rows if int(r["seed"]) == s] for s in t.seeds}
    by_seed = {s: rows for s, rows in by_seed.items() if {r["arch"] for r in rows} >= set(ARCHS)}
    base = by_seed[min(by_seed)]
    for s in sorted({s for _, s, e in c.test if e == 16} - set(by_seed)):
        if all((a, s, 16) in c.test for a in ARCHS):
            by_seed[s] = [dict(r, seed=str(s), accuracy=str(c.test[(r["arch"], s, 16)])) for r in base]
    return by_seed


def pooled(t: Truth, c: Curves, leave_out: tuple[int, ...] = ()) -> Truth:
    """The truth of every complete 16-epoch seed (:func:`seed_rows`) but ``leave_out``: with seeds 0–4, the 5-seed
    truth (an arch's mean has SE ≈ 0.2 pp, against ≈ 0.32 pp for truth.csv's 2 seeds)."""
    rows = [r for s, rs in seed_rows(t, c).items() if s not in leave_out for r in rs]
    return Truth(rows, t.epoch_cost)


def folds(t: Truth, c: Curves) -> list[tuple[int, Truth, Curves]]:
    """Leave one seed out over every complete 16-epoch seed there is (:func:`seed_rows`: 0 and 1 from truth.csv, 2,
    3 and 4 from the curves as far as trained): for each, the route's data is that seed's 16-epoch accuracies alone
    and the truth is all the other seeds' test accuracies (81 archs x 16 epochs each, as truth.csv's). In a curves
    seed's fold the route reads 8,616 validation images, independent of its truth's test images; in seeds 0's and
    1's it reads the truth's own test images, whose noise (about a third of a training's variance) it then shares
    with the other folds' truths: a little optimistic. ``t``: truth.csv's, whose compute model every fold keeps (a
    single seed's timings are noisy). Empty until a third seed is complete."""
    by_seed = seed_rows(t, c)
    if len(by_seed) < 3:
        return []
    out = []
    for s, rows in by_seed.items():
        judge = Truth([r for u, rs in by_seed.items() if u != s for r in rs], t.epoch_cost)
        if all((a, s, 16) in c.acc for a in ARCHS):
            data = c.only(s, 16)
        else:
            data = Curves.finals(s, {r["arch"]: float(r["accuracy"]) for r in rows})
        out.append((s, judge, data))
    return out

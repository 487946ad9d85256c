"""Placement truth: what a factorial table of stand-alone trainings says, and how far a run's answer agrees with it.

The table (``benchmarks/truth/truth.csv``) holds stand-alone accuracies of archs under several seeds. A linear
model over the factorial (one level per stage, main effects and every two-stage interaction, seeds as
replicates) gives each stage's effect of SE vs none, SK vs none and SK vs SE averaged over the other stages'
levels, with a 95 % interval; a run is then checked against it (:func:`check_run`): do its placement answers
have the signs of the significant effects, how well does it rank the factorial archs (Kendall tau, beside
what one more stand-alone seed would reach), and what accuracy does its pick under a MAC budget give away.
Pure functions over rows (dicts as csv.DictReader gives them); numpy and scipy only.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TRUTH_TYPES = {
    "arch": (str, False),
    "seed": (int, False),
    "epochs": (int, False),
    "accuracy": (float, False),
    "macs": (int, False),
}
KINDS = (
    "none",
    "se",
    "sk",
)  # factorial levels by kind; the choices in them are read from the table


@dataclass(frozen=True)
class Effect:
    """One stage's contrast ``a`` vs ``b`` (e.g. se16 vs none), accuracy in pp, averaged over the other stages."""

    stage: int
    a: str
    b: str
    pp: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes 0."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        mark = "*" if self.significant else " "
        interval = f"[{self.low:+.2f}, {self.high:+.2f}]"
        return f"stage {self.stage}: {self.a:>5} vs {self.b:<5} {self.pp:+6.2f} pp  {interval} {mark}"


def factorial_levels(archs: Sequence[str]) -> list[list[str]]:
    """Per stage, the choices the archs take there (sorted none, se*, sk*)."""
    stages = len(archs[0].split("-"))
    order = {k: i for i, k in enumerate(KINDS)}
    levels = [
        sorted({a.split("-")[s] for a in archs}, key=lambda c: (order[c[:2] if c != "none" else c], c))
        for s in range(stages)
    ]
    return levels


def _design(archs: Sequence[str], levels: list[list[str]], pairs: bool = True) -> np.ndarray:
    """Dummy-coded design (reference: each stage's first level): intercept, main effects, and with ``pairs`` the
    two-stage interactions."""
    cols = []
    choice = [a.split("-") for a in archs]
    ind = {(s, c): np.array([ch[s] == c for ch in choice], float) for s, lv in enumerate(levels) for c in lv[1:]}
    cols.append(np.ones(len(archs)))
    cols.extend(ind.values())
    for s, t in itertools.combinations(range(len(levels)), 2) if pairs else ():
        for c in levels[s][1:]:
            for d in levels[t][1:]:
                cols.append(ind[(s, c)] * ind[(t, d)])
    return np.stack(cols, 1)


@dataclass(frozen=True)
class Fit:
    """OLS fit of the factorial model: coefficients, their covariance, residual df and the levels."""

    beta: np.ndarray
    cov: np.ndarray
    df: int
    levels: list[list[str]]
    pairs: bool = True  # two-stage interactions fitted


def is_complete(rows: Sequence[dict]) -> bool:
    """True when every cell of the factorial (every combination of the levels) has at least one row."""
    archs = {r["arch"] for r in rows}
    return archs >= set(_all_cells(factorial_levels(sorted(archs))))


def fit(rows: Sequence[dict], pairs: bool | None = None) -> Fit:
    """Fit main effects (+ two-stage interactions) to every row's accuracy, seeds as replicates.

    ``pairs`` defaults to :func:`is_complete`: on an unfinished table the interactions are not all estimable,
    and the main effects are then those of the additive model.
    """
    archs = [r["arch"] for r in rows]
    y = np.array([float(r["accuracy"]) for r in rows]) * 100  # pp
    levels = factorial_levels(archs)
    pairs = is_complete(rows) if pairs is None else pairs
    x = _design(archs, levels, pairs)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - np.linalg.matrix_rank(x)
    if df < 1:
        raise ValueError(f"{len(y)} trainings cannot fit {x.shape[1]} terms; train more seeds or archs")
    sigma2 = float(((y - x @ beta) ** 2).sum()) / df
    return Fit(beta, sigma2 * np.linalg.pinv(x.T @ x), int(df), levels, pairs)


def _all_cells(levels: list[list[str]]) -> list[str]:
    return ["-".join(p) for p in itertools.product(*levels)]


def design_matrix(archs: Sequence[str], f: Fit) -> np.ndarray:
    """The rows of ``f``'s design for ``archs`` (which need not have been trained): predictions are ``X @ f.beta``."""
    return _design(archs, f.levels, f.pairs)


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student t quantile of an interval at ``level`` with ``df`` degrees of freedom."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, df))


def contrast(f: Fit, stage: int, a: str, b: str) -> Effect:
    """Effect of ``a`` vs ``b`` in ``stage``, averaged uniformly over the other stages' levels, 95 % t interval."""
    from scipy.stats import t as student_t

    cells = [c.split("-") for c in _all_cells(f.levels) if c.split("-")[stage] == b]
    with_a = ["-".join(c[:stage] + [a] + c[stage + 1 :]) for c in cells]
    with_b = ["-".join(c) for c in cells]
    w = (_design(with_a, f.levels, f.pairs) - _design(with_b, f.levels, f.pairs)).mean(0)
    est, se = float(w @ f.beta), math.sqrt(max(float(w @ f.cov @ w), 0.0))
    half = float(student_t.ppf(0.975, f.df)) * se
    return Effect(stage, a, b, est, est - half, est + half)


def main_effects(f: Fit) -> list[Effect]:
    """Per stage: every non-none level vs none, and SK vs SE for each (SK, SE) pair of levels."""
    out = []
    for s, lv in enumerate(f.levels):
        others = [c for c in lv if c != "none"]
        out.extend(contrast(f, s, c, "none") for c in others if "none" in lv)
        out.extend(contrast(f, s, k, e) for k in others if k.startswith("sk") for e in others if e.startswith("se"))
    return out


def interactions(f: Fit, level: float = 0.05) -> list[tuple[int, int, float]]:
    """(stage s, stage t, p) of the stage pairs whose interaction terms are jointly significant (F test)."""
    from scipy.stats import f as f_dist

    if not f.pairs:
        return []
    n_main = 1 + sum(len(lv) - 1 for lv in f.levels)
    out, k = [], n_main
    for s, t in itertools.combinations(range(len(f.levels)), 2):
        m = (len(f.levels[s]) - 1) * (len(f.levels[t]) - 1)
        b, c = f.beta[k : k + m], f.cov[k : k + m, k : k + m]
        k += m
        stat = float(b @ np.linalg.pinv(c) @ b) / m
        p = float(f_dist.sf(stat, m, f.df))
        if p < level:
            out.append((s, t, p))
    return out


def per_arch(rows: Sequence[dict]) -> dict[str, list[float]]:
    """{arch: [accuracy of each seed]} over the complete rows."""
    out: dict[str, list[float]] = {}
    for r in sorted(rows, key=lambda r: int(r["seed"])):
        out.setdefault(r["arch"], []).append(float(r["accuracy"]))
    return out


def reliability(per_seed: Sequence[Sequence[float]], seeds: float) -> float:
    """r^2 of a ``seeds``-seed mean with the true accuracy: s_b^2 / (s_b^2 + s_w^2 / seeds) (variance components).

    NaN until some arch has two seeds."""
    replicated = [v for v in per_seed if len(v) > 1]
    if not replicated or len(per_seed) < 2:
        return float("nan")  # no seed noise to measure yet
    within = statistics.fmean(statistics.variance(v) for v in replicated)
    between = statistics.variance([statistics.fmean(v) for v in per_seed]) - within / statistics.fmean(
        len(v) for v in per_seed
    )
    return between / (between + within / seeds) if between > 0 else 0.0


def one_seed_replication_tau(per_seed: Sequence[Sequence[float]]) -> float:
    """Expected Kendall tau of one new stand-alone seed per arch against the table's S-seed mean.

    corr(one seed, S-seed mean) = sqrt(r1 * rS) (both share the true accuracy only); tau = 2/pi asin(r).
    """
    s = statistics.fmean(len(v) for v in per_seed)
    r2 = reliability(per_seed, 1) * reliability(per_seed, s)
    return 2 / math.pi * math.asin(math.sqrt(r2)) if r2 == r2 else float("nan")


def seed_vs_seed_tau(per_seed: dict[str, list[float]]) -> float:
    """Mean Kendall tau between two seeds' accuracies over the archs trained under both (every pair of seeds)."""
    from scipy.stats import kendalltau

    n = min(len(v) for v in per_seed.values())
    taus = [
        kendalltau([v[i] for v in per_seed.values()], [v[j] for v in per_seed.values()]).statistic
        for i, j in itertools.combinations(range(n), 2)
    ]
    return statistics.fmean(taus) if taus else float("nan")


def factorial_rows(rows: Sequence[dict], epochs: int | None = None) -> list[dict]:
    """The rows of the full factorial: the archs whose every stage takes one of the table's factorial levels.

    The factorial levels are the choices seen in at least two stages' non-none positions of a multi-attention
    arch; in practice: the truth table's archs other than the single-stage r/M axes (those have three stages at
    none). ``epochs`` keeps the rows of that recipe only.
    """
    rows = [r for r in rows if epochs is None or int(r["epochs"]) == epochs]
    multi = {r["arch"] for r in rows if sum(c != "none" for c in r["arch"].split("-")) >= 2}
    levels = {c for a in multi for c in a.split("-")}
    return [r for r in rows if set(r["arch"].split("-")) <= levels]


def largest_effect_stage(rows: Sequence[dict], epochs: int) -> int:
    """The stage whose largest |SE vs none| or |SK vs none| effect is the largest of all stages."""
    effects = [e for e in main_effects(fit(factorial_rows(rows, epochs))) if e.b == "none"]
    return max(effects, key=lambda e: abs(e.pp)).stage


def _placement_row(place: Sequence[dict], stage: int, choice: str, vs: str) -> dict | None:
    """The run's placement row of ``choice`` vs ``vs`` at ``stage`` (a file without ``vs`` compares with none)."""
    for p in place:
        if (
            int(p["stage"]) == stage
            and p["choice"] == choice
            and p.get("vs", "none") == vs
            and p["delta_accuracy"] != ""
        ):
            return p
    return None


def _placement_delta(place: Sequence[dict], stage: int, choice: str) -> float | None:
    """The run's answer for ``choice`` at ``stage``: its delta_accuracy vs none in pp (0 for none itself)."""
    if choice == "none":
        return 0.0
    p = _placement_row(place, stage, choice, "none")
    return None if p is None else float(p["delta_accuracy"]) * 100


def claims(place: Sequence[dict], effects: Sequence[Effect]) -> dict[str, list[str]]:
    """Which of the truth's significant ``effects`` the run resolves (its own interval for that contrast excludes 0)
    with the truth's sign (``resolved``) and with the other sign (``wrong``). A run whose placement has no interval
    for a contrast (no ``significant`` there) resolves nothing of it."""
    out: dict[str, list[str]] = {"resolved": [], "wrong": []}
    for e in effects:
        p = _placement_row(place, e.stage, e.a, e.b)
        if p is None or str(p.get("significant", "")) != "1":
            continue
        d = float(p["delta_accuracy"]) * 100
        out["resolved" if d * e.pp > 0 else "wrong"].append(f"{e} and the run says {d:+.2f} pp, resolved")
    return out


def regret(scores: dict[str, float], truth: dict[str, float], macs: dict[str, int], budget: int) -> float:
    """pp the run's first pick under ``budget`` (by its own ``scores``) loses to the truth's best under it; nan when
    the run scored no truth arch under it (e.g. a ``--verify`` run whose reduced levels are not the truth's)."""
    fits = [a for a in truth if macs[a] <= budget and a in scores]
    if not fits:
        return float("nan")
    pick = max(fits, key=lambda a: (scores[a], -macs[a]))
    return 100 * (max(truth[a] for a in fits) - truth[pick])


def check_run(truth_rows: Sequence[dict], run_rows: Sequence[dict], place: Sequence[dict]) -> dict:
    """How a run agrees with the truth table: placement signs, Kendall tau over the factorial archs, regret.

    ``truth_rows``: the factorial rows of the table; ``run_rows``: the run's evaluations.csv; ``place``: its
    placement.csv. Returns agree (k: signs right), effects (K), disagreements (list of str), resolved and wrong (the
    effects the run resolves in its own intervals with the right and the wrong sign), tau, one_seed_tau, regret_pp
    ({quantile: pp}).
    """
    from scipy.stats import kendalltau

    f = fit(truth_rows)
    significant = [e for e in main_effects(f) if e.significant]
    wrong = []
    for e in significant:
        a, b = _placement_delta(place, e.stage, e.a), _placement_delta(place, e.stage, e.b)
        if a is None or b is None or (a - b) * e.pp <= 0:
            run_says = "no answer" if a is None or b is None else f"{a - b:+.2f} pp"
            wrong.append(f"{e} but the run says {run_says}")
    seeds = per_arch(truth_rows)
    truth = {a: statistics.fmean(v) for a, v in seeds.items()}
    scores = {r["arch"]: float(r["accuracy"]) for r in run_rows if r["arch"] in truth and r["accuracy"] != ""}
    common = sorted(scores)
    tau = (
        float(kendalltau([scores[a] for a in common], [truth[a] for a in common]).statistic)
        if len(common) > 1
        else float("nan")
    )
    macs = {r["arch"]: int(r["macs"]) for r in truth_rows}
    qs = {q: int(np.quantile([macs[a] for a in truth], q / 100)) for q in (25, 50, 75)}
    return {
        "effects": len(significant),
        "agree": len(significant) - len(wrong),
        "disagreements": wrong,
        "resolved": claims(place, significant)["resolved"],
        "wrong": claims(place, significant)["wrong"],
        "tau": tau,
        "archs": len(common),
        "one_seed_tau": one_seed_replication_tau(list(seeds.values())),
        "regret_pp": {q: regret(scores, truth, macs, b) for q, b in qs.items()},
        "budgets": qs,
    }


def format_checks(checks: dict[str, dict]) -> str:
    """The printed check: one block per run, then the mean and the worst over runs."""
    lines = []
    for run, c in checks.items():
        reg = ", ".join(f"{q} %: {v:.2f}" for q, v in c["regret_pp"].items())
        lines.append(
            f"{run}: resolves {len(c['resolved'])} of {c['effects']} significant effects with the right sign, "
            f"{len(c['wrong'])} with the wrong one; signs of {c['agree']} agree; Kendall tau "
            f"{c['tau']:.3f} over {c['archs']} archs (one new stand-alone seed: {c['one_seed_tau']:.3f}); "
            f"regret pp at MAC quantiles {reg}"
        )
        lines += [f"    wrong sign: {d}" for d in c["disagreements"]]
        lines += [f"    RESOLVED WRONG: {d}" for d in c["wrong"]]
    if len(checks) > 1:
        cs = list(checks.values())
        taus, agree = [c["tau"] for c in cs], [c["agree"] for c in cs]
        reg = {q: statistics.fmean(c["regret_pp"][q] for c in cs) for q in cs[0]["regret_pp"]}
        res, wrong = [len(c["resolved"]) for c in cs], [len(c["wrong"]) for c in cs]
        lines.append(
            f"resolved: mean {statistics.fmean(res):.1f} (worst {min(res)}); resolved with the wrong sign: "
            f"{sum(wrong)} in all"
        )
        lines.append(
            f"mean over {len(cs)} runs: tau {statistics.fmean(taus):.3f} (worst {min(taus):.3f}); agree "
            f"{statistics.fmean(agree):.1f} of {cs[0]['effects']} (worst {min(agree)}); mean regret pp "
            + ", ".join(f"{q} %: {v:.2f}" for q, v in reg.items())
        )
    return "\n".join(lines)

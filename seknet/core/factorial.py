"""Factorial designs over attention placements: levels, fractions, the linear model and its contrasts.

A factorial gives every stage a few levels (choices, e.g. none / se16 / sk2) and holds their combinations (3^4 = 81
archs). Stand-alone accuracies of some of them, seeds as replicates, are fitted by least squares to main effects
(and, with ``pairs``, every two-stage interaction); a stage's contrast ``a`` vs ``b`` is the fitted difference
averaged uniformly over the other stages' levels, with a Student t interval. Which contrasts a stage has is one rule
(:func:`contrasts`): every choice vs none, then each conv-slot choice (SK) vs each attention-slot choice (SE), the
slots read from the attention registry. The screening's placement, ``run --verify``, the truth check and the
benchmarks all use these functions. Pure functions over rows (dicts as csv.DictReader gives them); no torch.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seknet.core.attention import KINDS, SEPARATOR, Choice, stage_names, with_choice


@dataclass(frozen=True)
class Effect:
    """One stage's contrast ``a`` vs ``b`` (e.g. se16 vs none), accuracy in pp, averaged over the other stages."""

    stage: int
    a: str
    b: str
    pp: float
    low: float
    high: float
    se: float = math.nan  # the standard error of ``pp``

    @property
    def significant(self) -> bool:
        """The 95 % interval excludes 0."""
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        mark = "*" if self.significant else " "
        interval = f"[{self.low:+.2f}, {self.high:+.2f}]"
        return f"stage {self.stage}: {self.a:>5} vs {self.b:<5} {self.pp:+6.2f} pp  {interval} {mark}"


@dataclass(frozen=True)
class Fit:
    """OLS fit of the factorial model: coefficients, their covariance, residual df and the levels."""

    beta: np.ndarray
    cov: np.ndarray
    df: int
    levels: list[list[str]]
    pairs: bool = True  # two-stage interactions fitted
    sigma2: float = float("nan")  # residual variance of one training (pp^2): the noise the fit measured itself

    @property
    def sigma(self) -> float:
        """The residual standard deviation of one training, pp."""
        return math.sqrt(self.sigma2)


def level_order(choice: str) -> tuple[int, str]:
    """Sort key of a stage's levels: none first, then the kinds in registry order (se, sk, ...), then the name."""
    kind = Choice.parse(choice).kind
    order = list(KINDS)
    return (0 if kind == "none" else 1 + order.index(kind), choice)


def levels_of(archs: Sequence[str]) -> list[list[str]]:
    """Per stage, the choices the archs take there (sorted by :func:`level_order`)."""
    names = [stage_names(a) for a in archs]
    return [sorted({n[s] for n in names}, key=level_order) for s in range(len(names[0]))]


def cells(levels: Sequence[Sequence[str]]) -> list[str]:
    """Every arch of the factorial of ``levels``, in lexicographic order of the level indices."""
    return [SEPARATOR.join(p) for p in itertools.product(*levels)]


def fraction(levels: Sequence[Sequence[str]], k: int = 0) -> list[str]:
    """The k-th (0, 1, 2) regular 3^(n-1) fraction of a factorial with 3 levels per stage: the archs whose level
    indices sum to k mod 3 (every main effect estimable, each level of a stage against each of another's once)."""
    if any(len(lv) != 3 for lv in levels):
        raise ValueError(f"a 3^(n-1) fraction needs 3 levels per stage, got {[len(lv) for lv in levels]}")
    return [a for a in cells(levels) if sum(levels[i].index(c) for i, c in enumerate(stage_names(a))) % 3 == k]


def reduce(archs: Sequence[str], levels: Sequence[Sequence[str]], cap: int | None, seed: int) -> list[str]:
    """At most ``cap`` of ``archs`` (a factorial's cells, some maybe pruned by a budget): all when they fit, else the
    0-th :func:`fraction`'s cells among them when every stage has 3 levels and they fit, else a seeded sample (kept in
    ``archs``' order)."""
    archs = list(archs)
    if cap is None or len(archs) <= cap:
        return archs
    if all(len(lv) == 3 for lv in levels):
        keep = set(fraction(levels))
        chosen = [a for a in archs if a in keep]
        if len(chosen) <= cap:
            return chosen
    return sorted(random.Random(seed).sample(archs, cap), key=archs.index)


def contrasts(choices: Sequence[str]) -> list[tuple[str, str]]:
    """The (choice, vs) contrasts of a stage: every choice vs none, then each conv-slot choice vs each attention-slot
    choice (SK vs SE), the slots as the attention registry gives them."""
    slot = {c: Choice.parse(c).slot for c in choices}
    return [(c, "none") for c in choices] + [
        (k, e) for k in choices for e in choices if slot[k] == "conv" and slot[e] == "attn"
    ]


def design(archs: Sequence[str], levels: Sequence[Sequence[str]], pairs: bool = True) -> np.ndarray:
    """Dummy-coded design (reference: each stage's first level): intercept, main effects, and with ``pairs`` the
    two-stage interactions."""
    names = [stage_names(a) for a in archs]
    ind = {(s, c): np.array([n[s] == c for n in names], float) for s, lv in enumerate(levels) for c in lv[1:]}
    cols = [np.ones(len(archs)), *ind.values()]
    for s, t in itertools.combinations(range(len(levels)), 2) if pairs else ():
        cols.extend(ind[(s, c)] * ind[(t, d)] for c in levels[s][1:] for d in levels[t][1:])
    return np.stack(cols, 1)


def is_complete(rows: Sequence[dict]) -> bool:
    """True when every cell of the factorial (every combination of the levels) has at least one row."""
    archs = {r["arch"] for r in rows}
    return archs >= set(cells(levels_of(sorted(archs))))


def fit(rows: Sequence[dict], pairs: bool | None = None) -> Fit:
    """Fit main effects (+ two-stage interactions) to every row's accuracy (a fraction), seeds as replicates.

    ``pairs`` defaults to :func:`is_complete`: on an unfinished table the interactions are not all estimable, and
    the main effects are then those of the additive model. Raises ValueError when no residual is left.
    """
    archs = [r["arch"] for r in rows]
    y = np.array([float(r["accuracy"]) for r in rows]) * 100  # pp
    levels = levels_of(archs)
    pairs = is_complete(rows) if pairs is None else pairs
    x = design(archs, levels, pairs)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    df = len(y) - np.linalg.matrix_rank(x)
    if df < 1:
        raise ValueError(f"{len(y)} trainings cannot fit {x.shape[1]} terms; train more seeds or archs")
    sigma2 = float(((y - x @ beta) ** 2).sum()) / df
    return Fit(beta, sigma2 * np.linalg.pinv(x.T @ x), int(df), levels, pairs, sigma2)


def design_matrix(archs: Sequence[str], f: Fit) -> np.ndarray:
    """The rows of ``f``'s design for ``archs`` (which need not have been trained): predictions are ``X @ f.beta``."""
    return design(archs, f.levels, f.pairs)


def predict(f: Fit, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(predicted accuracy in pp of each of ``archs`` under the fit, the covariance of those predictions)."""
    x = design_matrix(archs, f)
    return x @ f.beta, x @ f.cov @ x.T


@dataclass(frozen=True)
class ArchMeans:
    """Each arch's own mean accuracy (pp) under ``y = x_a @ beta + delta_a + e``: the additive fit, plus an arch's
    departure ``delta_a ~ N(0, tau2)`` from it (the interactions the main effects miss), plus the seed noise
    ``e ~ N(0, sigma2)`` of one training. A trained arch's mean is its additive prediction moved toward its measured
    mean by ``w = tau2 / (tau2 + sigma2 / n)`` (the best linear unbiased predictor); an untrained arch keeps its
    prediction with the whole ``tau2`` added to its variance, so a decision cannot separate archs the model only
    extrapolates to by more than the model's own error."""

    mean: np.ndarray  # (K,) pp, in the order of the archs asked for
    cov: np.ndarray  # (K, K) pp^2
    tau2: float  # pp^2: the interaction variance (0: the additive model holds)
    sigma2: float  # pp^2: one training's seed noise, from the archs trained more than once (nan: none was)


def arch_means(f: Fit, rows: Sequence[dict], archs: Sequence[str]) -> ArchMeans:
    """:class:`ArchMeans` of ``archs`` from the additive fit ``f`` to ``rows`` (arch, accuracy as a fraction; archs
    trained more than once give sigma2 apart from tau2). Moments: ``tau2 = max(0, s2 - sigma2 * mean(1 / n_a))`` with
    ``s2`` the variance of the trained archs' means around the fit; with no replicate the whole of ``s2`` is taken as
    tau2 (it may be noise: the conservative reading) and no arch's mean moves off its prediction."""
    by_arch: dict[str, list[float]] = {}
    for r in rows:
        by_arch.setdefault(r["arch"], []).append(float(r["accuracy"]) * 100)
    trained = list(by_arch)
    xt = design_matrix(trained, f)
    resid = np.array([np.mean(by_arch[a]) for a in trained]) - xt @ f.beta
    n = np.array([len(by_arch[a]) for a in trained], dtype=float)
    spread = len(trained) - np.linalg.matrix_rank(xt)
    s2 = float(resid @ resid) / spread if spread > 0 else f.sigma2
    df_within = int((n - 1).sum())
    if df_within >= 2:
        sigma2 = sum(((np.array(v) - np.mean(v)) ** 2).sum() for v in by_arch.values()) / df_within
        tau2 = max(0.0, s2 - sigma2 * float(np.mean(1 / n)))
    else:
        sigma2, tau2 = float("nan"), s2
    moves = df_within >= 2 and tau2 > 0
    w_of = {a: tau2 / (tau2 + sigma2 / k) if moves else 0.0 for a, k in zip(trained, n, strict=True)}
    move = dict(zip(trained, resid, strict=True))
    w = np.array([w_of.get(a, 0.0) for a in archs])
    x = design_matrix(archs, f)
    mean = x @ f.beta + w * np.array([move.get(a, 0.0) for a in archs])
    shrink = (1 - w)[:, None] * x
    cov = shrink @ f.cov @ shrink.T + np.diag((1 - w) * tau2)
    return ArchMeans(mean, cov, tau2, sigma2)


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student t quantile of an interval at ``level`` with ``df`` degrees of freedom."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, df))


def contrast_vector(f: Fit, stage: int, a: str, b: str) -> np.ndarray:
    """w with ``w @ f.beta`` = the contrast ``a`` vs ``b`` at ``stage``, averaged uniformly over the other stages'
    levels."""
    with_b = [c for c in cells(f.levels) if stage_names(c)[stage] == b]
    with_a = [with_choice(c, stage, a) for c in with_b]
    return (design_matrix(with_a, f) - design_matrix(with_b, f)).mean(0)


def contrast(f: Fit, stage: int, a: str, b: str) -> Effect:
    """Effect of ``a`` vs ``b`` in ``stage``, averaged uniformly over the other stages' levels, 95 % t interval."""
    w = contrast_vector(f, stage, a, b)
    est, se = float(w @ f.beta), math.sqrt(max(float(w @ f.cov @ w), 0.0))
    half = t_quantile(f.df) * se
    return Effect(stage, a, b, est, est - half, est + half, se)


def main_effects(f: Fit) -> list[Effect]:
    """Per stage, every :func:`contrasts` pair of its levels: each choice vs none, then SK vs SE."""
    return [contrast(f, s, a, b) for s, lv in enumerate(f.levels) for a, b in contrasts(lv) if a != b and b in lv]


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

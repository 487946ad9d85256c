"""Decisions the evidence allows: the pick under a budget, the archs it cannot be told from, and how far from the best
it can be, at a stated confidence; and for each placement effect, resolved, negligible or unresolved.

The evidence is an estimate of every arch's accuracy (pp) with the covariance of those estimates and its degrees of
freedom (e.g. the factorial fit of ``run --verify``'s stand-alone trainings, whose residual is the run's own
measure of the training noise). Under a budget:

- the **pick** is the arch with the highest estimate (the cheaper one on a tie);
- its **epsilon** is the upper confidence bound of ``max_j mu_j - mu_pick``: multiple comparisons with the best (Hsu,
  "Constrained simultaneous confidence intervals for multiple comparisons with the best", Ann. Statist. 1984): with
  ``q`` the ``confidence`` quantile of ``max_j (D_j - d_j) / se_j`` over the contrasts ``d_j = mu_j - mu_pick``
  (simulated from the estimates' joint t distribution, so it is simultaneous over every arch of the budget),
  ``epsilon = max(0, max_j (d_j + q se_j))``. "The pick is within epsilon pp of the best arch under this budget"
  then holds with probability at least ``confidence``;
- the **indifference set** is the pick and every arch ``j`` whose interval ``d_j + q se_j`` reaches 0 (equivalently
  the archs that may be the best: Hsu's subset selection).

A placement effect ``delta`` (pp) with standard error ``se`` and ``df`` is **resolved** when its two-sided
``confidence`` interval excludes 0, **negligible** when the two one-sided tests at level ``(1 - confidence) / 2``
both reject ``|delta| >= margin`` (TOST: Schuirmann 1987, i.e. the interval lies inside ``(-margin, margin)``), and
**unresolved** otherwise; then :func:`trainings_needed` says how many trainings of the same design would settle it
at the current estimate (the standard error shrinks as one over the root of the trainings).

Pure functions of numpy arrays; no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.9  # the stated confidence of every decision unless the run asks for another
MARGIN_PP = 0.25  # |delta| below this is negligible (pp)
DRAWS = 20_000  # simulation draws of the max-t quantile (seeded: the same evidence gives the same decision)
LOOKS = 8  # sequential verification: the most looks at the evidence; the confidence is split over them
DRIFTS = 3  # the fewest continued trainings whose drifts' spread the end of a schedule is bounded with


@dataclass(frozen=True)
class Evidence:
    """Accuracy estimates of ``archs`` (pp), their covariance (pp^2) and its degrees of freedom (``math.inf``: the
    covariance is known, e.g. binomial noise on a large evaluation set)."""

    archs: tuple[str, ...]
    mean: np.ndarray  # (K,)
    cov: np.ndarray  # (K, K)
    df: float = math.inf

    def __post_init__(self) -> None:
        k = len(self.archs)
        if self.mean.shape != (k,) or self.cov.shape != (k, k):
            raise ValueError(f"evidence of {k} archs needs a mean of shape ({k},) and a covariance ({k}, {k})")


@dataclass(frozen=True)
class Decision:
    """One budget's decision: the pick, its epsilon (pp) at ``confidence``, and the archs it cannot be told from."""

    budget: float
    pick: str
    epsilon_pp: float
    confidence: float
    indifference: tuple[str, ...]  # the pick first, then the others by decreasing estimate


def decide(
    ev: Evidence, cost: dict[str, float], budget: float, confidence: float = CONFIDENCE, seed: int = 0, looks: int = 1
):
    """The :class:`Decision` under ``budget`` (``cost[arch] <= budget``), or None when no arch fits.

    ``looks``: how many times the evidence may be looked at before stopping (sequential verification): each look's
    bound is taken at ``1 - (1 - confidence) / looks`` (Bonferroni over the looks), so the stated ``confidence``
    still holds for whichever look the run stops at (optional stopping)."""
    level = 1 - (1 - confidence) / looks
    idx = [i for i, a in enumerate(ev.archs) if cost[a] <= budget]
    if not idx:
        return None
    pick = max(idx, key=lambda i: (ev.mean[i], -cost[ev.archs[i]]))
    others = [i for i in idx if i != pick]
    if not others:
        return Decision(budget, ev.archs[pick], 0.0, confidence, (ev.archs[pick],))
    w = np.zeros((len(others), len(ev.archs)))  # rows: contrasts mu_j - mu_pick
    w[np.arange(len(others)), others] = 1.0
    w[:, pick] -= 1.0
    d, cov = w @ ev.mean, w @ ev.cov @ w.T
    se = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    q = max_t_quantile(cov / np.outer(se, se), ev.df, level, seed)
    upper = d + q * se
    epsilon = max(0.0, float(upper.max()))
    tied = sorted((j for j, u in zip(others, upper, strict=True) if u >= 0), key=lambda j: -ev.mean[j])
    return Decision(budget, ev.archs[pick], epsilon, confidence, (ev.archs[pick], *(ev.archs[j] for j in tied)))


def final_evidence(ev: Evidence, drifts: Mapping[str, Sequence[float]]) -> Evidence | None:
    """Evidence of each arch's accuracy at the end of its schedule, from ``ev`` (evidence of an early read, e.g. the
    EMA after epoch 8 of 16) and the ``drifts`` (pp: the end-of-schedule read minus the early read of the same
    training) of the trainings continued to the end, by arch; None when fewer than ``DRIFTS`` were continued (their
    spread is not measured yet: with two, the bound held 0.885 of 200 draws at a stated 0.9 in the test with a
    planted bias, whose contenders, the top by their early read, are those with the least bias; with three, 0.97).

    The end accuracy of arch ``a`` is its early read's plus a drift ``D_a``. Every arch is moved by the mean drift
    of the ``k`` continued trainings, so the picks stay the early read's, and its variance gains ``s2``, the drifts'
    variance over those trainings (plus ``s2 / k``, the mean's, shared by all): an arch's own drift may lie as far
    from the mean as a training's, the conservative reading (it counts a drift's training noise as the arch's too).
    A continued arch is not moved by its own drift: replayed on the digits truth that gave worse picks, 0.1-0.3 pp
    more regret (benchmarks/README.md, "Continued contenders"). The early read's noise and a drift's are taken as
    independent (on the digits truth they correlate negatively, -0.2 to -0.7, so this overstates the end's
    variance). The degrees of freedom are Welch-Satterthwaite's for the sum of the two variances, the least over
    the archs, from ``ev.df`` and ``k - 1``."""
    every = np.array([d for v in drifts.values() for d in v], dtype=float)
    k = len(every)
    if k < DRIFTS:
        return None
    s2 = float(every.var(ddof=1))
    n = len(ev.archs)
    cov = ev.cov + np.eye(n) * s2 + np.full((n, n), s2 / k)
    early = np.maximum(np.diag(ev.cov), 1e-12)
    df = min(_satterthwaite((v, ev.df), (s2, k - 1)) for v in early.tolist())
    return Evidence(ev.archs, ev.mean + float(every.mean()), cov, df)


def _satterthwaite(*parts: tuple[float, float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance estimates ``(variance, df)``."""
    spread = sum(v**2 / d for v, d in parts if v > 0)
    return sum(v for v, _ in parts) ** 2 / spread if spread > 0 else math.inf


def max_t_quantile(corr: np.ndarray, df: float, level: float, seed: int = 0, draws: int = DRAWS) -> float:
    """The ``level`` quantile of ``max_j T_j`` for T multivariate t with correlation ``corr`` and ``df`` (normal when
    infinite), by seeded simulation (one-sided: the upper bounds of several contrasts hold together)."""
    rng = np.random.default_rng(seed)
    k = len(corr)
    vals, vecs = np.linalg.eigh((corr + corr.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))  # corr = root @ root.T, also when singular
    z = rng.standard_normal((draws, k)) @ root.T
    if math.isfinite(df):
        z /= np.sqrt(rng.chisquare(df, size=(draws, 1)) / df)
    return float(np.quantile(z.max(axis=1), level))


@dataclass(frozen=True)
class Claim:
    """What the evidence says of one effect: ``resolved`` (with its sign), ``negligible`` or ``unresolved``, and for
    an unresolved one the trainings the same design would need to settle it (``needed``)."""

    kind: str
    low: float
    high: float
    needed: float = math.nan


def claim(delta: float, se: float, df: float, trainings: int, confidence: float = CONFIDENCE, margin=MARGIN_PP):
    """The :class:`Claim` of an effect ``delta`` (pp) with standard error ``se`` on ``df`` degrees of freedom, from
    ``trainings`` trainings; ``(low, high)`` is its two-sided ``confidence`` interval."""
    t = _t(df, 0.5 + confidence / 2)
    low, high = delta - t * se, delta + t * se
    if low > 0 or high < 0:
        return Claim("resolved", low, high)
    if -margin < low and high < margin:
        return Claim("negligible", low, high)
    return Claim("unresolved", low, high, trainings_needed(delta, se, trainings, t, margin))


def image_interval(
    mean: float, sd: float, n: int, seed_spread: float | None = None, confidence: float = CONFIDENCE, margin=MARGIN_PP
) -> dict:
    """A one-supernet contrast measured as the mean of ``n`` per-image differences (``mean``, their SD ``sd``, as
    fractions): ``delta_low``, ``delta_high`` and ``significant`` (95 %) with the image noise and ``seed_spread`` (pp,
    an SD of the gain between supernets; None: not measured) in quadrature, and its :func:`claim` at ``confidence``
    and ``margin``, which needs the seed spread: without it the contrast stays ``unresolved``."""
    if n < 2:
        return {}
    se = math.sqrt(sd**2 / n + ((seed_spread or 0.0) / 100) ** 2)
    lo, hi = mean - 1.96 * se, mean + 1.96 * se
    out = {"delta_low": round(lo, 5), "delta_high": round(hi, 5), "significant": int(lo > 0 or hi < 0)}
    if seed_spread is None:
        return out | {"claim": "unresolved", "trainings_needed": ""}
    c = claim(mean * 100, se * 100, math.inf, 1, confidence, margin)  # one supernet
    return out | {"claim": c.kind, "trainings_needed": "" if math.isnan(c.needed) else c.needed}


def trainings_needed(delta: float, se: float, trainings: int, t: float, margin: float = MARGIN_PP) -> float:
    """Trainings of the same design that would resolve ``delta`` (``|delta| > t se``) or show it negligible
    (``|delta| + t se < margin``), whichever is fewer, if the estimate stayed where it is and ``se`` shrank as
    ``1 / sqrt(trainings)``; infinite when ``delta`` is 0 and the margin is 0."""
    options = []
    if abs(delta) > 0:
        options.append(trainings * (t * se / abs(delta)) ** 2)
    if abs(delta) < margin:
        options.append(trainings * (t * se / (margin - abs(delta))) ** 2)
    return float(math.ceil(min(options))) if options else math.inf


def _t(df: float, p: float) -> float:
    from scipy.stats import norm, t

    return float(norm.ppf(p)) if not math.isfinite(df) else float(t.ppf(p, df))


def quantile_budgets(costs: Sequence[float], quantiles: Sequence[int] = (25, 50, 75)) -> list[float]:
    """The budgets at the ``quantiles`` (%) of ``costs``: the searched space's MAC quartiles, as ``check`` uses."""
    return [float(np.quantile(list(costs), q / 100)) for q in quantiles]


def training_units(epochs: int, macs: float, median_macs: float) -> float:
    """Compute of one stand-alone training in units: 30-epoch trainings of the median-MAC arch (the answer curve's
    unit), an epoch's cost taken as proportional to the arch's MACs."""
    return epochs / 30 * macs / median_macs


def training_order(decisions: Sequence[Decision], epsilon: float, trained: Mapping[str, int]) -> list[str]:
    """The archs a decision still hinges on (the indifference sets of the budgets whose epsilon exceeds the target;
    empty when every budget is settled), in the order sequential verification trains their next seed: the
    least-trained first (``trained``: an arch's trainings so far) and, among equals, the one nearest the top of an
    unsettled budget's indifference set (the pick, then the others by decreasing estimate), so that the untrained
    challengers most likely to beat a pick are measured before the long tail."""
    rank: dict[str, int] = {}
    for d in decisions:
        if d.epsilon_pp > epsilon:
            for i, a in enumerate(d.indifference):
                rank[a] = min(rank.get(a, i), i)
    return sorted(rank, key=lambda a: (trained.get(a, 0), rank[a], a))


def continuation_order(
    decisions: Sequence[Decision],
    epsilon: float,
    continued: Mapping[str, int],
    trained: Mapping[str, int],
    top: int = 2,
) -> list[str]:
    """The archs whose next training sequential verification continues to the end of its schedule, when it reads
    the trainings early: in each budget whose epsilon exceeds the target, the first ``top`` archs of its indifference
    set (the pick and its strongest challenger) that have a training not yet continued (``trained`` and
    ``continued``: an arch's trainings, and those of them continued), each once, in the budgets' order. Their drifts
    measure how far the early read departs from the end (:func:`final_evidence`), where the picks hinge."""
    out: list[str] = []
    for d in decisions:
        if d.epsilon_pp > epsilon:
            free = [a for a in d.indifference if trained.get(a, 0) > continued.get(a, 0)]
            out += [a for a in free[:top] if a not in out]
    return out

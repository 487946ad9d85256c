"""Statistics of accuracies: the Wilson interval of a count, a percentile, rank agreement, and how reliably a mean
over seeds measures an arch (variance components and the Kendall tau they allow)."""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy measured as ``correct`` of ``n``."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


MIN_COST_SHARE = 0.005  # pp per MMAC only for a cost change of at least 0.5 % of the archs' mean MACs


def pp_per_mmac(d_pp: float, d_macs: float, mean_macs: float) -> float | str:
    """Gain per million MACs, or blank when the cost change is below ``MIN_COST_SHARE`` of the archs' MACs (an SE
    block of a few hundred MACs would otherwise show thousands of pp per MMAC)."""
    if abs(d_macs) < MIN_COST_SHARE * mean_macs or not round(d_macs):
        return ""
    return round(d_pp / (d_macs / 1e6), 4)


def p90(values: Sequence[float]) -> float:
    """The 90th percentile of ``values`` (nearest rank)."""
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]


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


def rank_agreement(x: list[float], y: list[float]) -> tuple[float, float]:
    """(Kendall tau-b, Spearman rho) of two score lists; NaN where undefined (fewer than 2 distinct values)."""
    from scipy.stats import kendalltau, spearmanr

    if len(x) < 2:
        return float("nan"), float("nan")
    return float(kendalltau(x, y).statistic), float(spearmanr(x, y).statistic)


def tau_interval(x: list[float], y: list[float], level: float = 0.95, n_boot: int = 2000, seed: int = 0):
    """Percentile bootstrap interval of Kendall tau over the archs: (low, high) at ``level``.

    Resamples archs with replacement, so it covers which archs were drawn, not the noise of each
    arch's stand-alone accuracy (that is what the seed-vs-seed tau and the ceilings are for).
    NaN with fewer than 3 archs, or when no draw has an order (every score equal).
    """
    from scipy.stats import kendalltau

    if len(x) < 3:
        return float("nan"), float("nan")
    rng, n, taus = random.Random(seed), len(x), []
    for _ in range(n_boot):
        idx = [rng.randrange(n) for _ in range(n)]
        t = kendalltau([x[i] for i in idx], [y[i] for i in idx]).statistic
        if not math.isnan(t):  # a draw of one repeated arch has no order
            taus.append(float(t))
    if not taus:
        return float("nan"), float("nan")
    taus.sort()
    tail = (1 - level) / 2
    return taus[int(tail * len(taus))], taus[min(len(taus) - 1, int((1 - tail) * len(taus)))]


def mean_ceiling_tau(per_seed: list[list[float]]) -> float:
    """Highest Kendall tau any score can expect against the mean over seeds of ``per_seed`` (one list per arch).

    The S-seed mean correlates with the true accuracy at r = sqrt(:func:`mean_reliability`), and for normal
    scores tau = (2 / pi) asin(r) (Greiner). NaN with fewer than 2 archs or 2 seeds.
    """
    return 2 / math.pi * math.asin(math.sqrt(mean_reliability(per_seed)))


def replication_tau(per_seed: list[list[float]]) -> float:
    """Expected Kendall tau between the S-seed means of ``per_seed`` and an independent retrain with S new seeds.

    Two independent S-seed means correlate at r = :func:`mean_reliability`. It is what the truth check's own
    repetition would reach: a ranking above it predicts the S-seed mean better than training every arch again
    S times. NaN with fewer than 2 archs or 2 seeds.
    """
    return 2 / math.pi * math.asin(mean_reliability(per_seed))


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


def mean_reliability(per_seed: Sequence[Sequence[float]]) -> float:
    """:func:`reliability` of the S-seed mean, S the mean seeds per arch; NaN unless every arch has 2 seeds or more
    and there are 2 archs or more."""
    if len(per_seed) < 2 or min(len(v) for v in per_seed) < 2:
        return float("nan")
    return reliability(per_seed, statistics.fmean(len(v) for v in per_seed))

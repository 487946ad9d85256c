"""What the noise allows: a lower bound on the compute any method needs to pick within epsilon of the best arch.

Issue 31 asks ``run --verify --budget-units 10`` to pick within 0.5 pp of the best arch under each of the three MAC
budgets in >= 90 % of replays. This module gives the floor under that goal from the measured per-training noise
sigma and the measured gaps, the change-of-measure argument of best-arm identification (Kaufmann, Cappe & Garivier,
JMLR 2016, Lemma 1) applied to epsilon-good identification (Mannor & Tsitsiklis, JMLR 2004):

Let arch ``a`` lie ``gap_a > epsilon`` below the best under a budget, so that it is not epsilon-good there. Raise
its mean alone to ``epsilon`` above the best: now ``a`` is the only epsilon-good arch, and a method right with
probability >= 1 - delta on both must tell the two worlds apart from ``a``'s trainings alone, so

    E[N_a] >= 2 sigma^2 log(1 / (2.4 delta)) / (gap_a + epsilon)^2      (Gaussian trainings, SD sigma).

Each budget's bound holds on its own, so an arch needs the largest over the budgets that hold it, and the compute
is the sum over archs of ``N_a`` times one training's cost. The bound is loose (it never asks the method to confirm
the best itself); it holds for every method that makes no assumption linking archs, such as additivity over stages,
and that spends its compute on trainings of the judged schedule.

    python -m benchmarks.noise_bound [--markdown]
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence

from benchmarks.answer_data import ARCHS, CURVES, CURVES_S34, Curves, Truth


def trainings_floor(gap: float, sigma: float, epsilon: float, delta: float) -> float:
    """E[N] of one arch ``gap`` pp below the best (0 when it is epsilon-good: no alternative forces a look)."""
    if gap <= epsilon:
        return 0.0
    return 2 * sigma**2 * math.log(1 / (2.4 * delta)) / (gap + epsilon) ** 2


def lower_bound(
    mean: dict[str, float],
    cost: dict[str, float],
    budgets: Sequence[Sequence[str]],
    sigma: float,
    epsilon: float = 0.5,
    delta: float = 0.1,
) -> tuple[float, dict[str, float]]:
    """(compute, expected trainings per arch) that any ``delta``-correct method needs to pick an ``epsilon``-good
    arch under every budget (``budgets``: the archs each holds). ``mean`` (pp) and ``sigma`` (pp, one training's SD)
    measured; ``cost``: one training's compute per arch."""
    need: dict[str, float] = {}
    for archs in budgets:
        best = max(mean[a] for a in archs)
        for a in archs:
            need[a] = max(need.get(a, 0.0), trainings_floor(best - mean[a], sigma, epsilon, delta))
    return sum(n * cost[a] for a, n in need.items()), need


def pooled_sd(rows: Sequence[dict]) -> float:
    """Pooled within-arch SD (pp) of ``rows`` (arch, accuracy as a fraction), several seeds per arch."""
    by: dict[str, list[float]] = {}
    for r in rows:
        by.setdefault(r["arch"], []).append(100 * float(r["accuracy"]))
    parts = [(len(v) - 1, statistics.variance(v)) for v in by.values() if len(v) > 1]
    return math.sqrt(sum(df * v for df, v in parts) / sum(df for df, _ in parts))


def test_rows(t: Truth, c: Curves) -> list[dict]:
    """Every 16-epoch test accuracy there is: truth.csv's seeds 0 and 1, and the curves tables' later seeds."""
    later = [{"arch": a, "accuracy": v} for (a, _, e), v in c.test.items() if e == 16 and a in t.macs]
    return [*t.rows, *later]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    t = Truth()
    cost = {a: 16 * t.epoch_cost[a] / 30 for a in ARCHS}  # one 16-epoch training, in units
    budgets = [t.in_budget(k) for k in range(3)]
    every = test_rows(t, Curves.merged(CURVES, CURVES_S34))
    head = "| means of | sigma (pp) | epsilon (pp) | trainings, at least | units, at least | per budget alone (units) |"
    print(head if args.markdown else head.replace("|", " ").strip())
    if args.markdown:
        print("|---|---|---|---|---|---|")
    for what, rows in ((f"truth.csv ({len(t.rows)} trainings)", t.rows), (f"all ({len(every)} trainings)", every)):
        by: dict[str, list[float]] = {}
        for r in rows:
            by.setdefault(r["arch"], []).append(100 * float(r["accuracy"]))
        mean = {a: statistics.fmean(v) for a, v in by.items()}
        for sigma in (pooled_sd(rows), 0.5):
            for eps in (0.5, 0.25):
                units, need = lower_bound(mean, cost, budgets, sigma, eps)
                alone = [lower_bound(mean, cost, [b], sigma, eps)[0] for b in budgets]
                cells = [what, f"{sigma:.3f}", f"{eps:g}", f"{sum(need.values()):.1f}", f"{units:.2f}"]
                cells.append(" / ".join(f"{u:.2f}" for u in alone))
                print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))
    print("(delta 0.1; sigma: the rows' pooled seed SD, then 0.5 pp; a unit is a 30-epoch training of the median arch)")


if __name__ == "__main__":
    main()

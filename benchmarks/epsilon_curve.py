"""Epsilon-success against compute: ``run --verify --budget-units U``'s own rule replayed at several ``U``.

Issue 31 asks ``run --verify --budget-units 10`` to pick within 0.5 pp of the best arch under each of the three MAC
budgets in >= 90 % of replays, and, if that is out of reach, the curve: epsilon-success against units. The answer
curve (``benchmarks/answer_curve.py``) scores every route at the compute it spends; this module moves the one route
whose compute is a flag, verify's sequential rule (``answer_curve.route_sequential``: the 3^(4-1) fraction, then
looks that train the next seed of the archs where a budget's pick still hinges, in ``decisions.training_order``),
along its units, for each read of a training:

- the EMA at epoch 8 of the 16-epoch recipe (verify's default read), at 4 and at 12, each with the contenders'
  trainings continued to the end (verify's rule, ``--verify-continue``: their SWA read there measures the early
  read's drift) and without (the rule before);
- the plain weights and SWA at the end of the 16-epoch recipe;

all from the same trainings (seeds 3 and 4 of ``truth/curves-s34.csv``) and judged by the truth of the seeds none
of them was trained under (0, 1, 2). A replay can train an arch at most twice (two seeds), so past some units the
rule runs out of trainings: the column ``units`` is what it spent. The last rows replay 16-epoch trainings of seeds
2, 3 and 4 (up to three per arch), judged by truth.csv's seeds 0 and 1.

A judge is itself a mean of a few seeds, so it measures regret with noise, and the best arch's own lead shrinks in
its eyes as often as it grows. ``ceiling`` gives the epsilon-success that a perfect method (its pick *is* each
budget's best) would be measured at by a judge of ``n`` seeds: the highest rate any row of the curve can show.

    python -m benchmarks.epsilon_curve [--markdown]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks.answer_curve import route_sequential
from benchmarks.answer_data import ARCHS, CURVES, CURVES_S34, Curves, Score, Truth, pooled

CAPS = (5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
READS = (  # (label, epoch read, column): a training of the 16-epoch recipe, read there
    ("EMA at epoch 4 of 16", 4, "ema_val_correct"),
    ("EMA at epoch 8 of 16 (verify's default)", 8, "ema_val_correct"),
    ("EMA at epoch 12 of 16", 12, "ema_val_correct"),
    ("plain weights at epoch 16 of 16", 16, "val_correct"),
    ("SWA over epochs 13-16 of 16 (verify's complete-schedule read)", 16, "swa_val_correct"),
)


def curve(
    judge: Truth, data: Curves, schedule: int, caps: tuple[float, ...], end: Curves | None = None
) -> list[tuple[float, list[Score]]]:
    """(cap, the replays of verify's rule at ``--budget-units cap``) for each cap, on ``data``'s ``schedule``-epoch
    reads, judged by ``judge``; ``end``: the same trainings read at their end, which verify's rule reads for the
    contenders it continues (``route_sequential``)."""
    return [(cap, route_sequential(judge, data, schedule, cap=cap, end=end)) for cap in caps]


def ceiling(
    mean: dict[str, float], budgets: list[list[str]], sigma: float, n: int, epsilon: float = 0.5, draws: int = 20000
) -> float:
    """The share of judges of ``n`` seeds (each arch's mean of ``n`` trainings of SD ``sigma`` pp around ``mean``, pp)
    that measure each budget's true best within ``epsilon`` pp of their own best there, at every budget at once."""
    archs = sorted(mean)
    mu = np.array([mean[a] for a in archs])
    rng = np.random.default_rng(0)
    seen = mu + rng.normal(0.0, sigma / np.sqrt(n), (draws, len(archs)))
    ok = np.ones(draws, dtype=bool)
    for held in budgets:
        idx = np.array([archs.index(a) for a in held])
        best = idx[np.argmax(mu[idx])]
        ok &= seen[:, idx].max(axis=1) - seen[:, best] <= epsilon + 1e-12
    return float(ok.mean())


def row(label: str, cap: float, scores: list[Score]) -> list[str]:
    """One line of the table: compute asked and spent, regret, epsilon-success and the stated epsilon's calibration."""
    regret = [statistics.fmean(s.regret[k] for s in scores) for k in range(3)]
    held = [h for s in scores for h in s.held()]
    return [
        label,
        f"{cap:g}",
        f"{statistics.fmean(s.units for s in scores):.1f}",
        str(len(scores)),
        " / ".join(f"{r:.2f}" for r in regret),
        f"{sum(s.within() for s in scores)} of {len(scores)}",
        f"{sum(s.within(1.0) for s in scores)} of {len(scores)}",
        f"{sum(held)} of {len(held)}",
        f"{statistics.fmean(e for s in scores for e in s.epsilon):.2f}",
    ]


HEAD = [
    "read",
    "--budget-units",
    "units spent (mean)",
    "replays",
    "regret pp 25/50/75 % (mean)",
    "within 0.5 pp at all 3",
    "within 1 pp at all 3",
    "stated epsilon held (at 0.9)",
    "mean stated epsilon (pp)",
]


def wide(points: dict[str, list[tuple[float, list[Score]]]]) -> str:
    """The curve as one markdown row per read and one column per cap: within 0.5 pp at all 3 budgets (of the
    replays), stated epsilon held (of the claims), units spent."""
    caps = [cap for cap, _ in next(iter(points.values()))]
    lines = ["| read | " + " | ".join(f"--budget-units {c:g}" for c in caps) + " |", "|" + "---|" * (len(caps) + 1)]
    for label, line in points.items():
        cells = []
        for _, scores in line:
            held = [h for s in scores for h in s.held()]
            within, units = sum(s.within() for s in scores), statistics.fmean(s.units for s in scores)
            cells.append(f"{within}/{len(scores)}, held {sum(held)}/{len(held)}, {units:.1f} u")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--caps", type=float, nargs="+", default=list(CAPS), help="the --budget-units values replayed")
    p.add_argument("--markdown", action="store_true", help="markdown tables, and the curve one row per read")
    args = p.parse_args()
    t, caps = Truth(), tuple(args.caps)
    c16 = Curves.merged(CURVES, CURVES_S34)
    judge = pooled(t, c16, leave_out=(3, 4))
    seeds = judge.seeds
    points, end = {}, Curves.early(CURVES_S34, 16, "swa_val_correct")
    for label, epoch, column in READS:
        data = Curves.early(CURVES_S34, epoch, column)
        name = f"{label}, seeds {data.seeds(epoch)}, vs seeds {seeds}"
        if epoch < 16:
            points[name + ", contenders continued (verify's rule)"] = curve(judge, data, epoch, caps, end)
            name += ", none continued (the rule before)"
        points[name] = curve(judge, data, epoch, caps)
    points[f"16-epoch ends, seeds {c16.seeds(16)}, vs truth.csv's seeds 0, 1"] = curve(t, c16, 16, caps)
    lines = [row(label, cap, scores) for label, line in points.items() for cap, scores in line]
    if args.markdown:
        print("| " + " | ".join(HEAD) + " |\n|" + "---|" * len(HEAD))
        print("\n".join("| " + " | ".join(cells) + " |" for cells in lines))
        print("\n" + wide(points))
    else:
        print("\n".join("  ".join(cells) for cells in [HEAD, *lines]))
    truth = pooled(t, c16)
    mean = {a: 100 * truth.mean[a] for a in ARCHS}
    held = [truth.in_budget(k) for k in range(3)]
    print(f"\nthe judges' ceiling: the truth of seeds {sorted({int(r['seed']) for r in truth.rows})} taken as exact")
    for sigma in (0.45, 0.5):
        rates = ", ".join(f"{n} seeds {ceiling(mean, held, sigma, n):.2f}" for n in (2, 3, 4, 5))
        print(f"  sigma {sigma} pp: the best arch under every budget is judged within 0.5 pp at all 3 by: {rates}")


if __name__ == "__main__":
    main()

"""Would the default run's second scoring round stop early once the decisions it feeds stop changing? Replayed offline.

On finished default runs (every arch on the slice, then every halving contender rescored on the other images), the
rule is replayed as it would run: rescore the contenders in chunks of K, most promising first, and stop after the
first chunk that changes neither the front nor the pick under any of the 25 / 50 / 75 % MAC budgets (and leaves no
unrescored arch on them). Promise: an arch's slice accuracy against the best slice accuracy of any cheaper arch.
Two orders: arch by arch (``scatter``), or whole last-stage groups (``groups``, which keeps the walk's prefix
sharing). It prints what each replay rescored, how far its front and picks end from the full run's, and what its
scoring costs against the run's: stage evaluations, each distinct prefix of a round once at (512 recalibration + that
round's images). Also:

- ``noise-only``: how many contenders could enter the front on the other images' noise alone, taking each
  contender's full accuracy as its true supernet accuracy (binomial SD of those images, >= 5 % chance);
- the run's scores, and its slice scores alone, judged against the 5-seed truth on the 81 archs it shares with it
  (Kendall tau, regret at the truth's budgets), as ``search.py check`` does.

    python -m benchmarks.stop_rule RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from benchmarks.answer_data import CURVES, CURVES_S34, Curves, Truth, pooled, truth_tau
from seknet.core import decisions, pareto_front, read_csv, truth

RECAL = 512  # recalibration images per arch and round (the default run's)
RULES = (("scatter", 128), ("scatter", 256), ("groups", 128), ("groups", 256))


def front(acc: np.ndarray, macs: np.ndarray) -> set[int]:
    """Indices of the MACs-accuracy front (``seknet.core.pareto_front``)."""
    return set(pareto_front(list(zip(macs.tolist(), acc.tolist(), strict=True))))


def stage_evaluations(archs, images: int) -> int:
    """What scoring ``archs`` on ``images`` costs the walk: each distinct prefix once, at recalibration + images."""
    return len({tuple(a.split("-")[:k]) for a in archs for k in range(1, 5)}) * (RECAL + images)


class Run:
    """A finished default run's scores: arch, MACs, slice and full accuracy, and which archs were rescored."""

    def __init__(self, path: Path) -> None:
        rows = read_csv(path / "evaluations.csv")
        self.arch = np.array([r["arch"] for r in rows])
        self.macs = np.array([int(r["macs"]) for r in rows])
        self.slice = np.array([float(r["slice_accuracy"]) for r in rows])
        self.full = np.array([float(r["accuracy"]) for r in rows])
        n = np.array([int(r["n_eval"]) for r in rows])
        self.n, self.rescored = int(n.max()), n == n.max()
        self.n_slice = int(n.min())
        self.budgets = decisions.quantile_budgets(self.macs.tolist())

    def picks(self, acc: np.ndarray) -> tuple[int, ...]:
        """The pick under each budget, as decisions.csv's: the most accurate arch, the cheaper one on a tie."""
        fits = [np.flatnonzero(self.macs <= b) for b in self.budgets]
        return tuple(int(max(f, key=lambda i: (acc[i], -self.macs[i]))) for f in fits)

    def promise_order(self) -> list[int]:
        """The contenders, most promising first: slice accuracy minus the best slice accuracy of a cheaper arch."""
        best_cheaper, running = np.full(len(self.arch), -1.0), -1.0
        for m in np.unique(self.macs):
            at = self.macs == m
            best_cheaper[at] = running
            running = max(running, float(self.slice[at].max()))
        gap = np.where(best_cheaper < 0, -1.0, best_cheaper - self.slice)
        kept = np.flatnonzero(self.rescored)
        return list(kept[np.lexsort((-self.slice[kept], gap[kept]))])


def chunks(run: Run, order: str, k: int) -> list[list[int]]:
    """The contenders in promise order, in chunks of ``k`` archs, or of whole last-stage groups of at least ``k``."""
    ranked = run.promise_order()
    if order == "scatter":
        return [ranked[i : i + k] for i in range(0, len(ranked), k)]
    groups: dict[str, list[int]] = {}
    for i in ranked:
        groups.setdefault(run.arch[i].rsplit("-", 1)[0], []).append(i)
    out, cur = [], []
    for g in groups.values():
        cur += g
        if len(cur) >= k:
            out, cur = [*out, cur], []
    return [*out, cur] if cur else out


def replay(run: Run, order: str, k: int) -> tuple[int, int, bool, float]:
    """(archs rescored, front members that differ from the full run's, same picks, scoring cost / the run's)."""
    acc, done, last, spent = run.slice.copy(), np.zeros(len(run.arch), bool), None, 0
    rest = run.n - run.n_slice
    for chunk in chunks(run, order, k):
        done[chunk], acc[chunk] = True, run.full[chunk]
        spent += stage_evaluations(run.arch[chunk], rest)
        decided = (front(acc, run.macs), run.picks(acc))
        settled = all(done[i] for i in decided[0] | set(decided[1]))
        if decided == last and settled:
            break
        last = decided
    first = stage_evaluations(run.arch, run.n_slice)
    whole = first + stage_evaluations(run.arch[run.rescored], rest)
    differ = len(front(acc, run.macs) ^ front(run.full, run.macs))
    return int(done.sum()), differ, run.picks(acc) == run.picks(run.full), (first + spent) / whole


def noise_only(run: Run, chance: float = 0.05) -> int:
    """Contenders with >= ``chance`` of entering the front on the other images' binomial noise alone."""
    from scipy.stats import norm

    rest = run.n - run.n_slice
    sd = math.sqrt(0.9 * 0.1 / rest) * rest / run.n  # of the full accuracy, at ~90 % accuracy
    out = 0
    for i in np.flatnonzero(run.rescored):
        cheaper = run.rescored & (run.macs < run.macs[i])
        bar = float(run.full[cheaper].max()) if cheaper.any() else -1.0
        out += bool(norm.sf((bar - run.full[i]) / sd) >= chance)
    return out


def judged(run: Run, acc: np.ndarray, t: Truth) -> str:
    scores = {a: float(x) for a, x in zip(run.arch, acc, strict=True) if a in t.mean}
    regret = [truth.regret(scores, t.mean, t.macs, b) for b in t.budgets]
    return f"tau {truth_tau(scores, t.mean):+.3f}, regret pp " + " / ".join(f"{r:.2f}" for r in regret)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished default runs (python search.py --out RUN)")
    args = p.parse_args()
    t = pooled(Truth(), Curves.merged(CURVES, CURVES_S34))
    for path in args.runs:
        run = Run(path)
        print(f"{path}: {len(run.arch)} archs, {int(run.rescored.sum())} rescored; noise-only {noise_only(run)}")
        for order, k in RULES:
            n, differ, same, cost = replay(run, order, k)
            print(
                f"  {order:7s} K={k}: rescored {n:5d}, front members differ {differ:2d}, picks same {same!s:5s}, "
                f"scoring {cost:.2f} of the run's"
            )
        print(f"  the run's scores: {judged(run, run.full, t)}; slice alone: {judged(run, run.slice, t)}")


if __name__ == "__main__":
    main()

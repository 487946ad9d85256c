"""What a one-shot run's supernet budget buys on the 81-arch space: one long supernet, one short one, or the mean score
of two short ones at the price of one long one (issue 31: "a second supernet is worth its price only if the curve
shows it"; "the default run gets no dearer").

Reads one-shot run folders of ``search_space/digits-81.yaml`` (``python search.py run --space
search_space/digits-81.yaml --epochs E --seed S --out R``), groups them by their supernet epochs, and scores against
the truth's means each run alone and, for every two runs of the same epochs, their scores averaged:

- tau: Kendall tau of the scores against the truth's means over the 81 archs;
- regret: pp the most accurate scored arch under each of the 25 / 50 / 75 % MAC budgets loses to the truth's best
  there;
- supernet seconds: the runs' own ``seconds.train`` (summed over the averaged two), measured on whatever machine ran
  them; compare them within one table only.

The truth is every 16-epoch test accuracy there is (truth.csv's seeds 0 and 1, curves.csv's seed 2, curves-s34.csv's
seeds 3 and 4 as far as trained), its mean per arch.

    python -m benchmarks.supernet_budget results/o81-e15-s0 results/o81-e30-s0 ... [--markdown]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

from benchmarks.answer_data import CURVES, CURVES_S34, Curves, Truth, truth_tau
from benchmarks.noise_bound import test_rows
from seknet.core import read_csv, read_yaml, truth


def run_scores(folder: Path) -> tuple[int, float, dict[str, float]]:
    """(supernet epochs, supernet seconds, {arch: score}) of one one-shot run folder."""
    cfg = read_yaml(folder / "config.yaml", "missing")
    rows = read_csv(folder / "evaluations.csv")
    return int(cfg["config"]["epochs"]), float(cfg["seconds"]["train"]), {r["arch"]: float(r["accuracy"]) for r in rows}


def judged(scores: dict[str, float], mean: dict[str, float], t: Truth) -> tuple[float, list[float]]:
    """(tau, regret pp under each budget) of ``scores`` against the truth's ``mean``."""
    return truth_tau(scores, mean), [truth.regret(scores, mean, t.macs, b) for b in t.budgets]


def routes(runs: dict[str, tuple[int, float, dict]]) -> list[tuple[str, int, int, float, dict]]:
    """(name, epochs, supernets, supernet seconds, scores): every run alone, then every pair of same-epoch runs with
    their scores averaged arch by arch."""
    out = [(name, e, 1, s, sc) for name, (e, s, sc) in runs.items()]
    for (na, (ea, sa, a)), (nb, (eb, sb, b)) in itertools.combinations(runs.items(), 2):
        if ea == eb:
            both = {k: (a[k] + b[k]) / 2 for k in a.keys() & b.keys()}
            out.append((f"{na} + {nb}", ea, 2, sa + sb, both))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    t = Truth()
    every = test_rows(t, Curves.merged(CURVES, CURVES_S34))
    by: dict[str, list[float]] = {}
    for r in every:
        by.setdefault(r["arch"], []).append(float(r["accuracy"]))
    mean = {a: statistics.fmean(v) for a, v in by.items()}
    runs = {folder.name: run_scores(folder) for folder in args.runs}
    table = [(name, e, n, s, *judged(sc, mean, t)) for name, e, n, s, sc in routes(runs)]
    head = ["route", "supernet epochs", "supernets", "supernet s", "tau", "regret pp 25/50/75 %"]
    print(f"truth: {len(every)} sixteen-epoch trainings of {len(mean)} archs; budgets {t.budgets} MACs")
    print("| " + " | ".join(head) + " |" if args.markdown else "  ".join(head))
    if args.markdown:
        print("|" + "---|" * len(head))
    for name, e, n, s, tau, regret in table:
        cells = [name, str(e), str(n), f"{s:.0f}", f"{tau:.3f}", " / ".join(f"{r:.2f}" for r in regret)]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))
    for (e, n), group in itertools.groupby(sorted(table, key=lambda r: (r[1], r[2])), key=lambda r: (r[1], r[2])):
        g = list(group)
        taus = [r[4] for r in g]
        regrets = [statistics.fmean(r[5][k] for r in g) for k in range(3)]
        cells = [f"mean: {n} x {e} epochs ({len(g)})", str(e), str(n), f"{statistics.fmean(r[3] for r in g):.0f}"]
        cells += [f"{statistics.fmean(taus):.3f}", " / ".join(f"{r:.2f}" for r in regrets)]
        print("| " + " | ".join(cells) + " |" if args.markdown else "  ".join(cells))


if __name__ == "__main__":
    main()

"""The supernet's seed-to-seed spread of placement, and whether the default run's claims hold against the truth.

Takes one-shot runs of the same recipe under different seeds (``python search.py --seed K``). For each placement
contrast (stage, choice vs other) it takes the run's gain; the standard deviation of a gain between seeds, pooled
over all contrasts, is the spread one supernet cannot see of its own seed's luck (``run --seed-spread``, pp).
Then, leaving each run out in turn, it estimates the spread from the others, widens that run's image-noise
intervals by it (as ``search.py`` does: se^2 = se_images^2 + spread^2), and counts the run's claims that the truth
(benchmarks/truth/truth.csv) contradicts, and those it resolves right.

    python -m benchmarks.placement_spread results/default-s0 results/default-s1 results/default-s2
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from seknet.core import factorial, read_csv, read_yaml, truth

Z = 1.96


def contrasts(run: Path) -> dict[tuple[int, str, str], dict]:
    """{(stage, choice, vs): placement row} of a run's one-shot contrasts with an interval (a ``--verify`` run's
    screening is the default run's one-shot answer: screening-placement.csv)."""
    screening = run / "screening-placement.csv"
    rows = read_csv(screening if screening.is_file() else run / "placement.csv")
    return {(int(r["stage"]), r["choice"], r.get("vs", "none")): r for r in rows if r["delta_low"] != ""}


def pooled_spread(runs: list[Path]) -> float:
    """SD (pp) of a contrast's gain between the runs, pooled over the contrasts all of them have."""
    per = [contrasts(r) for r in runs]
    keys = set.intersection(*(set(p) for p in per))
    variances = [statistics.variance([float(p[k]["delta_accuracy"]) * 100 for p in per]) for k in keys]
    return math.sqrt(statistics.fmean(variances))


def widened(run: Path, spread: float) -> list[dict]:
    """The run's placement rows with each interval's image-noise part widened by ``spread`` (pp) and ``significant``
    recomputed (a run made with ``--seed-spread`` has that part taken out first)."""
    own = float(read_yaml(run / "config.yaml", "not a finished run folder")["config"].get("seed_spread") or 0.0)
    out = []
    for r in contrasts(run).values():
        d = float(r["delta_accuracy"]) * 100
        se_total = (float(r["delta_high"]) - float(r["delta_low"])) * 100 / (2 * Z)
        se_images = math.sqrt(max(se_total**2 - own**2, 0.0))
        half = Z * math.sqrt(se_images**2 + spread**2)
        out.append(r | {"significant": int(abs(d) > half)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--truth", type=Path, default=ROOT / "benchmarks" / "truth" / "truth.csv")
    args = p.parse_args()
    if len(args.runs) < 3:
        raise SystemExit("give at least 3 runs of one recipe (seeds)")
    rows = truth.factorial_rows(read_csv(args.truth), 16)
    effects = [e for e in factorial.main_effects(factorial.fit(rows)) if e.significant]
    print(f"spread over all {len(args.runs)} runs: {pooled_spread(args.runs):.3f} pp (SD of a gain between seeds)")
    for k, run in enumerate(args.runs):
        others = args.runs[:k] + args.runs[k + 1 :]
        spread = pooled_spread(others)
        plain = truth.claims(widened(run, 0.0), effects)
        wide = truth.claims(widened(run, spread), effects)
        print(
            f"{run}: images only: {len(plain['resolved'])} right, {len(plain['wrong'])} wrong; with the others' "
            f"spread {spread:.3f} pp: {len(wide['resolved'])} right, {len(wide['wrong'])} wrong"
        )
        for line in wide["wrong"]:
            print(f"    WRONG: {line}")


if __name__ == "__main__":
    main()

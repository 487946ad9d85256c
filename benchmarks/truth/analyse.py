"""What the truth table says: per stage, SE vs none, SK vs none and SK vs SE with 95 % intervals, the significant
two-stage interactions, the seed-vs-seed tau and the one-seed replication tau over the factorial archs, and the
r / M axes of the stage with the largest effect.

    python -m benchmarks.truth.analyse [--table benchmarks/truth/truth.csv]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent

from benchmarks.truth.truth_table import read_rows
from seknet.core import factorial, stats, truth


def recipe_epochs(rows: list[dict]) -> int:
    """The epochs of the factorial recipe: the plateau check's answer, else the epochs most rows were trained for."""
    import yaml

    decided = (
        (yaml.safe_load((HERE / "plateau.yaml").read_text()) or {}).get("epochs")
        if (HERE / "plateau.yaml").is_file()
        else None
    )
    return decided or statistics.mode(int(r["epochs"]) for r in rows)


def report(rows: list[dict]) -> str:
    epochs = recipe_epochs(rows)
    fac = truth.factorial_rows(rows, epochs)
    seeds = truth.per_arch(fac)
    lines = [
        f"truth table: {len(fac)} trainings of {len(seeds)} factorial archs, {epochs} epochs "
        f"(seeds per arch: {min(map(len, seeds.values()))}-{max(map(len, seeds.values()))})"
    ]
    f = factorial.fit(fac)
    model = (
        "main effects + two-stage interactions"
        if f.pairs
        else (f"additive model: the factorial is not complete yet ({len(seeds)} of {3 ** len(f.levels)} archs)")
    )
    lines.append(
        f"main effects, pp of test accuracy averaged over the other stages (95 % interval, * excludes 0; "
        f"{model}; residual df {f.df}):"
    )
    lines += [f"  {e}" for e in factorial.main_effects(f)]
    inter = factorial.interactions(f)
    found = ", ".join(f"stages {s}x{t} (p {p:.3f})" for s, t, p in inter) or "none"
    lines.append(f"significant two-stage interactions (F test, p < 0.05): {found if f.pairs else 'not fitted yet'}")
    both = {a: v for a, v in seeds.items() if len(v) >= 2}
    if len(both) >= 3:
        lines.append(
            f"seed-vs-seed tau over {len(both)} archs: {stats.seed_vs_seed_tau(both):.3f}; one-seed "
            f"replication tau (one new seed vs the table's mean): "
            f"{stats.one_seed_replication_tau(list(both.values())):.3f}"
        )
    means = {a: statistics.fmean(v) for a, v in seeds.items()}
    lines.append(
        "best archs (mean over seeds): "
        + ", ".join(f"{a} {100 * m:.2f}" for a, m in sorted(means.items(), key=lambda x: -x[1])[:5])
    )
    axes = [r for r in rows if int(r["epochs"]) == epochs and sum(c != "none" for c in r["arch"].split("-")) <= 1]
    axes_means = {a: (statistics.fmean(v), len(v)) for a, v in truth.per_arch(axes).items()}
    if len(axes_means) > 3:
        lines.append("single-stage archs (r / M axes), mean over seeds:")
        lines += [f"  {a:<24} {100 * m:.2f} ({n} seeds)" for a, (m, n) in sorted(axes_means.items())]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, default=HERE / "truth.csv")
    print(report(read_rows(p.parse_args().table)))


if __name__ == "__main__":
    main()

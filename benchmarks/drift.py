"""How far an early read drifts from the end of its schedule, and what the claims that still fail rest on.

``run --verify`` reads a training early (the EMA after epoch 8 of 16) and, with ``--budget-units``, continues its
contenders' trainings to the end to measure the drift (``seknet.core.decisions.final_evidence``). This script
measures the drift on the 16-epoch trainings of seeds 3 and 4 (``truth/curves-s34.csv``, every arch twice):

- per read, the drift to each end (SWA and the plain weights on the 8,616 validation images, which a run reads, and
  the plain weights on the truth's 8,640 test images): its mean, its SD per training, the SD of the part an arch
  keeps under both seeds (the seed pair's covariance, with a 90 % bootstrap interval over the archs), and the
  correlation of the early read with its drift;
- the claims of verify's rule replayed at ``--budget-units`` 30 on the EMA at epoch 8 (``epsilon_curve``'s point
  where a claim still fails) that do not hold against the judge of seeds 0-2, with the pick's and the best arch's
  test accuracy under every seed.

    python -m benchmarks.drift [--markdown]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

from benchmarks.answer_curve import route_sequential
from benchmarks.answer_data import ARCHS, CURVES, CURVES_S34, Curves, Truth, pooled, seed_rows
from seknet.core import read_csv

EARLY = (("EMA at epoch 4", 4), ("EMA at epoch 8", 8), ("EMA at epoch 12", 12))
ENDS = (("SWA, validation", "swa_val_correct", "val_n"), ("plain, validation", "val_correct", "val_n"))
SEEDS = (3, 4)


def reads(path=CURVES_S34) -> dict[tuple[str, int], dict[str, float]]:
    """{(arch, seed): {read: accuracy in pp}} of the complete 16-epoch trainings of ``path``: ``ema4`` / ``ema8`` /
    ``ema12`` (validation), ``SWA, validation``, ``plain, validation`` and ``plain, test`` at epoch 16."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for r in read_csv(path):
        if r["epochs"] != "16":
            continue
        got = out.setdefault((r["arch"], int(r["seed"])), {})
        if r["ema_val_correct"]:
            got[f"ema{r['epoch']}"] = 100 * int(r["ema_val_correct"]) / int(r["val_n"])
        if r["epoch"] == "16":
            for name, column, n in ENDS:
                got[name] = 100 * int(r[column]) / int(r[n])
            got["plain, test"] = 100 * int(r["test_correct"]) / int(r["test_n"])
    return out


def drift(acc: dict, early: str, end: str, draws: int = 2000) -> dict[str, float]:
    """The drift ``end - early`` (pp) over the archs trained under both seeds: mean, SD per training, the SD an arch
    keeps under both seeds (sqrt of the seed pair's covariance, 0 when negative) with its 90 % bootstrap interval,
    and the correlation of the early read with the drift."""
    archs = [a for a in ARCHS if all((a, s) in acc for s in SEEDS)]
    d = np.array([[acc[(a, s)][end] - acc[(a, s)][early] for s in SEEDS] for a in archs])
    e = np.array([[acc[(a, s)][early] for s in SEEDS] for a in archs])
    centred = d - d.mean(axis=0)
    rng = np.random.default_rng(0)
    boot = [np.cov(*d[rng.integers(0, len(d), len(d))].T)[0, 1] for _ in range(draws)]
    root = lambda v: float(np.sqrt(max(v, 0.0)))  # noqa: E731
    return {
        "archs": len(archs),
        "mean": float(d.mean()),
        "sd": float(np.sqrt((centred**2).sum() / (centred.size - len(SEEDS)))),
        "arch_sd": root(np.cov(*d.T)[0, 1]),
        "arch_low": root(np.quantile(boot, 0.05)),
        "arch_high": root(np.quantile(boot, 0.95)),
        "corr": float(np.corrcoef(e.ravel(), d.ravel())[0, 1]),
    }


def failures(cap: float = 30.0, epoch: int = 8, continued: bool = True) -> list[dict]:
    """The stated epsilons of verify's rule replayed at ``cap`` units on the EMA at ``epoch`` (``continued``: with the
    contenders continued to the end, today's rule; else the rule before) that the judge of seeds 0-2 does not
    confirm: budget, pick, epsilon, regret, and the tests by seed of the pick and of the judge's best."""
    t, c16 = Truth(), Curves.merged(CURVES, CURVES_S34)
    judge, truth = pooled(t, c16, leave_out=SEEDS), pooled(t, c16)
    early, end = Curves.early(CURVES_S34, epoch), Curves.early(CURVES_S34, 16, "swa_val_correct")
    by_seed = {s: {r["arch"]: 100 * float(r["accuracy"]) for r in rows} for s, rows in seed_rows(t, c16).items()}
    out = []
    for i, score in enumerate(route_sequential(judge, early, epoch, cap=cap, end=end if continued else None)):
        for k, (regret, eps) in enumerate(zip(score.regret, score.epsilon, strict=True)):
            if regret <= eps + 1e-9:
                continue
            held, pick = judge.in_budget(k), score.picks[k]
            best = max(held, key=judge.mean.get)
            five = 100 * (max(truth.mean[a] for a in held) - truth.mean[pick])
            out.append(
                {
                    "replay": i,
                    "budget": k,
                    "pick": pick,
                    "epsilon": eps,
                    "regret": regret,
                    "regret_5": five,
                    "pick_tests": [by_seed[s][pick] for s in sorted(by_seed)],
                    "best": best,
                    "best_tests": [by_seed[s][best] for s in sorted(by_seed)],
                }
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markdown", action="store_true", help="markdown tables")
    args = p.parse_args()
    acc = reads()
    head = ["early read", "end", "archs", "mean drift (pp)", "SD per training", "SD an arch keeps (90 %)", "corr"]
    lines = []
    for label, epoch in EARLY:
        for end in [e for e, _, _ in ENDS] + ["plain, test"]:
            d = drift(acc, f"ema{epoch}", end)
            keeps = f"{d['arch_sd']:.3f} ({d['arch_low']:.3f}-{d['arch_high']:.3f})"
            cells = [str(d["archs"]), f"{d['mean']:+.2f}", f"{d['sd']:.3f}", keeps, f"{d['corr']:.2f}"]
            lines.append([label, end, *cells])
    sep = (" | ", "| ", " |") if args.markdown else ("  ", "", "")
    print(sep[1] + sep[0].join(head) + sep[2])
    if args.markdown:
        print("|" + "---|" * len(head))
    print("\n".join(sep[1] + sep[0].join(cells) + sep[2] for cells in lines))
    for continued, rule in ((True, "contenders continued"), (False, "none continued (the rule before)")):
        unconfirmed(failures(continued=continued), rule)


def unconfirmed(failed: list[dict], rule: str) -> None:
    """Print the claims of :func:`failures` that the judge does not confirm."""
    print(f"\nclaims not confirmed by seeds 0-2, EMA at epoch 8, {rule}, 30 units: {len(failed)} of 18")
    for f in failed:
        tests = " / ".join(f"{x:.2f}" for x in f["pick_tests"])
        best = " / ".join(f"{x:.2f}" for x in f["best_tests"])
        print(
            f"  replay {f['replay']}, budget {f['budget']}: pick {f['pick']} (tests by seed 0-4: {tests}), epsilon "
            f"{f['epsilon']:.2f}, regret {f['regret']:.2f} vs seeds 0-2 and {f['regret_5']:.2f} vs all five; "
            f"the judge's best {f['best']} ({best})"
        )
    if failed:
        spread = statistics.fmean(statistics.stdev(f["pick_tests"]) for f in failed)
        print(f"  the picks' SD over the five seeds: {spread:.2f} pp")


if __name__ == "__main__":
    main()

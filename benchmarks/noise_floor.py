"""The noise floor of a stand-alone training, and what lowers it (issue 31, "lower the noise floor").

The trainings a decision needs grow as sigma^2. Three levers are measured here, each at no extra training compute:

1. **Common random numbers (paired seeds).** Every arch of a replicate is trained under the same seed (the same data
   order; initial weights drawn from the same stream). If a seed's luck is partly shared by all archs, a contrast
   taken within a seed cancels that part. Fit y[a, s] = mu[a] + b[s] + e over the 81 archs x 3 seeds of the truth
   (truth.csv's seeds 0 and 1, curves.csv's seed 2, 16 epochs, the same 8,640 test images): sigma_unpaired^2 =
   sigma_b^2 + sigma_e^2 is what an unpaired contrast sees per training, sigma_e^2 what a paired one sees.
2. **Weight averaging (EMA, SWA).** curves-s34.csv records, in the same trainings, the test accuracy of the plain
   weights, of their EMA and of SWA over the last quarter of the epochs (``seknet.engine.averaging``). With two
   seeds of an arch, sigma comes from the seed-to-seed differences (paired by arch); with one, from the residual of
   the additive factorial fit over the archs trained so far (the answer curve's sigma).

3. **Early reads.** Stop the 16-epoch recipe at epoch 4, 8 or 12 and read its EMA (or its plain weights); against
   a complete 4-epoch schedule. sigma per unit of compute on the truth's scale (:func:`early_reads`).

    python -m benchmarks.noise_floor [--markdown]
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import Counter
from pathlib import Path

import numpy as np

from seknet.core import factorial, read_csv
from seknet.core.truth import factorial_rows

HERE = Path(__file__).resolve().parent / "truth"
METRICS = {"plain": "test_correct", "EMA": "ema_test_correct", "SWA": "swa_test_correct"}


def seed_table() -> dict[tuple[str, int], float]:
    """{(arch, seed): test accuracy in pp} of the 16-epoch factorial: truth.csv's seeds 0, 1 and curves.csv's 2."""
    out = {}
    for r in factorial_rows(read_csv(HERE / "truth.csv"), 16):
        out[(r["arch"], int(r["seed"]))] = 100 * float(r["accuracy"])
    archs = {a for a, _ in out}
    for r in read_csv(HERE / "curves.csv"):
        if r["arch"] in archs and r["epochs"] == r["epoch"] == "16" and r["seed"] == "2" and r["test_correct"]:
            out[(r["arch"], 2)] = 100 * int(r["test_correct"]) / int(r["test_n"])
    return out


def crn(table: dict[tuple[str, int], float]) -> dict[str, float]:
    """Two-way decomposition over the archs that every seed has: sigma_b (shared by a seed's archs), sigma_e (the
    rest), and the variance ratio a paired contrast saves."""
    seeds = sorted({s for _, s in table})
    archs = sorted(a for a in {a for a, _ in table} if all((a, s) in table for s in seeds))
    y = np.array([[table[(a, s)] for s in seeds] for a in archs])  # (A, S)
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    a, s = y.shape
    sigma_e2 = float((resid**2).sum()) / ((a - 1) * (s - 1))
    within = float(((y - y.mean(1, keepdims=True)) ** 2).sum()) / (a * (s - 1))  # sigma_b^2 + sigma_e^2, unpaired
    return {
        "archs": a,
        "seeds": s,
        "sigma_unpaired": math.sqrt(within),
        "sigma_paired": math.sqrt(sigma_e2),
        "sigma_seed": math.sqrt(max(within - sigma_e2, 0.0)),
        "trainings_ratio": sigma_e2 / within,
    }


def averaged(path: Path = HERE / "curves-s34.csv") -> dict[str, dict[str, float]]:
    """Per metric (plain, EMA, SWA): the trainings measured, sigma per training and the mean accuracy, over the
    complete 16-epoch trainings of curves-s34.csv (seed pairs where an arch has two seeds, else the fit residual)."""
    if not path.is_file():
        return {}
    final = [r for r in read_csv(path) if r["epoch"] == r["epochs"] == "16" and r["swa_test_correct"]]
    out = {}
    for name, col in METRICS.items():
        acc = {(r["arch"], int(r["seed"])): 100 * int(r[col]) / int(r["test_n"]) for r in final}
        pairs = [(acc[(a, 3)], acc[(a, 4)]) for a, s in acc if s == 3 and (a, 4) in acc]
        diffs = [x - y for x, y in pairs]
        if len(pairs) >= 3:
            sigma, how = math.sqrt(statistics.fmean(d**2 / 2 for d in diffs)), f"{len(pairs)} seed pairs"
        elif len({a for a, _ in acc}) >= 15:
            rows = [{"arch": a, "accuracy": v / 100} for (a, _), v in acc.items()]
            fit = factorial.fit(rows, pairs=False)
            sigma, how = fit.sigma, f"additive fit residual, df {fit.df}"
        else:
            continue
        out[name] = {"trainings": len(acc), "sigma": sigma, "mean": statistics.fmean(acc.values()), "how": how}
        out[name]["diffs"] = diffs if len(pairs) >= 3 else []
    return out


def ratio_interval(ref: list[float], other: list[float], level: float = 0.9, draws: int = 5000) -> tuple[float, ...]:
    """(ratio, low, high): the trainings ``other`` needs against ``ref`` (the ratio of their mean squares), with a
    ``level`` bootstrap interval over archs. ``ref`` and ``other`` are the same archs' seed-pair differences under
    two reads of the same trainings, so they move together; an interval that treats them as independent (an F
    interval) is far too wide."""
    a, b = np.asarray(ref), np.asarray(other)
    i = np.random.default_rng(0).integers(0, len(a), (draws, len(a)))
    boot = (b[i] ** 2).mean(axis=1) / (a[i] ** 2).mean(axis=1)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float((b**2).mean() / (a**2).mean()), float(low), float(high)


def averaging_gain(path: Path = HERE / "curves-s34.csv") -> list[tuple[str, int, int, float, float]]:
    """(metric, epoch, trainings, mean gain over the plain weights in pp, SD of that gain) at each epoch the averages
    were evaluated: how much of a training's outcome the average changes, paired within the training."""
    if not path.is_file():
        return []
    rows = [r for r in read_csv(path) if r["epochs"] == "16" and r["ema_test_correct"]]
    out = []
    for name, col in list(METRICS.items())[1:]:
        for epoch in sorted({int(r["epoch"]) for r in rows if r[col]}):
            d = [
                100 * (int(r[col]) - int(r["test_correct"])) / int(r["test_n"])
                for r in rows
                if r["epoch"] == str(epoch)
            ]
            if len(d) > 1:
                out.append((name, epoch, len(d), statistics.fmean(d), statistics.stdev(d)))
    return out


def read_noise(reads: dict[str, float], judge: dict[str, list[float]]) -> dict[str, float]:
    """How noisy one training's read of an arch is, in pp of the truth (the 16-epoch accuracy).

    ``reads``: {arch: one training's read (pp)}, e.g. the EMA at epoch 8 of 16; ``judge``: {arch: the truth's
    16-epoch accuracies (pp) under other seeds}. The reads are regressed on the judge's arch means x = mu + u, whose
    own noise (Var u = se^2, from the judge's seeds) is taken out (errors in variables: lambda = 1 - se^2 / Var x,
    true slope b = beta / lambda, sigma^2 = r^2 - beta^2 se^2 / lambda, with beta and r^2 the fitted slope and residual
    variance). ``sigma_eff`` = sigma / b is what a contrast read this way sees per training, on the truth's scale;
    it counts an arch's systematic departure (a fast starter) as noise, so it is an upper bound on the seed noise."""
    archs = sorted(a for a in reads if len(judge.get(a, ())) >= 2)
    x = np.array([statistics.fmean(judge[a]) for a in archs])
    y = np.array([reads[a] for a in archs])
    se2 = statistics.fmean(statistics.variance(judge[a]) / len(judge[a]) for a in archs)
    lam = 1 - se2 / x.var(ddof=1)
    beta, alpha = np.polyfit(x, y, 1)
    r2 = float(((y - alpha - beta * x) ** 2).sum()) / (len(archs) - 2)
    b = beta / lam
    sigma = math.sqrt(max(r2 - beta**2 * se2 / lam, 0.0))
    return {"archs": len(archs), "slope": float(b), "sigma": sigma, "sigma_eff": sigma / b if b > 0 else math.inf}


def early_reads(
    path: Path = HERE / "curves-s34.csv", short: Path = HERE / "curves.csv", judge_seeds: tuple[int, ...] = (0, 1, 2)
) -> list[dict]:
    """A third lever: stop the 16-epoch recipe early and read the EMA (or the plain weights) there, against a
    complete short schedule. Per read: sigma_eff (:func:`read_noise`, each data seed of curves-s34.csv against the
    16-epoch truth of ``judge_seeds``, averaged over data seeds), its compute in 16-epoch trainings, and the
    trainings-compute a contrast needs against the plain weights at epoch 16 (sigma_eff^2 x compute); and, where
    seeds 3 and 4 both trained an arch, the seed-to-seed noise of the read alone (pairs: sigma_seed / slope)."""
    from benchmarks.answer_data import ARCHS, CURVES, CURVES_S34, Curves, Truth, seed_rows

    judge: dict[str, list[float]] = {}
    for s, rows in seed_rows(Truth(), Curves.merged(CURVES, CURVES_S34)).items():
        for r in rows if s in judge_seeds else []:
            judge.setdefault(r["arch"], []).append(100 * float(r["accuracy"]))
    reads: dict[tuple[str, int, int], dict[tuple[str, int], float]] = {}  # (metric, schedule, epoch) -> {(arch, seed)}
    for src, schedule in ((path, 16), (short, 4)):
        for r in read_csv(src) if src.is_file() else []:
            if int(r["epochs"]) != schedule or int(r["seed"]) in judge_seeds:
                continue
            for name, col in METRICS.items():
                if name != "SWA" and r.get(col):
                    key = (name, schedule, int(r["epoch"]))
                    reads.setdefault(key, {})[(r["arch"], int(r["seed"]))] = 100 * int(r[col]) / int(r["test_n"])
    out = []
    for (name, schedule, epoch), got in sorted(reads.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        seeds = sorted(s for s, n in Counter(s for _, s in got).items() if n == len(ARCHS))  # seeds with every arch
        if not seeds:
            continue
        fits = [read_noise({a: v for (a, u), v in got.items() if u == s}, judge) for s in seeds]
        row = {
            "read": f"{name}, epoch {epoch} of {schedule}",
            "seeds": seeds,
            "slope": statistics.fmean(f["slope"] for f in fits),
            "sigma_eff": math.sqrt(statistics.fmean(f["sigma_eff"] ** 2 for f in fits)),
            "compute": epoch / 16,
        }
        pairs = [(v, got[(a, 4)]) for (a, u), v in got.items() if u == 3 and (a, 4) in got]
        if len(pairs) >= 3 and row["slope"] > 0:
            row["pairs"] = len(pairs)
            row["sigma_seed_eff"] = math.sqrt(statistics.fmean((p - q) ** 2 / 2 for p, q in pairs)) / row["slope"]
        out.append(row)
    ref = next((r for r in out if r["read"] == "plain, epoch 16 of 16"), None)
    for r in out:
        r["vs_plain16"] = r["sigma_eff"] ** 2 * r["compute"] / (ref["sigma_eff"] ** 2) if ref else math.nan
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    c = crn(seed_table())
    bar = "| " if args.markdown else ""
    print(f"{bar}common random numbers: {c['archs']} archs x {c['seeds']} seeds, 16 epochs, 8,640 test images")
    print(
        f"{bar}sigma per training, unpaired {c['sigma_unpaired']:.3f} pp; paired within a seed {c['sigma_paired']:.3f}"
        f" pp (seed-shared part {c['sigma_seed']:.3f} pp): a paired contrast needs {c['trainings_ratio']:.2f} x the"
        " trainings of an unpaired one"
    )
    for name, epoch, n, gain, sd in averaging_gain():
        print(
            f"{bar}{name} at epoch {epoch} of 16: {gain:+.2f} pp over the plain weights (SD {sd:.2f} pp, {n} trainings)"
        )
    avg = averaged()
    if not avg:
        print(f"{bar}EMA / SWA: too few trainings in curves-s34.csv yet")
    for name, m in avg.items():
        ratio = (m["sigma"] / avg["plain"]["sigma"]) ** 2
        paired = ""
        if m["diffs"] and name != "plain":
            _, low, high = ratio_interval(avg["plain"]["diffs"], m["diffs"])
            paired = f" (90 % interval, paired over the seed pairs: {low:.2f}-{high:.2f})"
        print(
            f"{bar}{name}: {m['trainings']} trainings, mean {m['mean']:.2f} %, sigma {m['sigma']:.3f} pp ({m['how']});"
            f" trainings needed vs plain x {ratio:.2f}{paired}"
        )
    print(f"{bar}early reads against the 16-epoch truth of seeds 0, 1, 2 (errors in variables):")
    for r in early_reads():
        if r["slope"] <= 0.1:
            print(f"{bar}{r['read']} (seeds {r['seeds']}): slope {r['slope']:.2f}: it reads no ranking")
            continue
        pairs = f"; seed pairs ({r['pairs']}): {r['sigma_seed_eff']:.3f} pp" if "pairs" in r else ""
        print(
            f"{bar}{r['read']} (seeds {r['seeds']}): slope {r['slope']:.2f}, sigma_eff {r['sigma_eff']:.3f} pp at"
            f" {r['compute']:.2f} of a 16-epoch training: a contrast needs x {r['vs_plain16']:.2f} the compute of"
            f" plain weights at epoch 16{pairs}"
        )


if __name__ == "__main__":
    main()

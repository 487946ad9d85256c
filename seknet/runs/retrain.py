"""The truth check: retrain a run's front (and random others) stand-alone, and measure rank agreement.

A supernet's front is only as good as its ranking (SPOS, arXiv 1904.00420; "How to Train Your
Super-Net", arXiv 2003.04276). Each chosen arch is trained from scratch under ``seeds`` seeds as Ray
Tune trials; Kendall tau and Spearman rho compare the run's scores with the stand-alone mean, and the
seed-vs-seed tau of the same archs gives the ceiling no ranking can beat.

Stand-alone accuracy is measured on the *test* split: its source digits are disjoint from the
validation images the run scored on, so the two accuracies share no image-sampling noise (which
would inflate tau), and on digits it can be drawn larger (``test_variants`` per source) than the
validation split, because most seed-to-seed disagreement on a small evaluation set is the set's own
sampling noise (Jordan, "On the variance of neural network training", arXiv 2304.01910).
"""

from __future__ import annotations

import itertools
import random
import statistics
from dataclasses import replace
from pathlib import Path

from seknet.core.config import RunConfig
from seknet.core.fileio import read_yaml, write_atomic, write_csv, write_yaml
from seknet.core.pareto import pareto_front
from seknet.core.stats import mean_ceiling_tau, rank_agreement, replication_tau, tau_interval
from seknet.data.load import check_data, run_data
from seknet.engine.ray_trials import local_gpus, standalone_trainable, train_jobs
from seknet.engine.train import TrainConfig
from seknet.runs.files import RETRAIN_TYPES, load_run, read_table
from seknet.runs.objective import column
from seknet.runs.rows import comparable_rows, front_rows
from seknet.runs.study import STUDY_FILE, run_study, write_study

RETRAIN_COLUMNS = [
    "arch",
    "macs",
    "params",
    "picked_as",
    "run_accuracy",
    "seed",
    "accuracy",
    "n_eval",
    "status",
    "error",
]


def pick_archs(rows: list[dict], top: int, n_random: int, seed: int, cost: str = "macs") -> list[tuple[dict, str]]:
    """(row, why): the ``top`` most accurate archs of the run's front (on its ``cost`` column, ``macs`` or
    ``latency_ms``), then ``n_random`` others drawn uniformly by ``seed``."""
    comparable = comparable_rows(rows)
    front = sorted(front_rows(rows, cost), key=lambda r: -float(r["accuracy"]))[:top]
    chosen = {r["arch"] for r in front}
    others = [r for r in comparable if r["arch"] not in chosen]
    drawn = random.Random(seed).sample(others, min(n_random, len(others)))
    return [(r, "front") for r in front] + [(r, "random") for r in drawn]


TEST_VARIANTS = 24  # digits: 360 test sources x 24 = 8,640 images for stand-alone accuracy


def retrain(
    run: Path,
    top: int,
    n_random: int,
    epochs: int,
    seeds: int,
    gpus_per_trial: float = 0.0,
    progress: bool = True,
    test_variants: int = TEST_VARIANTS,
    address: str | None = None,
) -> dict:
    """Retrain the picked archs of ``run`` under ``seeds`` seeds; write retrain.csv/.yaml/.png into ``run``, and its
    study.db anew, each retrained arch's trial with its stand-alone accuracy and interval (``seknet.runs.study``).

    Stand-alone accuracy is taken on the test split, on digits drawn ``test_variants`` times per source.
    ``address``: train on this Ray cluster instead of a local Ray.
    """
    done_run = load_run(run)
    cfg = replace(
        done_run.settings(RunConfig, ("space", "data", "data_root", "seed", "smoke", "objective")), progress=progress
    )
    space = done_run.space
    if test_variants < 1:
        raise ValueError(f"--test-variants must be >= 1, got {test_variants}")
    data = run_data(cfg, space.input_size, test_variants=None if cfg.smoke else test_variants)
    check_data(space, data)
    data = replace(data, val=data.test)  # trials evaluate on their data's val split: make it the test split
    picked = pick_archs(done_run.rows, top, n_random, cfg.seed, column(cfg.objective))
    if len(picked) < 2:
        raise ValueError(f"{run}: fewer than 2 archs to retrain; raise --top or --random")
    seed_list = [cfg.seed + k for k in range(seeds)]
    done = reusable_rows(run, epochs, len(data.test))
    jobs = [(r["arch"], s) for r, _ in picked for s in seed_list if (r["arch"], s) not in done]
    if len(jobs) < len(picked) * len(seed_list):
        print(
            f"reusing {len(picked) * len(seed_list) - len(jobs)} finished (arch, seed) trainings from "
            f"{run}/retrain.csv; training {len(jobs)}"
        )
    rows = [
        done[(r["arch"], s)] | {"picked_as": why, "seed": s}
        for r, why in picked
        for s in seed_list
        if (r["arch"], s) in done
    ]
    trainable = standalone_trainable(space, data, TrainConfig(epochs), gpus_per_trial=gpus_per_trial)
    jobs_ = [{"arch": a, "seed": s, "epochs": epochs} for a, s in jobs]
    folder, gpus, n_val = run / "retrain_tune", local_gpus(gpus_per_trial, address), len(data.val)
    trained = train_jobs(jobs_, trainable, folder, n_val, progress, address, gpus, retry_failed=True) if jobs else []
    rows += _retrain_rows(trained, picked)
    rows.sort(key=lambda r: (r["arch"], r["seed"]))
    asked = {(r["arch"], r["seed"]) for r in rows}
    kept = sorted(
        (r | {"seed": k[1]} for k, r in done.items() if k not in asked),
        key=lambda r: (r["arch"], r["seed"]),
    )
    summary = _summarise(run, rows, seed_list, epochs, n_test=len(data.test), kept=kept)
    write_study(run / STUDY_FILE, {Path(run).resolve().name: run_study(run)})  # its trials gain the stand-alone means
    print(f"updated {run}/{STUDY_FILE}: each retrained arch's trial holds its stand-alone accuracy and interval")
    return summary


def _retrain_rows(trained: list[dict], picked: list[tuple[dict, str]]) -> list[dict]:
    """retrain.csv's rows of the ledger rows ``trained``: each with its arch's run row and why it was picked."""
    by_arch = {r["arch"]: (r, why) for r, why in picked}
    rows = []
    for t in trained:
        r, why = by_arch[t["arch"]]
        row = {"arch": t["arch"], "macs": r["macs"], "params": r["params"], "picked_as": why}
        row |= {"run_accuracy": r["accuracy"], "seed": int(t["seed"]), "accuracy": t["accuracy"]}
        rows.append(row | {"n_eval": t["n_eval"], "status": t["status"], "error": t["error"]})
    return rows


def reusable_rows(run: Path, epochs: int, n_test: int) -> dict[tuple[str, int], dict]:
    """{(arch, seed): row} of ``run``'s earlier retrain.csv that a new retrain can keep instead of training again.

    Only complete rows of a retrain with the same ``epochs``, evaluated on the same ``n_test`` images, count:
    training is seeded, so the same (arch, seed) would give the same accuracy; a retrain that asks for
    more seeds or more archs trains just the missing pairs.
    """
    csv_file, yaml_file = run / "retrain.csv", run / "retrain.yaml"
    if not csv_file.is_file() or not yaml_file.is_file():
        return {}
    earlier = read_yaml(yaml_file, "missing")
    if not isinstance(earlier, dict) or earlier.get("epochs") != epochs:
        return {}
    return {
        (r["arch"], int(r["seed"])): r
        for r in read_table(csv_file, RETRAIN_TYPES)
        if r["status"] == "complete" and r["n_eval"] == str(n_test)
    }


def _summarise(run: Path, rows: list[dict], seeds: list[int], epochs: int, n_test: int, kept=()) -> dict:
    """Write retrain.csv (``rows``, then ``kept``: finished rows of earlier retrains of the same epochs that this
    one did not ask for, so fewer seeds or archs never throw training away), retrain.yaml and retrain.png."""
    ok = {}
    for r in rows:
        if r["status"] == "complete":
            ok.setdefault(r["arch"], {})[r["seed"]] = float(r["accuracy"])
    archs = [a for a, per in ok.items() if len(per) == len(seeds)]  # every seed finished
    run_acc = {r["arch"]: float(r["run_accuracy"]) for r in rows}
    mean = {a: statistics.fmean(ok[a].values()) for a in archs}
    tau, rho = rank_agreement([run_acc[a] for a in archs], [mean[a] for a in archs])
    tau_lo, tau_hi = tau_interval([run_acc[a] for a in archs], [mean[a] for a in archs])
    pair_taus = [
        rank_agreement([ok[a][s] for a in archs], [ok[a][t] for a in archs])[0]
        for s, t in itertools.combinations(seeds, 2)
    ]
    ceiling = statistics.fmean(pair_taus) if pair_taus else float("nan")
    macs = {r["arch"]: int(r["macs"]) for r in rows}
    front_idx = pareto_front([(macs[a], mean[a]) for a in archs])
    summary = {
        "archs": len(archs),
        "seeds": seeds,
        "epochs": epochs,
        "evaluated_on": f"test split, {n_test} images",
        "kendall_tau": round(tau, 4),
        "kendall_tau_95": [round(tau_lo, 4), round(tau_hi, 4)],
        "spearman_rho": round(rho, 4),
        "seed_vs_seed_tau": round(ceiling, 4),
        "seed_pair_taus": [round(t, 4) for t in pair_taus],
        "mean_ceiling_tau": round(mean_ceiling_tau([list(ok[a].values()) for a in archs]), 4),
        "replication_tau": round(replication_tau([list(ok[a].values()) for a in archs]), 4),
        "standalone_front": [
            {"arch": archs[i], "macs": macs[archs[i]], "mean_accuracy": round(mean[archs[i]], 6)} for i in front_idx
        ],
        "failed_trials": sum(r["status"] == "failed" for r in rows),
    }
    write_csv(run / "retrain.csv", [*rows, *kept], RETRAIN_COLUMNS)
    write_yaml(run / "retrain.yaml", summary)
    _plot(run / "retrain.png", archs, run_acc, ok, mean, summary)
    print(
        f"\nretrained {len(archs)} archs x {len(seeds)} seeds ({epochs} epochs): Kendall tau {tau:.3f} "
        f"(95 % bootstrap over archs {tau_lo:.2f} to {tau_hi:.2f}), "
        f"Spearman rho {rho:.3f} (run score vs stand-alone mean); seed-vs-seed tau {ceiling:.3f}; "
        f"ceiling against the {len(seeds)}-seed mean {summary['mean_ceiling_tau']:.3f}; an independent "
        f"{len(seeds)}-seed retrain would agree at {summary['replication_tau']:.3f}"
    )
    print(f"wrote {run}/retrain.csv, retrain.yaml, retrain.png")
    return summary


def _plot(path: Path, archs, run_acc, per_seed, mean, summary) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6))
    for a in archs:
        xs = [run_acc[a] * 100] * len(per_seed[a])
        ax.scatter(xs, [v * 100 for v in per_seed[a].values()], s=8, c="0.7")
    ax.scatter(
        [run_acc[a] * 100 for a in archs],
        [mean[a] * 100 for a in archs],
        s=24,
        c="tab:red",
        label="stand-alone mean over seeds",
    )
    ax.set_xlabel("run score (supernet, inherited weights) %")
    ax.set_ylabel("stand-alone accuracy %")
    ax.set_title(
        f"{summary['archs']} archs: Kendall tau {summary['kendall_tau']:.2f}, Spearman rho "
        f"{summary['spearman_rho']:.2f}; seed-vs-seed tau {summary['seed_vs_seed_tau']:.2f}"
    )
    ax.legend()
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    write_atomic(path, buf.getvalue())

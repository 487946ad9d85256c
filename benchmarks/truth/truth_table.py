"""The placement truth: stand-alone accuracy of a full factorial of attention placements on digits.

Plans (run in this order by ``--plan all``; every plan keeps the rows it finds in the table):

- ``plateau``   3 archs (none / se16 / sk2 in every stage), seed 0, at 8 and at 16 epochs: does 8 epochs
                suffice (<= 0.3 pp mean gain from 8 to 16)? The answer fixes the epochs of the others and
                is written to ``plateau.yaml``.
- ``factorial`` {none, se16, sk2} in each of the 4 stages: 81 archs x ``--seeds`` seeds (seed 0 of every
                arch first, so a half-finished table is already balanced).
- ``axes``      in ``--axes-stage`` (default: the stage of the largest factorial effect), every SE r and SK M
                with the other stages at ``none``, ``--axes-seeds`` seeds.
- ``se-factorial`` {none, se16} in each stage: 16 archs x ``--seeds`` seeds (not in ``all``). With ``--space`` a
                variant that changes only SE (e.g. ``digits-se-gain2.yaml``), the SE-vs-none truth of that
                variant at a fifth of the full factorial's cost.

``--space`` trains another space than the default digits one; its rows carry the space's name in ``recipe``
(use another ``--table`` too, as ``search.py check --truth`` reads one space's table).

Recipe (the retrain recipe): ``seknet.standalone`` training, 8 epochs (or 16), lr 0.1 cosine, batch 128,
digits data seed 0, accuracy on the test split drawn 24x per source (8,640 images).

Resumable: the trainings run as Ray Tune trials through the project's one runner
(``seknet.engine.ray_trials.train_jobs``), whose ledger (``benchmarks/truth/.tune/<table>/trainings.csv``) keeps every
finished training, so a kill loses only the trainings in flight; a rerun skips every (arch, seed, epochs) already in
the table or the ledger. Each trial has one CPU and one thread, ``--workers`` at once.

    nohup nice -n 19 python -m benchmarks.truth.truth_table --plan all --workers 2 > benchmarks/truth/log.txt 2>&1 &

(nice 19: Ray runs its workers at nice 15, so a truth table at nice 0 beside a search starves its scoring.)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


import seknet
from seknet.core import ALL_CHOICES, load_space, truth
from seknet.data import load_data
from seknet.engine import TrainConfig
from seknet.engine.ray_trials import standalone_trainable, train_jobs
from seknet.runs import git_commit as checkout_commit

SPACE = HERE.parents[1] / "search_space" / "digits.yaml"
LEVELS = ("none", "se16", "sk2")  # the factorial's levels per stage
PLATEAU_ARCHS = tuple("-".join([c] * 4) for c in LEVELS)
TEST_VARIANTS = 24  # 360 test sources x 24 = 8,640 images
DATA_SEED = 0
RECIPE = "sgd-nesterov lr0.1 cosine batch128 wd5e-4; digits data seed 0; test split 24 per source"
COLUMNS = [
    "arch",
    "seed",
    "epochs",
    "correct",
    "n",
    "accuracy",
    "macs",
    "params",
    "recipe",
    "git_commit",
    "seconds",
]
PLATEAU_GAIN_PP = 0.3


def read_rows(table: Path) -> list[dict]:
    """The finished rows of ``table`` (none if it does not exist); a torn last line (killed mid-write) is skipped."""
    if not table.is_file():
        return []
    with open(table, newline="") as f:
        return [r for r in csv.DictReader(f) if r.get("seconds") not in (None, "")]


def recipe(space: Path) -> str:
    """RECIPE, naming the space when it is not the default one."""
    return RECIPE if space.resolve() == SPACE.resolve() else f"{RECIPE}; space {load_space(space).name}"


def done_keys(rows: list[dict], space: Path = SPACE) -> set[tuple[str, int, int]]:
    want = recipe(space)
    return {(r["arch"], int(r["seed"]), int(r["epochs"])) for r in rows if r["recipe"] == want}


def factorial_archs(levels: tuple[str, ...] = LEVELS) -> list[str]:
    return ["-".join(p) for p in itertools.product(levels, repeat=4)]


def axes_archs(stage: int, n_stages: int = 4) -> list[str]:
    """Every choice in ``stage`` with the other stages at none."""
    return ["-".join(c if i == stage else "none" for i in range(n_stages)) for c in ALL_CHOICES]


def plateau_epochs(rows: list[dict]) -> int | None:
    """8 when the plateau archs gain <= 0.3 pp on average from 8 to 16 epochs, 16 when more; None until measured."""
    acc = {(r["arch"], int(r["epochs"])): float(r["accuracy"]) for r in rows if int(r["seed"]) == 0}
    if not all((a, e) in acc for a in PLATEAU_ARCHS for e in (8, 16)):
        return None
    gains = [100 * (acc[(a, 16)] - acc[(a, 8)]) for a in PLATEAU_ARCHS]
    return 8 if sum(gains) / len(gains) <= PLATEAU_GAIN_PP else 16


def git_commit() -> str:
    """The checkout's short commit, recorded in each row."""
    return (checkout_commit() or "unknown")[:7]


def run_jobs(table: Path, jobs: list[tuple[str, int, int]], workers: int, space: Path = SPACE) -> None:
    """Train every job not yet in ``table`` as Ray Tune trials (``seknet.engine.ray_trials.train_jobs``: one CPU and
    one thread each, ``workers`` at once, its ledger in ``benchmarks/truth/.tune/``), then append each new complete
    training's row to ``table``."""
    todo = [j for j in dict.fromkeys(jobs) if j not in done_keys(read_rows(table), space)]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} already in {table.name}; training {len(todo)}", flush=True)
    if not todo:
        return
    from dataclasses import replace

    data = load_data("digits", seed=DATA_SEED, test_variants=TEST_VARIANTS)
    data = replace(data, val=data.test)  # a trial scores its data's val split: the truth is on the test images
    sp = load_space(space)
    trainable = standalone_trainable(sp, data, TrainConfig())  # each job names its seed and epochs
    folder = HERE / ".tune" / table.stem
    job_dicts = [{"arch": a, "seed": s, "epochs": e} for a, s, e in todo]
    rows = train_jobs(job_dicts, trainable, folder, len(data.test), progress=False, num_cpus=workers)
    commit, new = git_commit(), not table.is_file() or table.stat().st_size == 0
    with open(table, "a", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        if new:
            w.writeheader()
        for r in (r for r in rows if r["status"] == "complete"):
            c = seknet.count(sp.parse(r["arch"]))
            w.writerow(
                {"arch": r["arch"], "seed": r["seed"], "epochs": r["epochs"], "correct": r["correct"]}
                | {"n": r["n_eval"], "accuracy": r["accuracy"], "macs": c.macs, "params": c.params}
                | {"recipe": recipe(space), "git_commit": commit, "seconds": r["seconds"]}
            )
        f.flush()
        os.fsync(f.fileno())
    for r in rows:
        print(f"{r['arch']} seed {r['seed']} {r['epochs']} ep: {r['status']} {r['accuracy']} {r['error']}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", choices=["plateau", "factorial", "axes", "all", "se-factorial"], default="all")
    p.add_argument(
        "--space",
        type=Path,
        default=SPACE,
        help="a digits space (default: search_space/digits.yaml)",
    )
    p.add_argument("--table", type=Path, default=HERE / "truth.csv")
    p.add_argument("--seeds", type=int, default=2, help="factorial seeds per arch (>= 2)")
    p.add_argument("--axes-seeds", type=int, default=3)
    p.add_argument(
        "--axes-stage",
        type=int,
        default=None,
        help="default: the stage of the largest factorial effect",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: what the plateau check decides")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)

    if args.plan in ("plateau", "all"):
        run_jobs(
            args.table,
            [(a, 0, e) for a in PLATEAU_ARCHS for e in (8, 16)],
            args.workers,
            args.space,
        )
        decided = plateau_epochs(read_rows(args.table))
        (HERE / "plateau.yaml").write_text(yaml.safe_dump({"epochs": decided, "gain_limit_pp": PLATEAU_GAIN_PP}))
        print(f"plateau check: {decided} epochs")
    epochs = args.epochs or plateau_epochs(read_rows(args.table))
    if epochs is None:
        sys.exit("truth_table: the plateau check has not run; run --plan plateau first or give --epochs")
    if args.plan in ("factorial", "all"):
        jobs = [(a, s, epochs) for s in range(args.seeds) for a in factorial_archs()]
        run_jobs(args.table, jobs, args.workers, args.space)
    if args.plan in ("axes", "all"):
        stage = args.axes_stage
        if stage is None:
            stage = truth.largest_effect_stage(read_rows(args.table), epochs)
        jobs = [(a, s, epochs) for s in range(args.axes_seeds) for a in axes_archs(stage)]
        run_jobs(args.table, jobs, args.workers, args.space)
    if args.plan == "se-factorial":
        jobs = [(a, s, epochs) for s in range(args.seeds) for a in factorial_archs(("none", "se16"))]
        run_jobs(args.table, jobs, args.workers, args.space)


if __name__ == "__main__":
    main()

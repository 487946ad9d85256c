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

Resumable: each finished training is appended to ``truth.csv`` (one line, flushed and fsynced) and a
rerun skips every (arch, seed, epochs) already there, so a kill loses only the trainings in flight.
Workers are processes with one thread each.

    nohup nice -n 19 python benchmarks/truth/truth_table.py --plan all --workers 2 > benchmarks/truth/log.txt 2>&1 &

(nice 19: Ray runs its workers at nice 15, so a truth table at nice 0 beside a search starves its scoring.)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import torch

from seknet.core import truth
from seknet.core.attention import ALL_CHOICES
from seknet.core.count import count
from seknet.core.space import load_space
from seknet.data.load import load_data
from seknet.engine.standalone import standalone_correct
from seknet.engine.train import TrainConfig
from seknet.runs import folder

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
    return (folder.git_commit() or "unknown")[:7]


_DATA, _SPACE = None, SPACE


def _init_worker(space: Path) -> None:
    global _DATA, _SPACE
    torch.set_num_threads(1)
    _DATA, _SPACE = load_data("digits", seed=DATA_SEED, test_variants=TEST_VARIANTS), space


def _train(job: tuple[str, int, int]) -> dict:
    arch_text, seed, epochs = job
    arch = load_space(_SPACE).parse(arch_text)
    t0 = time.perf_counter()
    correct = standalone_correct(arch, _DATA.train, _DATA.test, TrainConfig(epochs=epochs, seed=seed))
    c, n = count(arch), len(_DATA.test)
    return {
        "arch": arch_text,
        "seed": seed,
        "epochs": epochs,
        "correct": correct,
        "n": n,
        "accuracy": round(correct / n, 6),
        "macs": c.macs,
        "params": c.params,
        "recipe": recipe(_SPACE),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def run_jobs(table: Path, jobs: list[tuple[str, int, int]], workers: int, space: Path = SPACE) -> None:
    """Train every job not yet in ``table``, appending each finished row at once."""
    todo = [j for j in dict.fromkeys(jobs) if j not in done_keys(read_rows(table), space)]
    print(
        f"{len(jobs) - len(todo)} of {len(jobs)} already in {table.name}; training {len(todo)}",
        flush=True,
    )
    if not todo:
        return
    commit = git_commit()
    new = not table.is_file() or table.stat().st_size == 0
    with (
        open(table, "a", newline="") as f,
        mp.get_context("spawn").Pool(workers, _init_worker, (space,)) as pool,
    ):
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        if new:
            w.writeheader()
        for k, row in enumerate(pool.imap_unordered(_train, todo), 1):
            w.writerow(row | {"git_commit": commit})
            f.flush()
            os.fsync(f.fileno())
            print(
                f"[{k}/{len(todo)}] {row['arch']} seed {row['seed']} {row['epochs']} ep: "
                f"{100 * row['accuracy']:.2f} % ({row['seconds']} s)",
                flush=True,
            )


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

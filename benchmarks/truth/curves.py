"""Learning curves of the 81 factorial archs under new seeds: the data every from-scratch route is replayed on.

Each job trains one arch stand-alone with the truth's recipe (``seknet.standalone``, lr 0.1 cosine over
``--epochs``, batch 128, digits data seed 0) and records after every epoch:

- ``val_correct``: correct of the 8,616-image validation draw (24 per validation source, ``VAL_VARIANTS``), the
  images a route may score on; disjoint in sources from the truth's test images;
- ``test_correct``: correct of the truth's 8,640 test images, at the epochs in ``TEST_EPOCHS`` only (blank
  elsewhere): the late-bloom study and a third stand-alone replicate at 16 epochs;
- ``loss``: the epoch's mean training loss, ``seconds``: training seconds so far (evaluation excluded).

Evaluating does not change training (no RNG is drawn, BN is frozen in eval mode). The training code has changed
since truth.csv was made (the data-order RNG became resumable), so seed 0 here does not give truth.csv's seed-0
count (none-none-none-none: 7,797 vs 7,773 of 8,640): same recipe, another draw.

The 5-seed truth (issue 31): seeds 3 and 4 of the 81 archs at 16 epochs go to ``curves-s34.csv``, which also
records, at no extra training, the accuracy of the EMA of the weights (``ema_*``, at the ``TEST_EPOCHS``) and of SWA
over the last quarter of the epochs (``swa_*``, at the last epoch), on the same images (``seknet.engine.averaging``):

    nohup nice -n 19 python -m benchmarks.truth.curves --seeds 3 4 --table benchmarks/truth/curves-s34.csv \
        --workers 2 > benchmarks/truth/curves-s34.log 2>&1 &

The truth's seeds are 0 and 1, so the curves use seeds 2, 3, 4: a route replayed on them is independent of the
truth it is scored against. Jobs go seed by seed (seed 2 of every arch first), so a half-finished table is
balanced. The trainings run as Ray Tune trials through the project's one runner
(``seknet.engine.ray_trials.train_jobs``; one CPU and one thread each, ``--workers`` at once; its ledger in
``benchmarks/truth/.tune/<table>/``). Resumable: every finished training appends its ``--epochs`` rows at once, as it
finishes (flushed, fsynced); a rerun skips every (arch, seed, epochs) that is complete in the table or the ledger,
and a torn training (fewer rows) is trained again.

Warm starts (``--init RUN [RUN ...] --lr LR --table benchmarks/truth/warm.csv``): each arch starts from the weights
of a one-shot run's supernet (``Supernet.extract``, what ``run --mode multitrial --init supernet`` trains from)
instead of its seeded initial weights, and is fine-tuned for ``--epochs`` on a cosine schedule from ``LR``; the seed
of a warm row is the supernet run's seed (its training seed too), and ``init`` names the run.

    nohup nice -n 19 python -m benchmarks.truth.curves --seeds 2 3 4 --workers 2 > benchmarks/truth/curves.log 2>&1 &
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import torch

from seknet.core import load_space
from seknet.data import load_digits
from seknet.engine import TrainConfig, WeightAverages, evaluate, initial_model, train_standalone
from seknet.engine.ray_trials import job_of, train_jobs, trial_callback, trial_resources
from seknet.nn import Supernet
from seknet.runs import load_state_dict

SPACE = HERE.parents[1] / "search_space" / "digits.yaml"
TABLE = HERE / "curves.csv"
LEVELS = ("none", "se16", "sk2")
DATA_SEED, VAL_VARIANTS, TEST_VARIANTS = 0, 24, 24
TEST_EPOCHS = (4, 8, 12, 16)
COLUMNS = [
    "arch",
    "seed",
    "epochs",
    "epoch",
    "loss",
    "val_correct",
    "val_n",
    "test_correct",
    "test_n",
    "seconds",
    "git_commit",
]
WARM_COLUMNS = COLUMNS[:-1] + ["init", "lr", "git_commit"]
# EMA weights at the TEST_EPOCHS and SWA weights at the last epoch, on the same images (seknet.engine.averaging)
AVERAGE_COLUMNS = ["ema_val_correct", "ema_test_correct", "swa_val_correct", "swa_test_correct"]


def factorial_archs() -> list[str]:
    """The 81 archs {none, se16, sk2}^4, in lexicographic order."""
    import itertools

    return ["-".join(p) for p in itertools.product(LEVELS, repeat=4)]


def read_curves(table: Path = TABLE) -> list[dict]:
    """The rows of every complete training in ``table`` (a training with fewer rows than its epochs is dropped)."""
    if not table.is_file():
        return []
    with open(table, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("git_commit")]
    count: dict[tuple, int] = {}
    for r in rows:
        key = (r["arch"], r["seed"], r["epochs"])
        count[key] = count.get(key, 0) + 1
    return [r for r in rows if count[(r["arch"], r["seed"], r["epochs"])] == int(r["epochs"])]


def done(table: Path) -> set[tuple[str, int, int]]:
    return {(r["arch"], int(r["seed"]), int(r["epochs"])) for r in read_curves(table)}


_VAL, _TEST, _TRAIN = None, None, None


def _load() -> None:
    """The trial process's images, once: the truth's training and test images and the larger validation draw."""
    global _VAL, _TEST, _TRAIN
    if _VAL is not None:
        return
    torch.set_num_threads(1)
    truth_data = load_digits(DATA_SEED, test_variants=TEST_VARIANTS)  # the truth's train and test images
    _TRAIN, _TEST = truth_data.train, truth_data.test
    _VAL = load_digits(DATA_SEED, eval_variants=VAL_VARIANTS).val  # same train images, a larger validation draw


def _train(job: tuple) -> list[dict]:
    """Train one (arch, seed, epochs[, init run, lr]) job; its rows, one per epoch."""
    arch_text, seed, epochs, *warm = job
    arch = load_space(SPACE).parse(arch_text)
    rows: list[dict] = []
    clock = {"train": 0.0, "t0": time.perf_counter()}
    averages = WeightAverages(epochs)
    if warm:
        import seknet

        run, lr = warm
        space = seknet.Run(run).space
        arch = space.parse(arch_text)
        model = Supernet.for_state(space, load_state_dict(Path(run) / "supernet.pt")).extract(arch)
    else:
        model = initial_model(arch, seed)
        lr = TrainConfig.lr

    def on_epoch(epoch: int, loss: float) -> None:
        clock["train"] += time.perf_counter() - clock["t0"]
        at_test = epoch in TEST_EPOCHS or epoch == epochs
        test = evaluate(model, _TEST) if at_test else ""
        ema = averages.ema_model(model) if at_test else None
        swa = averages.swa_model(model, _TRAIN) if epoch == epochs else None
        rows.append(
            {
                "arch": arch_text,
                "seed": seed,
                "epochs": epochs,
                "epoch": epoch,
                "loss": round(loss, 5),
                "val_correct": evaluate(model, _VAL),
                "val_n": len(_VAL),
                "test_correct": test,
                "test_n": len(_TEST),
                "seconds": round(clock["train"], 2),
            }
            | ({"init": Path(warm[0]).name, "lr": lr} if warm else {})
            | {
                "ema_val_correct": "" if ema is None else evaluate(ema, _VAL),
                "ema_test_correct": "" if ema is None else evaluate(ema, _TEST),
                "swa_val_correct": "" if swa is None else evaluate(swa, _VAL),
                "swa_test_correct": "" if swa is None else evaluate(swa, _TEST),
            }
        )
        clock["t0"] = time.perf_counter()

    cfg = TrainConfig(epochs=epochs, lr=lr, seed=seed)
    train_standalone(arch, _TRAIN, cfg, model=model, on_epoch=on_epoch, averages=averages)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--archs", nargs="*", default=None, help="default: the 81 factorial archs")
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--init", type=Path, nargs="*", default=[], help="warm starts: one-shot run folders (supernet.pt)")
    p.add_argument("--lr", type=float, default=0.05, help="warm starts: the fine-tune's peak learning rate")
    args = p.parse_args(argv)
    from benchmarks.truth.truth_table import git_commit

    archs = args.archs or factorial_archs()
    if args.init:
        seeds = [_run_seed(run) for run in args.init]
        jobs = [(a, s, args.epochs, str(run), args.lr) for run, s in zip(args.init, seeds, strict=True) for a in archs]
    else:
        jobs = [(a, s, args.epochs) for s in args.seeds for a in archs]
    have = done(args.table)
    todo = [j for j in jobs if j[:3] not in have]
    print(
        f"{len(jobs) - len(todo)} of {len(jobs)} trainings already in {args.table.name}; training {len(todo)}",
        flush=True,
    )
    if not todo:
        return
    commit, new = git_commit(), not args.table.is_file() or args.table.stat().st_size == 0
    columns = _columns(args.table, bool(args.init))
    if new:
        with open(args.table, "w", newline="") as f:
            csv.DictWriter(f, columns, lineterminator="\n").writeheader()
    from benchmarks.truth import curves  # this file as its package's module: Ray pickles the trial by reference

    inits = {j[1]: (j[3], j[4]) for j in todo if len(j) > 3}  # warm starts: the supernet run of each seed
    append = trial_callback(functools.partial(curves.append_rows, args.table, columns, commit))
    n_val = len(load_digits(DATA_SEED, eval_variants=VAL_VARIANTS).val)
    keyed = [{"arch": a, "seed": s, "epochs": e} for a, s, e, *_ in todo]  # the runner's jobs
    folder = args.table.parent / ".tune" / args.table.stem  # the runner's ledger and Tune state, beside the table
    train_jobs(keyed, curves.trainable(inits), folder, n_val, num_cpus=args.workers, callbacks=(append,))


def curve_trial(config: dict, inits: dict[int, tuple[str, float]]) -> None:
    """One Ray Tune trial: :func:`_train` of its job (warm from ``inits[seed]`` = (run, lr) where given); reports the
    job's rows, one per epoch, with its last epoch's validation count (what the runner's ledger keeps)."""
    from ray import tune

    _load()
    job = job_of(config)
    seed, epochs = int(job["seed"]), int(job["epochs"])
    rows = _train((job["arch"], seed, epochs, *inits.get(seed, ())))
    last = rows[-1]
    correct, n = int(last["val_correct"]), int(last["val_n"])
    tune.report({"correct": correct, "n_eval": n, "accuracy": correct / n, "epoch": epochs, "rows": json.dumps(rows)})


def trainable(inits: dict[int, tuple[str, float]]):
    """:func:`curve_trial` bound to its warm starts, one CPU (and one thread) a trial."""
    from ray import tune

    return tune.with_resources(tune.with_parameters(curve_trial, inits=inits), trial_resources())


def append_rows(table: Path, columns: list[str], commit: str, folder, job, metrics: dict, curve, error) -> None:
    """A finished trial's rows (:func:`curve_trial`'s report), appended to ``table`` at once (flushed, fsynced), as
    the runner's trial callback; a failed trial is printed."""
    if error is not None or "rows" not in metrics:
        print(f"{job['arch']} seed {job['seed']}: failed ({error})", flush=True)
        return
    rows = json.loads(metrics["rows"])
    with open(table, "a", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore", lineterminator="\n")
        w.writerows(r | {"git_commit": commit} for r in rows)
        f.flush()
        os.fsync(f.fileno())
    last = rows[-1]
    print(
        f"{last['arch']} seed {last['seed']}: val {last['val_correct']}/{last['val_n']}, "
        f"test {last['test_correct']}/{last['test_n']} ({last['seconds']} s)",
        flush=True,
    )


def _columns(table: Path, warm: bool) -> list[str]:
    """The table's own header when it has one (curves.csv predates the EMA/SWA columns), else the full columns."""
    if table.is_file() and table.stat().st_size:
        with open(table, newline="") as f:
            return next(csv.reader(f))
    return (WARM_COLUMNS if warm else COLUMNS)[:-1] + AVERAGE_COLUMNS + ["git_commit"]


def _run_seed(run: Path) -> int:
    """The seed of a one-shot run folder (its config.yaml), which trained its supernet.pt."""
    import yaml

    return int(yaml.safe_load((run / "config.yaml").read_text())["config"]["seed"])


if __name__ == "__main__":
    main()

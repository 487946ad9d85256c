"""Supernet training throughput on Ray Train (DDP) with 1, 2, … workers: steps/s and scaling efficiency.

Each configuration trains the supernet of a space for E and E + K epochs; the difference over K epochs is the
steady-state time per epoch, free of Ray start-up and worker-group creation. Efficiency at N workers =
(steps/s at N) ÷ (N × steps/s at 1 Ray Train worker). The in-process loop (`--train-workers 1`, no Ray) is
printed beside it. On this 2-core CPU, 2 workers can at best reach efficiency 1.0 against one single-threaded
worker, and the in-process loop uses both cores. Goal on a GPU machine (issue 15): efficiency >= 0.9 at 4 GPUs on
the cifar10 space (`--space cifar10 --gpus 4`).

    python -m benchmarks.train_scaling [--space digits] [--workers 1,2] [--gpus 0] [--epochs 1] [--extra 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from seknet.core import OneShotConfig, load_space
from seknet.data import run_data
from seknet.engine import Paths, TrainConfig, train_supernet_ddp
from seknet.engine.ray_session import ray_session
from seknet.engine.train import train
from seknet.nn import Supernet


def epoch_seconds(fn, epochs: int, extra: int) -> float:
    """Steady-state seconds per epoch: (time of epochs + extra) - (time of epochs), over extra."""
    t = []
    for e in (epochs, epochs + extra):
        t0 = time.perf_counter()
        fn(e)
        t.append(time.perf_counter() - t0)
    return (t[1] - t[0]) / extra


def _args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="digits")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--gpus", type=int, default=0, help="GPUs: one per worker (workers default to 1,2,4,… up to it)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--extra", type=int, default=2)
    return ap.parse_args()


def ddp_rates(space, cfg, data, workers: list[int], gpus: int, epochs: int, extra: int):
    """(workers, steps/s) of Ray Train DDP on each worker count, one GPU each when ``gpus``."""
    steps = -(-len(data.train) // cfg.batch_size)
    with ray_session(num_gpus=gpus or None), tempfile.TemporaryDirectory() as tmp:
        for n in workers:

            def ddp(e: int, n: int = n) -> None:
                ck = Path(tmp) / f"w{n}-e{e}" / "checkpoint.pt"
                ck.parent.mkdir()
                tcfg = TrainConfig(e, cfg.batch_size, cfg.lr)
                train_supernet_ddp(tcfg, Paths(space), data, ck, n, gpus_per_worker=1.0 if gpus else 0.0)

            yield n, steps / epoch_seconds(ddp, epochs, extra)


def main() -> None:
    args = _args()
    space = load_space(ROOT / "search_space" / f"{args.space}.yaml")
    cfg = OneShotConfig(space=str(space.path), data=args.space.split("_")[0], progress=False)
    data = run_data(cfg, space.input_size)
    steps = -(-len(data.train) // cfg.batch_size)
    workers = [int(w) for w in args.workers.split(",")]
    if args.gpus:
        workers = [w for w in (1, 2, 4, 8, 16) if w <= args.gpus]
    device = "cuda" if args.gpus else "cpu"

    def in_process(e: int) -> None:
        torch.manual_seed(0)
        train(Supernet(space), data.train, TrainConfig(e, cfg.batch_size, cfg.lr), device, Paths(space), progress=False)

    lines = [f"space {space.name}, {len(data.train)} training images, batch {cfg.batch_size}: {steps} steps per epoch"]
    if not args.gpus:
        s = epoch_seconds(in_process, args.epochs, args.extra)
        lines.append(f"in process ({torch.get_num_threads()} threads): {steps / s:.2f} steps/s")
        print(lines[-1], flush=True)
    base = None
    for n, rate in ddp_rates(space, cfg, data, workers, args.gpus, args.epochs, args.extra):
        base = base or rate
        each = " (1 GPU each)" if args.gpus else ""
        lines.append(f"Ray Train, {n} worker(s){each}: {rate:.2f} steps/s, efficiency {rate / (n * base):.2f}")
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""What per-epoch checkpoints cost a one-shot run: checkpoint write time ÷ epoch time, and resume-to-first-step.

Trains the default run's supernet (digits, the default recipe) for a few epochs without checkpoints, then times
writing and reading its checkpoint (model, optimizer, scheduler, RNG states; `seknet.engine.train.save_checkpoint`).
Resume to the first step = reading it + one step (the median epoch ÷ its steps).
Goal (issue 15): checkpoint overhead <= 3 % of epoch time.

    python -m benchmarks.checkpoint_overhead [--epochs 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from seknet.core import OneShotConfig, load_space
from seknet.data import run_data
from seknet.engine import Paths, TrainConfig, load_checkpoint, save_checkpoint, sgd_cosine
from seknet.engine.train import train
from seknet.nn import Supernet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    cfg = OneShotConfig(progress=False)
    space = load_space(ROOT / cfg.space)
    data = run_data(cfg, space.input_size)
    torch.manual_seed(0)
    net = Supernet(space)
    tcfg = TrainConfig(args.epochs, cfg.batch_size, cfg.lr, seed=0)
    epoch_s = []
    for _ in range(args.epochs):  # one epoch at a time, to take the median
        t0 = time.perf_counter()
        train(
            net,
            data.train,
            TrainConfig(1, cfg.batch_size, cfg.lr, seed=len(epoch_s)),
            Paths(space),
            progress=False,
        )
        epoch_s.append(time.perf_counter() - t0)
    steps = args.epochs * -(-len(data.train) // cfg.batch_size)
    opt, sched = sgd_cosine(net, tcfg, steps)
    rng, gen = random.Random(0), torch.Generator().manual_seed(0)
    losses = [2.0] * args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        save_s, load_s = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            save_checkpoint(path, losses, net, opt, sched, rng, gen)
            save_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            load_checkpoint(path, net, opt, sched, rng, gen)
            load_s.append(time.perf_counter() - t0)
        size = path.stat().st_size
    epoch, save, load = (
        statistics.median(epoch_s),
        statistics.median(save_s),
        statistics.median(load_s),
    )
    print(
        f"epoch (median of {len(epoch_s)}): {epoch:.2f} s; checkpoint {size / 1e6:.1f} MB: write {save * 1e3:.0f} ms "
        f"(median of {args.repeats}) = {save / epoch * 100:.2f} % of an epoch; read {load * 1e3:.0f} ms"
    )
    step = epoch / -(-len(data.train) // cfg.batch_size)
    print(
        f"resume to the first step: read {load * 1e3:.0f} ms + one step {step * 1e3:.0f} ms = "
        f"{(load + step) * 1e3:.0f} ms (besides loading the data and building the supernet, as any run)"
    )


if __name__ == "__main__":
    main()

"""Trials per hour with 4 trials packed per GPU / with 1 trial per GPU, on CIFAR-10-sized inputs. Goal >= 2.5.

Synthetic data of CIFAR-10's shape (3x32x32, 10 classes) on the cifar10 space; each trial trains one
random arch for --epochs epochs over --images images. Needs CUDA for a meaningful figure; with
--logical-gpus N on a CPU machine it only checks that the packing runs (trials then train on CPU).

    python -m benchmarks.gpu_packing [--trials 16] [--epochs 2] [--images 8192] [--logical-gpus N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

import seknet
from seknet.data import Data, Split
from seknet.engine import TrainConfig
from seknet.engine.ray_trials import standalone_trainable, train_jobs


def synthetic(n: int) -> Data:
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g))
    val = Split(split.x[: n // 8], split.y[: n // 8])
    return Data("synthetic-cifar10", split, val, val, num_classes=10)


def trials_per_hour(gpus_per_trial: float, gpus: int, args, data: Data, space) -> float:
    """Trials per hour of ``args.trials`` archs trained through the project's runner (``train_jobs``, as verify and
    retrain train), each asking for ``gpus_per_trial`` of one of ``gpus`` GPUs."""
    archs = [str(a) for a in space.archs()[:: max(1, len(space.archs()) // args.trials)][: args.trials]]
    jobs = [{"arch": a, "seed": 0, "epochs": args.epochs} for a in archs]
    trainable = standalone_trainable(space, data, TrainConfig(epochs=args.epochs), gpus_per_trial=gpus_per_trial)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        rows = train_jobs(jobs, trainable, Path(tmp), len(data.val), gpus=gpus)
        seconds = time.perf_counter() - t
    failed = [r for r in rows if r["status"] != "complete"]
    if failed:
        sys.exit(f"{len(failed)} of {len(rows)} trials failed, e.g. {failed[0]['arch']}: {failed[0]['error']}")
    return len(archs) / seconds * 3600


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--images", type=int, default=8192)
    p.add_argument(
        "--logical-gpus",
        type=int,
        help="declare N GPUs to Ray on a CPU machine (checks the plumbing)",
    )
    args = p.parse_args()
    gpus = args.logical_gpus or torch.cuda.device_count()
    if gpus == 0:
        sys.exit("no GPU: run on a CUDA machine, or pass --logical-gpus N to check the packing on CPU")
    space = seknet.load_space(ROOT / "search_space" / "cifar10.yaml")
    data = synthetic(args.images)
    one = trials_per_hour(1.0, gpus, args, data, space)
    four = trials_per_hour(0.25, gpus, args, data, space)
    kind = "logical GPUs (CPU machine: the ratio means nothing)" if args.logical_gpus else "CUDA GPUs"
    print(
        f"{gpus} {kind}: 1 trial/GPU {one:.0f} trials/h; 4 trials/GPU {four:.0f} trials/h; "
        f"ratio {four / one:.2f} (goal >= 2.5)"
    )


if __name__ == "__main__":
    main()

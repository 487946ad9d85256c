"""Scoring the digits space with BN recalibration: naive per-arch vs the prefix-sharing tree walk.

Measured side by side in one run, one process, 2 threads, on the default data sizes (512
recalibration images, the full validation split):
- naive: recalibrate_bn(extract(arch)) + evaluate, per arch (timed on a sample, scaled to 4,096);
- tree walk over all 4,096 archs on the full validation split (timed on one first-stage subtree, x8);
- tree walk with successive halving as the search runs it is in results/<run>/config.yaml (seconds.score).
Goal (issue 3): the whole space scored with BN recalibration <= 5 minutes on 2 cores.

    python -m benchmarks.score_speed [--sample N]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

import seknet
from seknet.data import load_digits
from seknet.engine import evaluate, score_correct
from seknet.nn import Supernet, recalibrate_bn


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=24, help="archs timed naively")
    args = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    data = load_digits(0)
    net = Supernet(space).eval()
    recal = list(data.train.x[:512].split(128))
    archs = space.archs()

    t = time.perf_counter()
    for arch in random.Random(0).sample(archs, args.sample):
        evaluate(recalibrate_bn(net.extract(arch), recal), data.val)
    naive = (time.perf_counter() - t) / args.sample * len(archs)

    subtree = [a for a in archs if a.choices[0] == archs[0].choices[0]]
    t = time.perf_counter()
    score_correct(net, subtree, recal, data.val.x, data.val.y)
    walk = (time.perf_counter() - t) * len(archs) / len(subtree)

    print(f"val images {len(data.val)}, recalibration images 512, archs {len(archs)}")
    print(f"naive per-arch recalibrate + eval : {naive:7.1f} s (from {args.sample} archs)")
    print(f"prefix-sharing tree walk          : {walk:7.1f} s (from {len(subtree)} archs)")
    print(
        f"speed-up {naive / walk:.1f}x; tree walk / 5-minute goal = {walk / 300:.2f} "
        f"({'ok' if walk <= 300 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()

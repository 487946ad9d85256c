"""Time of seknet.count(arch) / time of thop.profile on the built model, median over many archs.

Goal (issue 2): <= 1/1000. thop is timed on an already-built model (its build time is not charged),
with one sample as input; count() is timed from the arch alone.

    python -m benchmarks.count_speed [--archs N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import thop
import torch

ROOT = Path(__file__).resolve().parents[1]

import seknet


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=40, help="random archs per space")
    args = p.parse_args()
    torch.set_num_threads(2)
    print(f"{'space':<20} {'archs':>5} {'count() us':>11} {'thop ms':>9} {'ratio':>10}")
    for name in ("digits", "cifar10", "imagenet_resnet50"):
        space = seknet.load_space(ROOT / "search_space" / f"{name}.yaml")
        archs = random.Random(0).sample(space.archs(), args.archs if name != "imagenet_resnet50" else 8)
        ratios, tc, tt = [], [], []
        for arch in archs:
            model = seknet.build_model(arch).eval()
            x = torch.randn(1, space.in_channels, space.input_size, space.input_size)
            c = median_time(lambda a=arch: seknet.count(a), 50)
            t = median_time(lambda m=model, x=x: thop.profile(m, inputs=(x,), verbose=False), 3)
            ratios.append(c / t)
            tc.append(c)
            tt.append(t)
        r = statistics.median(ratios)
        print(
            f"{name:<20} {len(archs):>5} {statistics.median(tc) * 1e6:>11.1f} {statistics.median(tt) * 1e3:>9.2f}"
            f" {'1/%.0f' % (1 / r):>10}  {'ok' if r <= 1e-3 else 'MISSES goal 1/1000'}"
        )


if __name__ == "__main__":
    main()

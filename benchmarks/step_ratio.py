"""Supernet training step on a sampled path / step of the extracted stand-alone model (CPU). Goal <= 1.05.

For each of N random archs, both models take the same batch (forward, backward, SGD step); the two
are timed interleaved, many repeats each, and the ratio of medians is reported per arch, then the median.
It also prints the mean stand-alone step of those uniformly sampled archs / the step of the median-MAC arch: what a
supernet epoch costs in the unit of ``default_run.py`` (the supernet's floor in units, at its 30 epochs).

    python -m benchmarks.step_ratio [--archs N] [--repeat R] [--batch B]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
import torch.nn.functional as F

import seknet
from benchmarks.default_run import median_mac_arch
from seknet.nn import Supernet


def step(model, opt, x, y, arch=None) -> float:
    t = time.perf_counter()
    out = model(x) if arch is None else model(x, arch)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", type=int, default=16)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    net = Supernet(space).train()
    opt_net = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(args.batch, 1, 16, 16), torch.randint(0, 10, (args.batch,))
    ratios, sampled = [], []
    for arch in random.Random(0).sample(space.archs(), args.archs):
        sub = net.extract(arch).train()
        opt_sub = torch.optim.SGD(sub.parameters(), lr=0.01, momentum=0.9)
        for _ in range(3):  # warm-up
            step(net, opt_net, x, y, arch), step(sub, opt_sub, x, y)
        a, b = [], []
        for _ in range(args.repeat):
            a.append(step(net, opt_net, x, y, arch))
            b.append(step(sub, opt_sub, x, y))
        ratios.append(statistics.median(a) / statistics.median(b))
        sampled.append(statistics.median(b))
        print(
            f"{str(arch):<22} supernet {statistics.median(a) * 1e3:6.1f} ms  stand-alone "
            f"{statistics.median(b) * 1e3:6.1f} ms  ratio {ratios[-1]:.3f}"
        )
    r = statistics.median(ratios)
    print(f"median ratio over {len(ratios)} archs: {r:.3f}  (goal <= 1.05: {'ok' if r <= 1.05 else 'MISSED'})")
    median_arch = median_mac_arch(space)
    med = seknet.build_model(median_arch).train()
    opt_med = torch.optim.SGD(med.parameters(), lr=0.01, momentum=0.9)
    for _ in range(3):
        step(med, opt_med, x, y)
    unit = statistics.median(step(med, opt_med, x, y) for _ in range(args.repeat))
    print(
        f"sampled archs' mean stand-alone step {statistics.mean(sampled) * 1e3:.1f} ms / {median_arch} (median MACs) "
        f"{unit * 1e3:.1f} ms = {statistics.mean(sampled) / unit:.2f}: a 30-epoch supernet in units of default_run.py"
    )


if __name__ == "__main__":
    main()

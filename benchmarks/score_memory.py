"""Scoring's peak memory on a space and image count the user names: the shipped walk against the walks before it.

The walk that shares a node's parts (``seknet.engine.score_logits``) holds, while it descends from a node, the parts
that node's choices share (``before_slot``, the shortcut, SK's M paths, a conv slot's output): up to M + 3 tensors of
a batch's size at that stage, against about 2 for the whole-stage walk (``benchmarks.score_speed``). Three walks:
- whole-stage: each choice runs its whole stage (before issue 31's last round), over all images at once;
- one chunk: the shipped walk with every validation image in one chunk (as it shipped at 3f7d3ca);
- shipped: the shipped walk, with its default chunk of validation images.
A scoring worker's peak is reached at the deepest node under the most paths, so one path of SK(4) prefixes with every
last-stage choice under it (what a worker's walk holds at its worst) is scored, once per walk, each in a process of
its own, and the peak resident memory (ru_maxrss) of each is printed, with the size of one validation tensor at the
stem. Images are random (memory does not depend on them); the supernet is untrained.

    python -m benchmarks.score_memory [--space search_space/cifar10.yaml] [--images 5000] [--recal 512]

The default is CIFAR-10's validation split (10 % of the 50,000 training images).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

import seknet
from benchmarks.score_speed import whole_stage_walk
from seknet.engine import score_logits
from seknet.nn import Supernet

WALKS = ("whole-stage", "one chunk", "shipped")


def peak_mb(walk: str, space_path: str, images: int, recal_images: int, threads: int) -> dict:
    """Score the worst-case path in this process with ``walk``; its peak RSS (MB) and seconds."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    space = seknet.load_space(space_path)
    net = Supernet(space).eval()
    shape = (space.in_channels, space.input_size, space.input_size)
    recal = list(torch.randn(recal_images, *shape).split(128))
    val_x = torch.randn(images, *shape)
    deepest = max(space.choices, key=lambda c: (c.startswith("sk"), c))  # the most paths (sk4 on the default YAMLs)
    archs = [space.parse("-".join([deepest] * (len(space.stages) - 1) + [c])) for c in space.choices]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    if walk == "whole-stage":
        whole_stage_walk(net, archs, recal, val_x)
    else:
        score_logits(net, archs, recal, val_x, **({"chunk": images} if walk == "one chunk" else {}))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "walk": walk,
        "archs": len(archs),
        "before_mb": round(before),
        "peak_mb": round(peak),
        "seconds": round(time.perf_counter() - t, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default=str(ROOT / "search_space" / "cifar10.yaml"))
    p.add_argument("--images", type=int, default=5000, help="validation images (default: CIFAR-10's 5,000)")
    p.add_argument("--recal", type=int, default=512, help="recalibration images (the default run's 512)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--walk", choices=WALKS, help=argparse.SUPPRESS)  # one walk, in a child process
    args = p.parse_args()
    if args.walk:
        print(json.dumps(peak_mb(args.walk, args.space, args.images, args.recal, args.threads)))
        return
    space = seknet.load_space(args.space)
    stem = args.images * space.stem_width * space.input_size**2 * 4 / 2**20
    print(f"space {space.name}, {args.images} validation images, {args.recal} recalibration images")
    print(f"one validation tensor at the stem ({space.stem_width} channels, {space.input_size}^2): {stem:.0f} MB")
    for walk in WALKS:
        argv = [sys.executable, "-m", "benchmarks.score_memory", "--walk", walk, "--space", args.space]
        argv += ["--images", str(args.images), "--recal", str(args.recal), "--threads", str(args.threads)]
        out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{walk:12s}: peak RSS {r['peak_mb']:6d} MB ({r['peak_mb'] - r['before_mb']:6d} MB for scoring "
            f"{r['archs']} archs), {r['seconds']} s"
        )


if __name__ == "__main__":
    main()

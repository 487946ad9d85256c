"""Scoring the digits space with BN recalibration: naive per arch, the whole-stage walk, and the walk as it ships.

Measured side by side in one run, one process, on one first-stage subtree (512 archs) and the images given, scaled
to the 4,096 archs:
- naive: recalibrate_bn(extract(arch)) + evaluate, per arch (timed on a sample);
- whole-stage walk: the prefix-sharing tree walk as it was before issue 31's last round, each stage run whole per
  choice, contiguous (NCHW); written out below as the reference;
- shipped: ``seknet.engine.score_logits``, which also shares a stage's parts its choices do not reach (the shortcut,
  the 3x3 branch of none and every SE, SK's paths) and runs channels-last.
It also prints how far the shipped logits lie from the reference ones, and how many hits (image right or wrong)
differ. Goal (issue 3): the whole space scored <= 5 minutes on 2 cores; issue 31: the default run <= 1.5 units
(``benchmarks/default_run.py``), of which scoring is a part.

    python -m benchmarks.score_speed [--sample N] [--images N] [--threads T] [--supernet RUN/supernet.pt]

Timings do not depend on the weights; the differences in logits and hits are only meaningful for a trained supernet
(``--supernet``), whose logits are not near ties.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

import seknet
from seknet.data import load_digits
from seknet.engine import evaluate, score_logits
from seknet.nn import Supernet, recalibrate_bn


@torch.no_grad()
def whole_stage_walk(net: Supernet, archs: list, recal: list, val_x: torch.Tensor, chunk: int = 1024) -> dict:
    """The reference: each node's choices each run their whole stage, BNs recalibrated per choice."""

    def apply(module: nn.Module, fn, r: list, v: torch.Tensor) -> tuple[list, torch.Tensor]:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None
        module.train()
        r2 = [fn(x) for x in r]
        module.eval()
        return r2, torch.cat([fn(x) for x in v.split(chunk)])

    tree: dict = {}
    for arch in archs:
        node = tree
        for c in arch.choices:
            node = node.setdefault(c, {})
    out = {}

    def walk(i: int, prefix: tuple, node: dict, r: list, v: torch.Tensor) -> None:
        for choice, child in node.items():
            r2, v2 = apply(net.stages[i], lambda x, c=choice: net.stages[i](x, c), r, v)
            if child:
                walk(i + 1, (*prefix, choice), child, r2, v2)
            else:
                out[(*prefix, choice)] = net.fc(v2.float().mean((2, 3))).float()

    walk(0, (), tree, *apply(net.stem, net.stem, recal, val_x))
    return {a: out[a.choices] for a in archs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sample", type=int, default=24, help="archs timed naively")
    p.add_argument("--images", type=int, default=2154, help="validation images (default: all 2,154 of the split)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (a scoring worker of the default run: 1)")
    p.add_argument("--supernet", type=Path, help="a run's supernet.pt (default: untrained weights, seed 0)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    data = load_digits(0)
    net = Supernet(space) if args.supernet is None else Supernet.for_state(space, torch.load(args.supernet))
    net.eval()
    recal = list(data.train.x[:512].split(128))
    val_x, val_y = data.val.x[: args.images], data.val.y[: args.images]
    archs = space.archs()

    t = time.perf_counter()
    for arch in random.Random(0).sample(archs, args.sample):
        evaluate(recalibrate_bn(net.extract(arch), recal), data.val)
    naive = (time.perf_counter() - t) / args.sample * len(archs) * args.images / len(data.val)

    subtree = [a for a in archs if a.choices[0] == archs[0].choices[0]]
    scale = len(archs) / len(subtree)
    t = time.perf_counter()
    before = whole_stage_walk(Supernet.for_state(space, net.state_dict()), subtree, recal, val_x)
    whole = (time.perf_counter() - t) * scale
    t = time.perf_counter()
    shipped = score_logits(Supernet.for_state(space, net.state_dict()), subtree, recal, val_x)
    ships = (time.perf_counter() - t) * scale

    diff = max(float((before[a] - shipped[a]).abs().max()) for a in subtree)
    flips = sum(int(((before[a].argmax(1) == val_y) != (shipped[a].argmax(1) == val_y)).sum()) for a in subtree)
    print(f"val images {len(val_y)}, recalibration images 512, archs {len(archs)}, threads {args.threads}")
    print(f"naive per-arch recalibrate + eval : {naive:7.1f} s (from {args.sample} archs)")
    print(f"whole-stage walk (before)         : {whole:7.1f} s (from {len(subtree)} archs)")
    print(f"shipped walk                      : {ships:7.1f} s; {whole / ships:.2f}x the whole-stage walk")
    hits = len(subtree) * len(val_y)
    print(f"shipped vs whole-stage: max |logit diff| {diff:.2g}; hits that differ {flips} of {hits}")
    print(f"whole space on 2 workers ~ {ships / 2:.0f} s; 5-minute goal {'ok' if ships / 2 <= 300 else 'MISSED'}")


if __name__ == "__main__":
    main()

"""Scoring sub-nets with inherited weights: BN recalibration + validation accuracy, shared by prefix.

A sub-net's stage-k features (and BN statistics) depend only on its choices for stages 1..k. A
depth-first walk down the tree of choices therefore computes each prefix once: for 4 stages of 8
choices, 8 + 64 + 512 + 4,096 stage evaluations instead of 4,096 whole networks. It is exact:
every arch gets the logits of ``recalibrate_bn(supernet.extract(arch), recal)`` on ``val``,
because BN in training mode normalises each recalibration batch by its own statistics, so stage k
sees the same inputs as in a whole-network recalibration pass with the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from seknet.core.attention import Choice
from seknet.core.space import Arch
from seknet.engine.train import autocast
from seknet.nn.supernet import Supernet


def _reset_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches


def _recalibrate_and_eval(
    module: nn.Module, fn: Callable[[Tensor], Tensor], recal: list[Tensor], val: Tensor, chunk: int
) -> tuple[list[Tensor], Tensor]:
    """Recalibrate ``module``'s BNs on ``recal`` (batch by batch, train mode), then apply it to ``val`` in eval."""
    _reset_bn(module)
    module.train()
    recal_out = [fn(x) for x in recal]
    module.eval()
    val_out = torch.cat([fn(v) for v in val.split(chunk)])
    return recal_out, val_out


@torch.no_grad()
def score_logits(
    net: Supernet,
    archs: Sequence[Arch],
    recal: list[Tensor],
    val_x: Tensor,
    chunk: int = 1024,
    device: torch.device | str = "cpu",
) -> dict[Arch, Tensor]:
    """Validation logits of every arch in ``archs``, each as if its sub-net were recalibrated alone.

    Recalibrates ``net``'s BN statistics in place (they end as the last walked prefix's): score a
    copy to keep the trained ones.
    """
    device = torch.device(device)
    net.to(device)
    recal = [x.to(device) for x in recal]
    val_x = val_x.to(device)
    tree: dict = {}
    for arch in archs:
        node = tree
        for c in arch.choices:
            node = node.setdefault(c, {})
    out: dict[tuple[Choice, ...], Tensor] = {}

    def walk(i: int, prefix: tuple[Choice, ...], node: dict, r: list[Tensor], v: Tensor) -> None:
        stage = net.stages[i]
        for choice, child in node.items():

            def fn(x: Tensor, choice: Choice = choice) -> Tensor:
                with autocast(device):
                    return stage(x, choice)

            r2, v2 = _recalibrate_and_eval(stage, fn, r, v, chunk)
            if child:
                walk(i + 1, (*prefix, choice), child, r2, v2)
            else:
                out[(*prefix, choice)] = net.fc(v2.float().mean((2, 3))).float().cpu()

    with autocast(device):
        r0, v0 = _recalibrate_and_eval(net.stem, net.stem, recal, val_x, chunk)
    walk(0, (), tree, r0, v0)
    return {a: out[a.choices] for a in archs}


def score_hits(
    net: Supernet, archs: Sequence[Arch], recal: list[Tensor], val_x: Tensor, val_y: Tensor, **kw
) -> dict[Arch, Tensor]:
    """Per arch, which validation images it classifies correctly: a bool tensor (N,)."""
    logits = score_logits(net, archs, recal, val_x, **kw)
    return {a: lg.argmax(1) == val_y for a, lg in logits.items()}


def score_correct(
    net: Supernet, archs: Sequence[Arch], recal: list[Tensor], val_x: Tensor, val_y: Tensor, **kw
) -> dict[Arch, int]:
    """Correctly classified validation images per arch (see :func:`score_logits`)."""
    return {a: int(h.sum()) for a, h in score_hits(net, archs, recal, val_x, val_y, **kw).items()}

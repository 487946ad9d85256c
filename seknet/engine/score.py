"""Scoring sub-nets with inherited weights: BN recalibration + validation accuracy, shared by prefix.

A sub-net's stage-k features (and BN statistics) depend only on its choices for stages 1..k. A
depth-first walk down the tree of choices therefore computes each prefix once: for 4 stages of 8
choices, 8 + 64 + 512 + 4,096 stage evaluations instead of 4,096 whole networks. It is exact:
every arch gets the logits of ``recalibrate_bn(supernet.extract(arch), recal)`` on ``val``,
because BN in training mode normalises each recalibration batch by its own statistics, so stage k
sees the same inputs as in a whole-network recalibration pass with the same batches.

Within a stage, a node's choices also share what their choice does not reach (``seknet.nn.blocks.ResidualBlock``):
the first block's shortcut once; its branch up to the attention slot once for none and every SE(r), whose conv slot
is the same 3x3 conv; SK's paths once for every M (``common``/``finish``). On digits stages that leaves about 40 %
of the convolutions' MACs. A BN's recalibrated statistics depend only on its own inputs, so this is exact too: the
logits are the same, bit for bit, as with the stage run whole for each choice. The price is memory: while the walk
descends from a node it holds that node's shared parts, up to M + 3 tensors of the validation set's size there.

Scoring runs channels-last (NHWC), as training does on CUDA: on CPU its grouped and dilated convolutions (SK's paths)
run 2-4x faster. Its convolutions sum in another order, so the logits match a contiguous pass to float precision,
not bit for bit: on the default run's trained supernet, at most 7e-4 apart, and 3 of 1.1 M hits differed
(``python -m benchmarks.score_speed --supernet RUN/supernet.pt``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from seknet.core.attention import Choice
from seknet.core.space import Arch
from seknet.engine.train import autocast
from seknet.nn.supernet import Supernet

Flow = tuple[list, list]  # (recalibration batches, validation chunks) as they reach one point of the network


def _reset_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the recalibration batches


def _apply(module: nn.Module, fn: Callable, *flows: Flow, device: torch.device) -> Flow:
    """``fn`` over ``flows`` (zipped): ``module``'s BNs recalibrated on the recalibration batches first (train mode,
    batch by batch), then the validation chunks in eval mode.

    ``fn`` may use only BNs inside ``module``; their statistics then depend on ``fn``'s inputs alone, which is what
    makes a part computed once for several choices the same as each choice's whole-network pass.
    """
    _reset_bn(module)
    with autocast(device):
        module.train()
        recal = [fn(*xs) for xs in zip(*(f[0] for f in flows), strict=True)]
        module.eval()
        val = [fn(*xs) for xs in zip(*(f[1] for f in flows), strict=True)]
    return recal, val


def _conv_slot_flows(slot: nn.Module, choices: list[Choice], h: Flow, device: torch.device) -> Iterator:
    """(the conv slot's output, the choices it is theirs) for ``choices`` of one node: the 3x3 conv once for none
    and every attention-slot kind; a kind's module with ``common`` (SK's paths) shares it across its values."""
    by_source: dict[nn.Module, list[Choice]] = {}
    for c in choices:
        by_source.setdefault(slot.source(c), []).append(c)
    for module, group in by_source.items():
        if group[0].slot != "conv":
            yield _apply(module, module, h, device=device), group
        elif hasattr(module, "common"):
            common = _apply(module, lambda x, m=module, g=group: m.common(x, [c.value for c in g]), h, device=device)
            for c in group:
                yield _apply(module, lambda f, m=module, v=c.value: m.finish(f, v), common, device=device), [c]
        else:
            for c in group:
                yield _apply(slot, lambda x, c=c: slot(x, c), h, device=device), [c]


def _stage_flows(stage: nn.Module, choices: list[Choice], x: Flow, device: torch.device) -> Iterator:
    """(choice, the stage's output for it) for each of ``choices``, each as if its sub-net were recalibrated alone.

    The first block's parts that the choice does not reach are computed once (``seknet.nn.blocks.ResidualBlock``):
    the shortcut and ``before_slot`` for all choices, the branch up to the attention slot per conv-slot output.
    """
    block = stage[0]
    h = _apply(block, block.before_slot, x, device=device)
    shortcut = _apply(block.downsample, block.downsample, x, device=device)
    for slot_out, group in _conv_slot_flows(block.conv_slot, choices, h, device):
        branch = _apply(block, block.after_slot, slot_out, device=device)
        del slot_out  # held no longer than needed: the walk keeps a node's shared parts while it descends
        for c in group:
            out = _apply(block.attn, lambda b, c=c: block.attn(b, c), branch, device=device)
            y = _apply(block, block.join, out, shortcut, device=device)
            del out
            for later in stage[1:]:
                y = _apply(later, lambda t, b=later, c=c: b(t, c), y, device=device)
            yield c, y


def _channels_last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last)


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
    net.to(device, memory_format=torch.channels_last)
    tree: dict = {}
    for arch in archs:
        node = tree
        for c in arch.choices:
            node = node.setdefault(c, {})
    out: dict[tuple[Choice, ...], Tensor] = {}

    def walk(i: int, prefix: tuple[Choice, ...], node: dict, x: Flow) -> None:
        for choice, y in _stage_flows(net.stages[i], list(node), x, device):
            if node[choice]:
                walk(i + 1, (*prefix, choice), node[choice], y)
            else:
                out[(*prefix, choice)] = net.fc(torch.cat(y[1]).float().mean((2, 3))).float().cpu()

    flow = ([_channels_last(x.to(device)) for x in recal], [_channels_last(v) for v in val_x.to(device).split(chunk)])
    walk(0, (), tree, _apply(net.stem, net.stem, flow, device=device))
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

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
logits are the same, bit for bit, as with the stage run whole for each choice. While the walk descends from a node it
holds that node's shared parts, up to M + 3 tensors of a batch's size there. So the tree is walked once on the
recalibration batches, recording every part's BN statistics, then once per validation chunk with those statistics:
memory grows with the chunk, not with the validation set (one worker on CIFAR-10's 5,000 validation images: 10.6 GB
for a walk over all of them at once, 2.3 GB in chunks of 512, 2.7 GB for the whole-stage walk before the sharing;
``python -m benchmarks.score_memory``).

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

CHUNK = 512  # validation images per pass: as fast as 1,024 on digits (and the same logits), half the memory


class _Pass:
    """One walk of the choice tree. The recalibration pass (``recal``) recalibrates each part's BNs on the
    recalibration batches and records their statistics, in walk order; a validation pass replays them, in the same
    order, on one validation chunk. So a node's shared parts are held at one chunk's size, whatever the validation
    set's, and each part is recalibrated once, as a single walk over the whole set would (the same statistics, so the
    same logits, bit for bit)."""

    def __init__(self, stats: list, device: torch.device, recal: bool) -> None:
        self.recal = recal
        self.stats = stats  # per part, in walk order: its BNs' (running_mean, running_var, num_batches_tracked)
        self.device = device
        self._next = 0

    def apply(self, module: nn.Module, fn: Callable, *flows: list) -> list:
        """``fn`` over ``flows`` (lists of batches, zipped), ``module``'s BNs recalibrated on them (the recalibration
        pass) or set to what that pass recorded for this part (a validation pass, eval mode).

        ``fn`` may use only BNs inside ``module``; their statistics then depend on ``fn``'s inputs alone, which is what
        makes a part computed once for several choices the same as each choice's whole-network pass.
        """
        bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if self.recal:
            for m in bns:
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the recalibration batches
            module.train()
        else:
            for m, (mean, var, n) in zip(bns, self.stats[self._next], strict=True):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(n)
            self._next += 1
            module.eval()
        with autocast(self.device):
            out = [fn(*xs) for xs in zip(*flows, strict=True)]
        if self.recal:
            self.stats.append(
                [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
            )
        return out


def _conv_slot_flows(slot: nn.Module, choices: list[Choice], h: list, p: _Pass) -> Iterator:
    """(the conv slot's output, the choices it is theirs) for ``choices`` of one node: the 3x3 conv once for none
    and every attention-slot kind; a kind's module with ``common`` (SK's paths) shares it across its values."""
    by_source: dict[nn.Module, list[Choice]] = {}
    for c in choices:
        by_source.setdefault(slot.source(c), []).append(c)
    for module, group in by_source.items():
        if group[0].slot != "conv":
            yield p.apply(module, module, h), group
        elif hasattr(module, "common"):
            common = p.apply(module, lambda x, m=module, g=group: m.common(x, [c.value for c in g]), h)
            for c in group:
                yield p.apply(module, lambda f, m=module, v=c.value: m.finish(f, v), common), [c]
        else:
            for c in group:
                yield p.apply(slot, lambda x, c=c: slot(x, c), h), [c]


def _stage_flows(stage: nn.Module, choices: list[Choice], x: list, p: _Pass) -> Iterator:
    """(choice, the stage's output for it) for each of ``choices``, each as if its sub-net were recalibrated alone.

    The first block's parts that the choice does not reach are computed once (``seknet.nn.blocks.ResidualBlock``):
    the shortcut and ``before_slot`` for all choices, the branch up to the attention slot per conv-slot output.
    """
    block = stage[0]
    h = p.apply(block, block.before_slot, x)
    shortcut = p.apply(block.downsample, block.downsample, x)
    for slot_out, group in _conv_slot_flows(block.conv_slot, choices, h, p):
        branch = p.apply(block, block.after_slot, slot_out)
        del slot_out  # held no longer than needed: the walk keeps a node's shared parts while it descends
        for c in group:
            out = p.apply(block.attn, lambda b, c=c: block.attn(b, c), branch)
            y = p.apply(block, block.join, out, shortcut)
            del out
            for later in stage[1:]:
                y = p.apply(later, lambda t, b=later, c=c: b(t, c), y)
            yield c, y


def _channels_last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def score_logits(
    net: Supernet,
    archs: Sequence[Arch],
    recal: list[Tensor],
    val_x: Tensor,
    chunk: int = CHUNK,
    device: torch.device | str = "cpu",
) -> dict[Arch, Tensor]:
    """Validation logits of every arch in ``archs``, each as if its sub-net were recalibrated alone.

    The tree is walked once on the recalibration batches, then once per ``chunk`` validation images (:class:`_Pass`):
    memory grows with ``chunk`` and the recalibration images (``recal``), not with the validation set. Recalibrates
    ``net``'s BN statistics in place (they end as the last walked part's): score a copy to keep the trained ones.
    """
    device = torch.device(device)
    net.to(device, memory_format=torch.channels_last)
    tree: dict = {}
    for arch in archs:
        node = tree
        for c in arch.choices:
            node = node.setdefault(c, {})
    pooled: dict[tuple[Choice, ...], list[Tensor]] = {}

    def walk(i: int, prefix: tuple[Choice, ...], node: dict, x: list, p: _Pass) -> None:
        for choice, y in _stage_flows(net.stages[i], list(node), x, p):
            if node[choice]:
                walk(i + 1, (*prefix, choice), node[choice], y, p)
            elif not p.recal:
                pooled.setdefault((*prefix, choice), []).append(y[0].float().mean((2, 3)))

    stats: list = []
    for k, batches in enumerate([recal, *([v] for v in val_x.split(chunk))]):
        p = _Pass(stats, device, recal=k == 0)
        walk(0, (), tree, p.apply(net.stem, net.stem, [_channels_last(b.to(device)) for b in batches]), p)
    return {a: net.fc(torch.cat(pooled[a.choices])).float().cpu() for a in archs}


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

"""Exact, analytic parameter and MAC counts of an arch, without building the model.

Conventions (per image):
- ``macs``: multiply-accumulates of conv and linear layers, the papers' "FLOPs" and thop's count;
  biases and BN are not MACs.
- ``attn_ops``: the attention's element-wise work that MAC counts (thop, NNI) drop, one op per
  element per operation: SE = pool (C*HW) + ReLU (C/r) + sigmoid (C) + scale (C*HW);
  SK = fuse sum ((M-1)*C*HW) + pool (C*HW) + ReLU (d) + softmax (3*M*C: exp, sum, divide)
  + weighted sum (M*C*HW multiplies + (M-1)*C*HW adds). BN folds into the conv/FC at inference.
"""

from __future__ import annotations

from dataclasses import dataclass

from seknet.core.attention import KINDS, Choice, SlotShape
from seknet.core.space import Arch, Space, conv_side


@dataclass(frozen=True)
class Count:
    """Exact figures of one arch: ``params`` (all learnable), ``macs`` and ``attn_ops`` (per image)."""

    params: int = 0
    macs: int = 0
    attn_ops: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.params + other.params, self.macs + other.macs, self.attn_ops + other.attn_ops)


def conv_bn(cin: int, cout: int, k: int, hw_out: int, groups: int = 1) -> Count:
    """A bias-free k x k conv followed by BN (2 * cout params), on ``hw_out`` output pixels."""
    w = k * k * (cin // groups) * cout
    return Count(w + 2 * cout, w * hw_out)


def linear(cin: int, cout: int, bias: bool) -> Count:
    """A fully connected layer applied once per image."""
    return Count(cin * cout + (cout if bias else 0), cin * cout)


def se_count(c: int, r: int, hw: int, bias: bool = True, gain: float = 1.0) -> Count:
    """SE(r) on C channels of HW pixels: FC(C, C//r) + FC(C//r, C), plus its element-wise ops (C more for a gain)."""
    h = c // r
    fcs = linear(c, h, bias) + linear(h, c, bias)
    return fcs + Count(attn_ops=2 * c * hw + h + c + (c if gain != 1.0 else 0))


def sk_count(cin: int, c: int, m: int, groups: int, d: int, hw: int) -> Count:
    """SK(M) from cin to C channels on HW output pixels: M path convs + fuse FC/BN + select FC."""
    paths = Count()
    for _ in range(m):
        paths = paths + conv_bn(cin, c, 3, hw, groups)
    attn = linear(c, d, False) + Count(params=2 * d) + linear(d, m * c, False)
    ops = (m - 1) * c * hw + c * hw + d + 3 * m * c + m * c * hw + (m - 1) * c * hw
    return paths + attn + Count(attn_ops=ops)


def se_slot_count(space: Space, r: int, shape: SlotShape, hw: int) -> Count:
    """The SE kind's count in an attention slot (space knobs ``se.bias``, ``se.gain``)."""
    return se_count(shape.out_channels, r, hw, space.se.bias, space.se.gain)


def sk_slot_count(space: Space, m: int, shape: SlotShape, hw: int) -> Count:
    """The SK kind's count in a conv slot: its groups and d come from the space (``sk`` knobs)."""
    c = shape.out_channels
    return sk_count(shape.in_channels, c, m, space.sk_groups(c), space.sk_attn_channels(c), hw)


def _conv_slot(space: Space, shape: SlotShape, hw: int, choice: Choice) -> Count:
    if choice.slot == "conv":
        return KINDS[choice.kind].part("count")(space, choice.value, shape, hw)
    return conv_bn(shape.in_channels, shape.out_channels, 3, hw, shape.groups)


def _attn_slot(space: Space, shape: SlotShape, hw: int, choice: Choice) -> Count:
    if choice.slot == "attn":
        return KINDS[choice.kind].part("count")(space, choice.value, shape, hw)
    return Count()


def trunk_count(space: Space) -> Count:
    """Stem and classifier: the part of every arch that no choice touches."""
    size = space.input_size
    if space.stem == "imagenet":
        stem = conv_bn(space.in_channels, space.stem_width, 7, conv_side(size, 2) ** 2)
    else:
        stem = conv_bn(space.in_channels, space.stem_width, 3, size * size)
    return stem + linear(space.channels(len(space.stages) - 1)[1], space.num_classes, True)


def stage_count(space: Space, stage: int, choice: Choice) -> Count:
    """All blocks of stage ``stage`` with ``choice``; independent of the other stages' choices."""
    total = Count()
    for b in space.plan():
        if b.stage != stage:
            continue
        hw_in, hw, out_c = b.side_in**2, b.side**2, b.attn.out_channels
        if b.block == "basic":
            total += _conv_slot(space, b.conv, hw, choice) + conv_bn(b.conv.out_channels, out_c, 3, hw)
        else:
            total += conv_bn(b.in_channels, b.conv.in_channels, 1, hw_in)  # 1x1 reduce, before the strided 3x3
            total += _conv_slot(space, b.conv, hw, choice)
            total += conv_bn(b.conv.out_channels, out_c, 1, hw)
        total += _attn_slot(space, b.attn, hw, choice)
        if b.conv.stride != 1 or b.in_channels != out_c:
            total += conv_bn(b.in_channels, out_c, 1, hw)  # projection shortcut
    return total


def cost_table(space: Space) -> tuple[Count, tuple[dict[Choice, Count], ...]]:
    """(trunk, per stage {choice: stage cost}): all any arch's count is made of."""
    choices = [Choice.parse(c) for c in space.choices]
    stages = tuple({c: stage_count(space, i, c) for c in choices} for i in range(len(space.stages)))
    return trunk_count(space), stages


_TABLES: dict[int, tuple[Space, tuple]] = {}  # id(space) -> (space, cost table): a space is immutable


def _cached_table(space: Space) -> tuple:
    """:func:`cost_table` computed once per space object (keyed by identity: hashing a space costs ~70 us)."""
    hit = _TABLES.get(id(space))
    if hit is None or hit[0] is not space:
        hit = _TABLES[id(space)] = (space, cost_table(space))
    return hit[1]


def count(arch: Arch) -> Count:
    """Exact params, MACs and attention element-wise ops of ``build_model(arch)`` for one image.

    A sum of one trunk and one entry per stage from the space's cost table (computed once per space).
    """
    trunk, stages = _cached_table(arch.space)
    params, macs, ops = trunk.params, trunk.macs, trunk.attn_ops
    for table, choice in zip(stages, arch.choices, strict=True):
        c = table[choice]
        params, macs, ops = params + c.params, macs + c.macs, ops + c.attn_ops
    return Count(params, macs, ops)

"""Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", arXiv 1709.01507): the ``se`` attention kind.

The attention slot of a residual block: after the block's last BN, before the residual add. Knob: the reduction r.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from seknet.core.attention import SlotShape
    from seknet.core.space import Space


def squeeze_excite(
    x: Tensor, w1: Tensor, b1: Tensor | None, w2: Tensor, b2: Tensor | None, gain: float = 1.0
) -> Tensor:
    """SE on ``x`` (B, C, H, W) with FC weights w1 (C/r, C) and w2 (C, C/r): x * gain * sigmoid(W2 relu(W1 pool(x))).

    ``gain`` is 1 in the paper; 2 makes a fresh SE (sigmoid near 0.5) start near identity (NF-Nets' attn_gain).
    """
    s = x.mean((2, 3))  # squeeze: (B, C)
    z = F.relu(F.linear(s, w1, b1))  # (B, C/r)
    e = torch.sigmoid(F.linear(z, w2, b2))  # excitation: (B, C)
    if gain != 1.0:
        e = gain * e
    return x * e[:, :, None, None]  # scale


class SqueezeExcite(nn.Module):
    """SE with reduction r: FC(C -> C // r) -> ReLU -> FC(C // r -> C) -> sigmoid -> scale.

    Differs from timm: the hidden width is exactly C // r, never rounded up to a multiple of 8
    (rounding makes r = 8, 16, 32 one and the same model on narrow stages).
    """

    def __init__(self, channels: int, reduction: int = 16, bias: bool = True, gain: float = 1.0) -> None:
        super().__init__()
        self.gain = gain
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(f"SE reduction r={reduction} leaves no hidden unit on {channels} channels")
        self.fc1 = nn.Linear(channels, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, channels, bias=bias)

    @classmethod
    def for_slot(cls, space: Space, reduction: int, shape: SlotShape) -> SqueezeExcite:
        """SE(r) in an attention slot of ``shape.out_channels``, with the space's ``se`` knobs (bias, gain)."""
        return cls(shape.out_channels, reduction, space.se.bias, space.se.gain)

    def forward(self, x: Tensor) -> Tensor:
        return squeeze_excite(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, self.gain)


class SharedSqueezeExcite(SqueezeExcite):
    """Every SE(r) of a supernet slot in one SE at the smallest r (the widest); SE(r) slices it (Once-for-All)::

    fc1.weight (C/r_min, C), fc1.bias (C/r_min,): rows [:C/r] are SE(r)
    fc2.weight (C, C/r_min):                       columns [:C/r] are SE(r); fc2.bias is shared whole
    """

    @classmethod
    def for_slot(cls, space: Space, reductions: tuple[int, ...], shape: SlotShape) -> SharedSqueezeExcite:
        return cls(shape.out_channels, min(reductions), space.se.bias, space.se.gain)

    def forward(self, x: Tensor, reduction: int) -> Tensor:
        h = x.shape[1] // reduction
        b1 = None if self.fc1.bias is None else self.fc1.bias[:h]
        return squeeze_excite(x, self.fc1.weight[:h], b1, self.fc2.weight[:, :h], self.fc2.bias, self.gain)

    def unused(self, reductions: list[int]) -> list[tuple[nn.Parameter, tuple]]:
        """(parameter, index) of the rows and columns that SE(r) for none of ``reductions`` uses."""
        h = self.fc1.weight.shape[1] // min(reductions)  # widest hidden size in use
        out = [
            (self.fc1.weight, (slice(h, None),)),
            (self.fc2.weight, (slice(None), slice(h, None))),
        ]
        return out + ([(self.fc1.bias, (slice(h, None),))] if self.fc1.bias is not None else [])

"""Squeeze-and-Excitation (Hu et al., "Squeeze-and-Excitation Networks", arXiv 1709.01507).

The attention slot of a residual block: after the block's last BN, before the residual add.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


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

    def forward(self, x: Tensor) -> Tensor:
        return squeeze_excite(x, self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias, self.gain)

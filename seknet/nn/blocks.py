"""Residual blocks with two attention slots (He et al. arXiv 1512.03385; ResNeXt, Xie et al. arXiv 1611.05431).

SE and SK fill *different slots* of a block:
- the conv slot is the block's 3x3 conv (+ BN + ReLU), which carries the stride; SK(M) replaces it;
- the attention slot follows the block's last BN, before the residual add; SE(r) goes there.
A stage choice maps onto (conv slot, attn slot): none -> (3x3, identity), se<r> -> (3x3, SE(r)),
sk<M> -> (SK(M), identity). Slots are modules handed in by the caller (``seknet.nn.slots`` makes a stand-alone
model's; the supernet makes its shared ones), so both build the very same trunk; the ``*choice`` passed to
``forward`` reaches only the slots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn

from seknet.nn.layers import ConvBnAct

if TYPE_CHECKING:
    from seknet.core.attention import Choice


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity, or 1x1 conv + BN where the shape changes (ResNet option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ConvBnAct(in_channels, out_channels, 1, stride, act=False)


class BasicBlock(nn.Module):
    """conv slot (3x3, stride) -> 3x3 conv + BN -> attn slot -> + shortcut -> ReLU.

    As timm's SelectiveKernelBasic, SK replaces the first 3x3 conv, the one with the stride.
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int, conv_slot: nn.Module, attn_slot: nn.Module) -> None:
        super().__init__()
        self.conv1 = conv_slot
        self.conv2 = ConvBnAct(width, width, 3, act=False)
        self.attn = attn_slot
        self.downsample = shortcut(in_channels, width, stride)

    def forward(self, x: Tensor, *choice: Choice) -> Tensor:
        out = self.attn(self.conv2(self.conv1(x, *choice)), *choice)
        return F.relu(out + self.downsample(x))


class Bottleneck(nn.Module):
    """1x1 conv + BN + ReLU -> conv slot (3x3, groups, stride) -> 1x1 conv + BN -> attn slot -> + shortcut -> ReLU.

    The stride sits on the 3x3 conv (torchvision's "ResNet v1.5"), as in SKNet.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int,
        conv_slot: nn.Module,
        attn_slot: nn.Module,
        inner: int,
    ) -> None:
        super().__init__()
        self.conv1 = ConvBnAct(in_channels, inner, 1)
        self.conv2 = conv_slot
        self.conv3 = ConvBnAct(inner, width * 4, 1, act=False)
        self.attn = attn_slot
        self.downsample = shortcut(in_channels, width * 4, stride)

    def forward(self, x: Tensor, *choice: Choice) -> Tensor:
        out = self.attn(self.conv3(self.conv2(self.conv1(x), *choice)), *choice)
        return F.relu(out + self.downsample(x))

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


class ResidualBlock(nn.Module):
    """A block as its parts, in order: ``before_slot`` -> ``conv_slot`` -> ``after_slot`` (up to the last BN) ->
    ``attn`` -> ``join`` with ``downsample(x)`` (+ shortcut, ReLU).

    Only the two slots see the choice. So the parts up to the attention slot depend on the conv slot's choice alone,
    and the shortcut on none: scoring (``seknet.engine.score``) computes them once for the choices that share them.
    """

    attn: nn.Module
    downsample: nn.Module

    @property
    def conv_slot(self) -> nn.Module:
        """The slot that conv kinds (SK) fill: the block's 3x3 conv."""
        raise NotImplementedError

    def before_slot(self, x: Tensor) -> Tensor:
        """The part of the residual branch before the conv slot."""
        raise NotImplementedError

    def after_slot(self, h: Tensor) -> Tensor:
        """The part of the residual branch from the conv slot's output to the attention slot (its last BN)."""
        raise NotImplementedError

    @staticmethod
    def join(out: Tensor, shortcut: Tensor) -> Tensor:
        """The residual sum and the block's last ReLU."""
        return F.relu(out + shortcut)

    def forward(self, x: Tensor, *choice: Choice) -> Tensor:
        out = self.attn(self.after_slot(self.conv_slot(self.before_slot(x), *choice)), *choice)
        return self.join(out, self.downsample(x))


class BasicBlock(ResidualBlock):
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

    @property
    def conv_slot(self) -> nn.Module:
        return self.conv1

    def before_slot(self, x: Tensor) -> Tensor:
        return x

    def after_slot(self, h: Tensor) -> Tensor:
        return self.conv2(h)


class Bottleneck(ResidualBlock):
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

    @property
    def conv_slot(self) -> nn.Module:
        return self.conv2

    def before_slot(self, x: Tensor) -> Tensor:
        return self.conv1(x)

    def after_slot(self, h: Tensor) -> Tensor:
        return self.conv3(h)

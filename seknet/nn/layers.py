"""Small shared layers: conv + BN (+ ReLU), the unit every ResNet conv slot is made of; BN re-estimation."""

from __future__ import annotations

import torch
from torch import nn


class ConvBnAct(nn.Sequential):
    """``k x k`` conv (no bias) -> BN -> ReLU (or no activation with ``act=False``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act: bool = True,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()


def recalibrate_bn(model: nn.Module, batches, arch=None) -> nn.Module:
    """Re-estimate every BN's running statistics as the plain average over ``batches`` of images.

    Inherited statistics are wrong for any one sub-net (SPOS); run this before scoring. ``arch`` is
    passed on for a supernet. Leaves the model in eval mode.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x) if arch is None else model(x, arch)
    return model.eval()

"""Selective Kernel convolution (Li et al., "Selective Kernel Networks", arXiv 1903.06586): the ``sk`` attention kind.

The conv slot of a residual block: it replaces the block's 3x3 conv (+ BN + ReLU) and carries its stride. Knob: the
number of paths M.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor, nn

from seknet.nn.layers import ConvBnAct

if TYPE_CHECKING:
    from seknet.core.attention import SlotShape
    from seknet.core.space import Space


def select_kernel(feats: list[Tensor], fc: nn.Module, bn: nn.Module, select_w: Tensor) -> Tensor:
    """Fuse and select over the M path outputs ``feats`` (each (B, C, H, W)).

    ``select_w`` is (M*C, d), laid out path-major: rows [m*C:(m+1)*C] give path m's logits.
    """
    m, (b, c) = len(feats), feats[0].shape[:2]
    u = feats[0]
    for f in feats[1:]:
        u = u + f  # fuse: U = sum_m U_m, (B, C, H, W)
    z = F.relu(bn(fc(u.mean((2, 3)))))  # s = pool(U), z = ReLU(BN(W_fc s)): (B, d)
    a = F.linear(z, select_w).view(b, m, c).softmax(1)  # attention across paths: (B, M, C)
    v = feats[0] * a[:, 0, :, None, None]
    for i in range(1, m):
        v = v + feats[i] * a[:, i, :, None, None]  # V = sum_m a_m * U_m
    return v


class SelectiveKernel(nn.Module):
    """SK conv with M paths; path i is a 3x3 grouped conv with dilation i + 1 (so "5x5" = 3x3 dilated 2).

    As in the paper: each path has BN + ReLU; the fuse FC (C -> d, d = max(C // r, L)) and the select
    FC (d -> M*C) have no bias, and the fuse FC is followed by BN + ReLU. Differs from the paper only in
    groups = min(G, C), so that narrow CIFAR/digits stages can take SK too.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        num_paths: int = 2,
        groups: int = 32,
        attn_channels: int = 32,
    ) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            ConvBnAct(in_channels, out_channels, 3, stride, groups, dilation=i + 1) for i in range(num_paths)
        )
        self.fc = nn.Linear(out_channels, attn_channels, bias=False)
        self.bn = nn.BatchNorm1d(attn_channels)
        self.select = nn.Linear(attn_channels, num_paths * out_channels, bias=False)

    @classmethod
    def for_slot(cls, space: Space, num_paths: int, shape: SlotShape) -> SelectiveKernel:
        """SK(M) in a conv slot of ``shape``: groups min(G, C) and d = max(C // r, L) from the space's ``sk`` knobs."""
        c = shape.out_channels
        return cls(
            shape.in_channels,
            c,
            shape.stride,
            num_paths,
            space.sk_groups(c),
            space.sk_attn_channels(c),
        )

    def forward(self, x: Tensor) -> Tensor:
        return select_kernel([p(x) for p in self.paths], self.fc, self.bn, self.select.weight)


class SharedSelectiveKernel(SelectiveKernel):
    """Every SK(M) of a supernet slot in one SK with the most paths; SK(M) uses the first M (Once-for-All)::

    paths[0..M_max-1] (dilation 1..M_max):    paths [:M] are SK(M)
    select.weight (M_max*C, d), path-major:   rows [:M*C] are SK(M); fc (d, C) and its BN are shared
    """

    @classmethod
    def for_slot(cls, space: Space, num_paths: tuple[int, ...], shape: SlotShape) -> SharedSelectiveKernel:
        return super().for_slot(space, max(num_paths), shape)

    def forward(self, x: Tensor, num_paths: int) -> Tensor:
        return self.finish(self.common(x, [num_paths]), num_paths)

    def common(self, x: Tensor, num_paths: list[int]) -> list[Tensor]:
        """What SK(M) for every M in ``num_paths`` shares: the outputs U_m of the first max(M) paths."""
        return [p(x) for p in self.paths[: max(num_paths)]]

    def finish(self, feats: list[Tensor], num_paths: int) -> Tensor:
        """SK(M) from :meth:`common`'s path outputs: fuse and select over the first M."""
        c = self.select.out_features // len(self.paths)
        return select_kernel(feats[:num_paths], self.fc, self.bn, self.select.weight[: num_paths * c])

    def unused(self, num_paths: list[int]) -> list[tuple[nn.Parameter, tuple]]:
        """(parameter, index) of the select rows that SK(M) for none of ``num_paths`` uses."""
        c = self.select.out_features // len(self.paths)
        return [(self.select.weight, (slice(max(num_paths) * c, None),))]

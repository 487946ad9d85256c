"""The slots of a stand-alone model's blocks, from a stage's choice: the one place a choice becomes a module.

A choice's attention kind says which slot it fills (``seknet.core.attention``): ``conv`` kinds (SK) replace the block's
3x3 conv, ``attn`` kinds (SE) follow the block's last BN; the other slot stays plain (3x3 conv + BN + ReLU, or
identity). The kind's module is built by its ``for_slot(space, value, shape)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from seknet.core.attention import KINDS, SlotShape
from seknet.nn.layers import ConvBnAct

if TYPE_CHECKING:
    from seknet.core.attention import Choice
    from seknet.core.space import Space


def conv_slot(space: Space, choice: Choice, shape: SlotShape) -> nn.Module:
    """The conv slot for ``choice``: its kind's module for a conv kind, else the plain 3x3 conv + BN + ReLU."""
    if choice.slot == "conv":
        return KINDS[choice.kind].part("module").for_slot(space, choice.value, shape)
    return ConvBnAct(shape.in_channels, shape.out_channels, 3, shape.stride, shape.groups)


def attn_slot(space: Space, choice: Choice, shape: SlotShape) -> nn.Module:
    """The attention slot for ``choice``: its kind's module for an attention kind, else identity."""
    if choice.slot == "attn":
        return KINDS[choice.kind].part("module").for_slot(space, choice.value, shape)
    return nn.Identity()

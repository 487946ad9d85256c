"""ResNet/ResNeXt backbones described by a search space, with each block's slots supplied by the caller."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from seknet.core.attention import Choice, SlotShape
from seknet.core.space import Arch, BlockPlan, Space
from seknet.nn.blocks import BasicBlock, Bottleneck
from seknet.nn.layers import ConvBnAct
from seknet.nn.slots import attn_slot, conv_slot

# (stage index, the conv slot's shape, the attention slot's shape) -> (conv slot, attn slot)
SlotFactory = Callable[[int, SlotShape, SlotShape], tuple[nn.Module, nn.Module]]


def stem(space: Space) -> nn.Module:
    """The stem: 7x7/2 conv + 3x3/2 max-pool (ImageNet) or one 3x3 conv (CIFAR-sized inputs)."""
    if space.stem == "imagenet":
        return nn.Sequential(ConvBnAct(space.in_channels, space.stem_width, 7, 2), nn.MaxPool2d(3, 2, padding=1))
    return ConvBnAct(space.in_channels, space.stem_width, 3)


def head(in_features: int, num_classes: int) -> nn.Linear:
    """The classifier on the globally pooled last stage."""
    return nn.Linear(in_features, num_classes)


class Stage(nn.ModuleList):
    """The residual blocks of one stage, run in order; ``choice`` (if any) goes to every block's slots."""

    def forward(self, x: Tensor, *choice: Choice) -> Tensor:
        for block in self:
            x = block(x, *choice)
        return x


def stage_blocks(plans: Sequence[BlockPlan], slots: SlotFactory) -> Stage:
    """The blocks ``plans`` (one stage's, of ``Space.plan``), each one's conv and attention slots made by ``slots``."""
    blocks = Stage()
    for b in plans:
        cs, at = slots(b.stage, b.conv, b.attn)
        if b.block == "basic":
            blocks.append(BasicBlock(b.in_channels, b.width, b.conv.stride, cs, at))
        else:
            blocks.append(Bottleneck(b.in_channels, b.width, b.conv.stride, cs, at, inner=b.conv.out_channels))
    return blocks


def init_weights(module: nn.Module) -> nn.Module:
    """torchvision's ResNet initialisation: Kaiming-normal (fan-out) convs, the rest left to PyTorch."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return module


def plain_slots(space: Space, choices: Sequence[Choice]) -> SlotFactory:
    """The slots of a stand-alone model: stage i's blocks get exactly ``choices[i]``."""

    def slots(i: int, conv: SlotShape, attn: SlotShape) -> tuple[nn.Module, nn.Module]:
        cs = conv_slot(space, choices[i], conv)  # built first: the weights drawn keep their order
        return cs, attn_slot(space, choices[i], attn)

    return slots


class ResNet(nn.Module):
    """stem -> stages of residual blocks -> global pool -> FC classifier.

    ``forward(x, arch)`` passes ``arch.choices[i]`` to stage i's slots: the supernet's slots need
    it, a stand-alone model's do not (call it as ``model(x)``).
    """

    def __init__(self, space: Space, slots: SlotFactory) -> None:
        super().__init__()
        self.space = space
        plans = space.plan()
        self.stem = stem(space)
        self.stages = nn.ModuleList(
            stage_blocks([b for b in plans if b.stage == i], slots) for i in range(len(space.stages))
        )
        self.fc = head(plans[-1].attn.out_channels, space.num_classes)
        init_weights(self)

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        x = self.stem(x)  # (B, stem_width, H', W')
        for i, stage in enumerate(self.stages):
            x = stage(x) if arch is None else stage(x, arch.choices[i])
        return self.fc(x.mean((2, 3)))  # (B, num_classes)


def build_model(arch: Arch) -> ResNet:
    """A plain stand-alone model for ``arch``: no search machinery inside."""
    return ResNet(arch.space, plain_slots(arch.space, arch.choices))

from __future__ import annotations

import pytest
import torch
from torch import nn

import seknet
from seknet.nn.blocks import BasicBlock, Bottleneck
from seknet.nn.layers import ConvBnAct
from seknet.nn.se import SqueezeExcite
from seknet.nn.sk import SelectiveKernel


@pytest.mark.parametrize("choice", ["none", "se4", "se8", "se16", "se32", "sk2", "sk3", "sk4"])
def test_every_choice_at_every_stage_gives_logits(digits, choice):
    """For each choice in each stage, a batch of images maps to (B, classes) finite logits and grads."""
    torch.manual_seed(0)
    for i in range(4):
        parts = ["none"] * 4
        parts[i] = choice
        model = seknet.build_model(digits.parse("-".join(parts)))
        out = model(torch.randn(3, 1, 16, 16))
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_slots_hold_what_the_choice_says(digits):
    """SE sits in the attention slot after the last BN; SK replaces the strided 3x3 conv slot."""
    model = seknet.build_model(digits.parse("se16-sk3-none-se4"))
    b0, b1, b2, b3 = (stage[0] for stage in model.stages)
    assert isinstance(b0, BasicBlock) and isinstance(b0.attn, SqueezeExcite) and b0.attn.fc1.out_features == 2
    assert isinstance(b0.conv1, ConvBnAct)
    assert isinstance(b1.conv1, SelectiveKernel) and len(b1.conv1.paths) == 3 and isinstance(b1.attn, nn.Identity)
    assert b1.conv1.paths[0].conv.stride == (2, 2)  # SK carries the block's stride
    assert isinstance(b2.conv1, ConvBnAct) and isinstance(b2.attn, nn.Identity)
    assert b3.attn.fc1.out_features == 96 // 4
    names = [n for n, _ in b0.named_children()]
    assert names.index("attn") == names.index("conv2") + 1  # after the last conv + BN, before the add


def test_bottleneck_slots(tmp_path):
    """In a bottleneck, SK replaces the grouped 3x3 (inner width) and SE acts on the 4x-wide output."""
    space = seknet.load_space("search_space/imagenet_resnext50.yaml")
    model = seknet.build_model(space.parse("sk2-se16-none-none"))
    b = model.stages[0][0]
    assert isinstance(b, Bottleneck) and isinstance(b.conv2, SelectiveKernel)
    assert b.conv2.paths[1].conv.groups == 32 and b.conv2.paths[1].conv.in_channels == 128
    assert b.conv2.fc.out_features == 32  # d = max(128 // 16, L = 32)
    s = model.stages[1][0]
    assert s.attn.fc1.in_features == 512 and s.attn.fc1.out_features == 32
    assert s.conv2.conv.stride == (2, 2) and s.conv1.conv.stride == (
        1,
        1,
    )  # stride on the 3x3 (v1.5)


def test_model_is_plain(digits):
    """build_model returns an ordinary nn.Module: forward takes only the images, state dict loads strictly."""
    arch = digits.parse("sk4-se8-se32-sk2")
    a, b = seknet.build_model(arch), seknet.build_model(arch)
    b.load_state_dict(a.state_dict(), strict=True)
    a.eval(), b.eval()
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("name", ["digits", "imagenet_resnext50"])
def test_each_blocks_plan_is_what_the_built_model_feeds_and_returns(name):
    """Space.plan gives every block's input channels and side, output channels and side, and conv-slot stride
    exactly as the built model runs them (forward hooks on each block), for basic and bottleneck (ResNeXt) blocks."""
    from tests.conftest import space_named

    space = space_named(name)
    model = seknet.build_model(space.parse("-".join(["sk2"] * len(space.stages))))
    seen = []
    for block in (b for stage in model.stages for b in stage):
        block.register_forward_hook(lambda m, args, out: seen.append((tuple(args[0].shape[1:]), tuple(out.shape[1:]))))
    with torch.no_grad():
        model.eval()(torch.randn(1, space.in_channels, space.input_size, space.input_size))
    plans = space.plan()
    assert len(plans) == len(seen) == sum(s.depth for s in space.stages)
    for b, (x, y) in zip(plans, seen, strict=True):
        assert x == (b.in_channels, b.side_in, b.side_in)
        assert y == (b.attn.out_channels, b.side, b.side)
        assert b.side == -(-b.side_in // b.conv.stride)  # the stride rounds up

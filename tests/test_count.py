from __future__ import annotations

import random

import pytest
import thop
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import seknet
from seknet.core.count import se_count, sk_count
from tests.conftest import space_named

PUBLISHED = [  # (space, arch, params, MACs at 224^2)
    ("imagenet_resnet50", "none-none-none-none", 25_557_032, 4_089_184_256),  # ResNet-50
    ("imagenet_resnet50", "se16-se16-se16-se16", 28_088_024, 4_091_699_200),  # SE-ResNet-50
    ("imagenet_resnext50", "sk2-sk2-sk2-sk2", 27_479_784, 4_462_710_784),  # SKNet-50
]


def measure(model: nn.Module, space: seknet.Space, device: str = "meta") -> tuple[int, int]:
    """(sum of p.numel(), FlopCounterMode total / 2) of ``model`` on one sample."""
    x = torch.empty(1, space.in_channels, space.input_size, space.input_size, device=device)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def build_meta(arch: seknet.Arch) -> nn.Module:
    with torch.device("meta"):  # shapes only: exact for counting, and fast
        return seknet.build_model(arch)


@pytest.mark.parametrize("space,arch,params,macs", PUBLISHED, ids=[a for _, a, _, _ in PUBLISHED])
def test_published_figures(space, arch, params, macs):
    """count() gives the published params and MACs, and so does the built model, exactly."""
    a = space_named(space).parse(arch)
    c = seknet.count(a)
    assert (c.params, c.macs) == (params, macs)
    assert measure(build_meta(a), a.space) == (params, macs)


def stage_costs(
    space: seknet.Space,
) -> tuple[tuple[int, int], dict[tuple[int, str], tuple[int, int]]]:
    """Measure, on built models, the (params, MACs) of the trunk and of each (stage, choice).

    The 8 uniform archs (c-c-c-c) contain every (stage, choice) pair once.
    """
    per_stage, trunk = {}, set()
    for c in space.choices:
        arch = space.parse("-".join([c] * len(space.stages)))
        model = build_meta(arch).eval()
        total = measure(model, space)
        x = torch.empty(1, space.in_channels, space.input_size, space.input_size, device="meta")
        x = model.stem(x)
        for i, stage in enumerate(model.stages):
            counter = FlopCounterMode(display=False)
            with counter:
                for block in stage:
                    x = block(x)
            per_stage[i, c] = (
                sum(p.numel() for p in stage.parameters()),
                counter.get_total_flops() // 2,
            )
        stages = [per_stage[i, c] for i in range(len(space.stages))]
        trunk.add((total[0] - sum(p for p, _ in stages), total[1] - sum(m for _, m in stages)))
    assert len(trunk) == 1, "the trunk (stem + head) must not depend on the choices"
    return trunk.pop(), per_stage


@pytest.mark.parametrize(
    "name,whole", [("digits", 64), ("cifar10", 64), ("imagenet_resnet50", 16), ("imagenet_resnext50", 16)]
)
def test_count_is_exact_on_every_arch(name, whole):
    """For all 4,096 archs of each space: count() == built model's numel and FlopCounterMode / 2.

    Every arch's model is the trunk plus one stage module per choice, each built independently of
    the other stages; the (stage, choice) figures are measured on real built models, and ``whole``
    random archs are built and measured end to end to check that composition.
    """
    space = space_named(name)
    (tp, tm), per_stage = stage_costs(space)
    for arch in space.archs():
        want_p = tp + sum(per_stage[i, str(c)][0] for i, c in enumerate(arch.choices))
        want_m = tm + sum(per_stage[i, str(c)][1] for i, c in enumerate(arch.choices))
        c = seknet.count(arch)
        assert (c.params, c.macs) == (want_p, want_m), str(arch)
    for arch in random.Random(0).sample(space.archs(), whole):
        c = seknet.count(arch)
        assert measure(build_meta(arch), space) == (c.params, c.macs), str(arch)


@pytest.mark.slow
@pytest.mark.parametrize("name,sample", [("digits-81", None), ("digits", 128), ("cifar10", 128)])
def test_count_equals_the_whole_built_model(name, sample):
    """Whole models built and measured, no composition assumed: every arch of digits-81, and 128 seeded random archs
    of each 4,096-arch space on top of the 64 of test_count_is_exact_on_every_arch (all 8,192: about 25 min)."""
    space = space_named(name)
    archs = space.archs() if sample is None else random.Random(2).sample(space.archs(), sample)
    for arch in archs:
        c = seknet.count(arch)
        assert measure(build_meta(arch), space) == (c.params, c.macs), str(arch)


def _zero(m, x, y):
    pass


@pytest.mark.parametrize(
    "space,arch",
    [
        ("digits", "se4-sk2-sk4-none"),
        ("cifar10", "sk3-se32-none-se8"),
        ("imagenet_resnet50", "se16-se16-se16-se16"),
    ],
)
def test_thop_agrees_up_to_batchnorm(space, arch):
    """ultralytics-thop = count().macs + 4 ops per BN output element; with BN zeroed it is equal.

    thop also never sees the attention's functional element-wise ops (mean, sigmoid, softmax, scale),
    which is why count() reports them apart as attn_ops.
    """
    a = space_named(space).parse(arch)
    s, c = a.space, seknet.count(a)
    x = torch.randn(1, s.in_channels, s.input_size, s.input_size)
    model = seknet.build_model(a).eval()
    bn_elems = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: bn_elems.append(o.numel()))
        for m in model.modules()
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    macs, params = thop.profile(model, inputs=(x,), verbose=False)
    assert int(params) == c.params and int(macs) == c.macs + 4 * sum(bn_elems)
    zeroed = {nn.BatchNorm1d: _zero, nn.BatchNorm2d: _zero}
    macs, _ = thop.profile(seknet.build_model(a).eval(), inputs=(x,), verbose=False, custom_ops=zeroed)
    assert int(macs) == c.macs


def test_attn_ops_by_hand():
    """Attention element-wise ops, worked by hand.

    SE(r=4) on C=32, 4x4: pool 512 + ReLU 8 + sigmoid 32 + scale 512 = 1,064.
    SK(M=3) on C=16, 2x2, d=8: fuse 2*64 + pool 64 + ReLU 8 + softmax 3*3*16 + weights 3*64 + adds 2*64 = 664.
    """
    assert se_count(32, 4, 16).attn_ops == 1064
    assert se_count(32, 4, 16).macs == 32 * 8 * 2 and se_count(32, 4, 16).params == 32 * 8 * 2 + 8 + 32
    sk = sk_count(16, 16, 3, groups=4, d=8, hw=4)
    assert sk.attn_ops == 664
    assert sk.macs == 3 * (9 * 4 * 16 * 4) + 16 * 8 + 8 * 48
    assert sk.params == 3 * (9 * 4 * 16 + 32) + 16 * 8 + 16 + 8 * 48


def test_count_builds_no_model(digits, monkeypatch):
    """count() is analytic: it never constructs a module."""
    monkeypatch.setattr(nn.Module, "__init__", lambda *a, **k: (_ for _ in ()).throw(AssertionError("built")))
    assert seknet.count(digits.parse("sk4-sk4-se4-se4")).macs > 0

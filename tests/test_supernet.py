from __future__ import annotations

import random
import re

import pytest
import torch
from torch import nn

import seknet
from seknet.nn.supernet import Supernet, recalibrate_bn


@pytest.fixture(scope="module")
def trained(digits):
    """A supernet with non-trivial weights and BN statistics (a few random-arch train steps)."""
    torch.manual_seed(0)
    net = Supernet(digits)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    rng = random.Random(0)
    archs = digits.archs()
    for _ in range(6):
        arch = rng.choice(archs)
        loss = net(torch.randn(8, 1, 16, 16), arch).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _variations(space):
    """Every single-stage variation of none-none-none-none, and 100 random archs."""
    n = len(space.stages)
    singles = []
    for i in range(n):
        for c in space.choices:
            parts = ["none"] * n
            parts[i] = c
            singles.append(space.parse("-".join(parts)))
    return singles + random.Random(1).sample(space.archs(), 100)


def test_supernet_equals_extracted_twin(digits, trained):
    """In eval mode, supernet(x, arch) == extract(arch)(x) to <= 1e-5: single-stage variations, 100 random archs."""
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        for arch in _variations(digits):
            sub = trained.extract(arch).eval()
            assert (trained(x, arch) - sub(x)).abs().max().item() <= 1e-5, str(arch)


def test_extracted_model_is_plain_and_counted(digits, trained):
    """The extracted sub-net is a stand-alone model whose size is count(arch).params."""
    arch = digits.parse("sk3-se8-none-sk4")
    sub = trained.extract(arch)
    assert type(sub) is seknet.build_model(arch).__class__ and not isinstance(sub, Supernet)
    assert sum(p.numel() for p in sub.parameters()) == seknet.count(arch).params


def test_only_active_parameters_get_gradients(digits):
    """After backward on arch, inactive modules have no grad and inactive slices of shared tensors get zero."""
    torch.manual_seed(0)
    net = Supernet(digits)
    arch = digits.parse("se16-sk2-none-se4")
    net(torch.randn(4, 1, 16, 16), arch).sum().backward()
    b0, b1, b2, b3 = (s[0] for s in net.stages)
    # stage 0: se16 -> plain conv + SE rows [:2]; SK unused
    assert all(p.grad is None for p in b0.conv1.sk.parameters())
    assert b0.conv1.conv.conv.weight.grad.abs().sum() > 0
    g = b0.attn.se.fc1.weight.grad
    assert g[:2].abs().sum() > 0 and g[2:].abs().sum() == 0
    assert b0.attn.se.fc2.weight.grad[:, 2:].abs().sum() == 0
    # stage 1: sk2 -> paths 0, 1 and select rows [:2C]; plain conv and SE unused
    assert all(p.grad is None for p in b1.conv1.conv.parameters()) and all(p.grad is None for p in b1.attn.parameters())
    assert all(p.grad is not None for p in b1.conv1.sk.paths[1].parameters())
    assert all(p.grad is None for p in b1.conv1.sk.paths[2].parameters())
    sel = b1.conv1.sk.select.weight.grad
    assert sel[: 2 * 48].abs().sum() > 0 and sel[2 * 48 :].abs().sum() == 0
    # stage 2: none -> no attention parameters at all
    assert all(p.grad is None for p in b2.attn.parameters()) and all(p.grad is None for p in b2.conv1.sk.parameters())
    assert b3.attn.se.fc1.weight.grad.abs().sum() > 0


def test_recalibrated_supernet_matches_recalibrated_twin(digits, trained):
    """recalibrate_bn on supernet(., arch) gives the same BN statistics as on the extracted model."""
    torch.manual_seed(2)
    batches = [torch.randn(16, 1, 16, 16) for _ in range(3)]
    arch = digits.parse("sk4-se32-sk2-none")
    twin = recalibrate_bn(trained.extract(arch), batches)
    recalibrate_bn(trained, batches, arch)
    x = torch.randn(5, 1, 16, 16)
    with torch.no_grad():
        assert (trained(x, arch) - twin(x)).abs().max().item() <= 1e-5
        assert (trained.extract(arch)(x) - twin(x)).abs().max().item() <= 1e-5


def test_extract_refuses_other_space(trained):
    """An arch of another space cannot be extracted."""
    other = seknet.load_space("search_space/cifar10.yaml").parse("none-none-none-none")
    with pytest.raises(ValueError, match="belongs to space 'cifar10'"):
        trained.extract(other)


def test_separate_sharing_equals_extracted_twin(digits):
    """With sharing="separate", supernet(x, arch) == extract(arch)(x) and the twin has count(arch).params."""
    torch.manual_seed(0)
    net = Supernet(digits, "separate")
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.3, 0.3)
    net.eval()
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        for arch in _variations(digits)[:40]:
            sub = net.extract(arch).eval()
            assert (net(x, arch) - sub(x)).abs().max().item() <= 1e-5, str(arch)
            assert sum(p.numel() for p in sub.parameters()) == seknet.count(arch).params


def test_separate_sharing_keeps_each_choice_apart(digits):
    """Separate sharing: SE(16) and SK(2) train only their own modules; SE(4), SE(8), SK(3), SK(4) get no gradient."""
    torch.manual_seed(0)
    net = Supernet(digits, "separate")
    net(torch.randn(4, 1, 16, 16), digits.parse("se16-sk2-none-none")).sum().backward()
    b0, b1 = net.stages[0][0], net.stages[1][0]
    assert set(b0.attn.se) == {"4", "8", "16", "32"} and set(b1.conv1.sk) == {"2", "3", "4"}
    assert all(p.grad is not None for p in b0.attn.se["16"].parameters())
    assert all(p.grad is None for r in ("4", "8", "32") for p in b0.attn.se[r].parameters())
    assert all(p.grad is not None for p in b1.conv1.sk["2"].parameters())
    assert all(p.grad is None for m in ("3", "4") for p in b1.conv1.sk[m].parameters())
    assert b1.conv1.conv.conv.weight.grad is None and b0.conv1.conv.conv.weight.grad is not None


def test_unknown_sharing_is_refused(digits):
    """Supernet(space, sharing) names the valid values when given another."""
    with pytest.raises(ValueError, match=re.escape("unknown sharing 'none'; valid: sliced|separate")):
        Supernet(digits, "none")


def test_choice_affine_folds_into_the_extracted_twin(digits):
    """With per-choice affines (perturbed away from identity), every extracted sub-net gives the supernet's output."""
    torch.manual_seed(1)
    net = Supernet(digits, choice_affine=True)
    for name, p in net.named_parameters():
        if ".affine." in name:
            p.data.normal_(1.0 if ".scale." in name else 0.0, 0.3)
    net.eval()
    x = torch.randn(4, 1, 16, 16)
    for arch in [digits.parse(a) for a in ("se16-none-sk3-se4", "none-none-none-none", "sk4-se32-se8-sk2")]:
        assert torch.allclose(net(x, arch), net.extract(arch).eval()(x), atol=1e-5)
    assert Supernet.for_state(digits, net.state_dict()).choice_affine  # the layout is read back from the weights


def test_choice_affine_trains_only_the_sampled_choice(digits):
    """A step on one arch gives gradients to that choice's scale and shift in each stage, and None to the others."""
    net = Supernet(digits, choice_affine=True)
    arch = digits.parse("se16-none-sk3-se4")
    net(torch.randn(4, 1, 16, 16), arch).sum().backward()
    for i, stage in enumerate(net.stages):
        for c, p in stage[0].attn.affine.scale.items():
            assert (p.grad is not None) == (c == str(arch.choices[i])), (i, c)

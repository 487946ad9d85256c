"""Attention kinds (seknet.core.attention): a new kind is one module and one registration, and then it parses,
validates, builds, counts exactly and shares in the supernet like SE and SK. The toy kind here is ECA (Wang et al.,
"ECA-Net", arXiv 1910.03151): the attention slot, a 1-D conv of size k across the pooled channels."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import seknet
from seknet.core import attention
from seknet.core.count import Count
from seknet.core.space import space_from_dict
from tests.conftest import ROOT


# --- the new module: everything of the toy kind ---------------------------------------------------------------
class EfficientChannelAttention(nn.Module):
    """ECA: x * sigmoid(conv1d_k(pool(x))) over the channel axis, no bias."""

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel, padding=kernel // 2, bias=False)

    @classmethod
    def for_slot(cls, space, kernel: int, shape) -> EfficientChannelAttention:
        return cls(kernel)

    def forward(self, x):
        s = x.mean((2, 3))[:, None]  # (B, 1, C)
        return x * torch.sigmoid(self.conv(s))[:, 0, :, None, None]


def eca_count(space, kernel: int, shape, hw: int) -> Count:
    """k weights; k MACs per channel; pool (C*HW) + sigmoid (C) + scale (C*HW) element-wise ops."""
    c = shape.out_channels
    return Count(params=kernel, macs=kernel * c, attn_ops=2 * c * hw + c)


ECA = attention.AttentionKind(
    "eca",
    "attn",
    "kernel",
    (3, 5),
    "ECA-Net, arXiv 1910.03151",
    module=EfficientChannelAttention,
    count=eca_count,
)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def eca_space():
    """The digits space with ECA registered and offered beside SE and SK; the kind is unregistered afterwards."""
    import yaml

    attention.register(ECA)
    data = yaml.safe_load((ROOT / "search_space" / "digits.yaml").read_text())
    yield space_from_dict(data | {"choices": ["none", "eca3", "eca5", "se16", "sk2"]}, "eca.yaml")
    attention.unregister("eca")


def test_a_registered_kind_parses_builds_and_counts_exactly(eca_space):
    """eca3/eca5 parse once registered; the built model has exactly the counted params, and its MACs
    (FlopCounterMode / 2) are the count's: the kind needed no change anywhere else."""
    arch = eca_space.parse("eca3-none-eca5-se16")
    model = seknet.build_model(arch).eval()
    x = torch.randn(2, 1, 16, 16)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        out = model(x[:1])
    c = seknet.count(arch)
    assert out.shape == (1, 10) and sum(p.numel() for p in model.parameters()) == c.params
    assert fc.get_total_flops() // 2 == c.macs
    assert isinstance(model.stages[0][0].attn, EfficientChannelAttention)


def test_the_supernet_holds_a_registered_kind_and_extracts_its_twin(eca_space):
    """The supernet keeps one ECA per k (the kind has no sliced module), and every sub-net it extracts gives the
    supernet's outputs for that arch."""
    torch.manual_seed(0)
    net = seknet.Supernet(eca_space).eval()
    x = torch.randn(4, 1, 16, 16)
    for text in ("eca3-eca5-none-sk2", "eca5-se16-eca3-eca3", "none-none-none-none"):
        arch = eca_space.parse(text)
        with torch.no_grad():
            assert torch.allclose(net(x, arch), net.extract(arch).eval()(x), atol=1e-5), text
    assert set(net.stages[0][0].attn.eca) == {"3", "5"}


def test_an_unregistered_kind_is_an_unknown_choice():
    """Without the registration, 'eca3' is refused naming the valid choices (no eca among them)."""
    with pytest.raises(ValueError, match=r"unknown choice 'eca3'; valid: none\|se4") as e:
        seknet.Choice.parse("eca3")
    assert "eca" not in str(e.value).split("valid:")[1]


def test_a_kind_must_name_a_slot_and_values():
    """A kind with an unknown slot, no values or the name 'none' is refused; built-ins cannot be unregistered."""
    for bad in ({"slot": "head"}, {"values": ()}, {"name": "none"}):
        with pytest.raises(ValueError, match="attention kind"):
            attention.AttentionKind(
                **(
                    {
                        "name": "toy",
                        "slot": "attn",
                        "knob": "k",
                        "values": (1,),
                        "paper": "",
                        "module": nn.Identity,
                        "count": eca_count,
                    }
                    | bad
                )
            )
    with pytest.raises(ValueError, match="built-in"):
        attention.unregister("se")

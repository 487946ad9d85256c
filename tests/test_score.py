from __future__ import annotations

import random

import pytest
import torch

from seknet.core.space import space_from_dict
from seknet.engine.score import score_correct, score_logits
from seknet.nn.supernet import Supernet, recalibrate_bn

# two stages of two bottleneck blocks: a stage's later blocks see the choice too, and its first block has a 1x1
# conv before the conv slot (the parts a shared first block must not confuse)
BOTTLENECK = {
    "name": "bottleneck-2x2",
    "in_channels": 1,
    "input_size": 8,
    "num_classes": 10,
    "stem": "cifar",
    "stem_width": 16,
    "stages": [
        {"depth": 2, "width": 16, "stride": 1, "block": "bottleneck", "groups": 4, "base_width": 8},
        {"depth": 2, "width": 16, "stride": 2, "block": "bottleneck", "groups": 4, "base_width": 8},
    ],
    "choices": ["none", "se4", "se8", "sk2", "sk3"],
    "sk": {"groups": 4, "reduction": 16, "min_attn_channels": 8},
}


def test_prefix_sharing_is_exact(digits):
    """Tree-walk scores equal recalibrate_bn(extract(arch)) + eval, arch by arch, to float precision."""
    torch.manual_seed(0)
    net = Supernet(digits)
    recal = [torch.randn(16, 1, 16, 16) for _ in range(2)]
    val_x, val_y = torch.randn(40, 1, 16, 16), torch.randint(0, 10, (40,))
    archs = random.Random(0).sample(digits.archs(), 24) + [digits.parse("sk4-sk4-sk4-sk4")]
    logits = score_logits(net, archs, recal, val_x, chunk=16)
    for arch in archs:
        twin = recalibrate_bn(net.extract(arch), recal)
        with torch.no_grad():
            assert (twin(val_x) - logits[arch]).abs().max().item() <= 1e-4, str(arch)
    correct = score_correct(net, archs, recal, val_x, val_y)
    assert all(correct[a] == int((logits[a].argmax(1) == val_y).sum()) for a in archs)


@pytest.mark.parametrize(
    "layout", ["bottleneck, depth 2", "separate sharing", "per-choice affine"], ids=["bottleneck", "separate", "affine"]
)
def test_parts_shared_within_a_stage_are_exact(digits, layout):
    """A stage's first block computes its shortcut, its 3x3 conv (none and every SE) and SK's paths (every M) once
    per node; each arch's logits still equal its own recalibrate_bn(extract(arch)) + eval, on bottleneck stages of two
    blocks, with separate modules per value, and with per-choice affines (trained away from identity)."""
    torch.manual_seed(0)
    space = space_from_dict(BOTTLENECK, "bottleneck") if layout.startswith("bottleneck") else digits
    net = Supernet(space, "separate" if layout == "separate sharing" else "sliced", layout == "per-choice affine")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    side = space.input_size
    recal = [torch.randn(16, 1, side, side) for _ in range(2)]
    val_x = torch.randn(40, 1, side, side)
    archs = random.Random(1).sample(space.archs(), min(40, len(space.archs())))
    logits = score_logits(net, archs, recal, val_x, chunk=16)
    for arch in archs:
        twin = recalibrate_bn(net.extract(arch), recal)
        with torch.no_grad():
            assert (twin(val_x) - logits[arch]).abs().max().item() <= 1e-4, str(arch)

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


def test_scoring_memory_grows_with_the_chunk_not_with_the_validation_set():
    """8 x the validation images at the same chunk: the walk holds a node's shared parts (up to M + 3 stage tensors)
    for one chunk at a time, so its peak grows by little more than the images themselves. Held for the whole set, as
    before the chunked passes, 8,192 digits images cost about 2 GB more than 1,024 (measured: 10 GB on CIFAR-10).
    Measured as ``benchmarks.score_memory`` measures one walk: a fresh process, ru_maxrss."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]

    def peak_mb(images: int) -> int:
        argv = [sys.executable, "-m", "benchmarks.score_memory", "--walk", "shipped", "--space"]
        argv += ["search_space/digits.yaml", "--images", str(images), "--recal", "256", "--threads", "1"]
        out = subprocess.run(argv, cwd=root, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return r["peak_mb"] - r["before_mb"]

    small, large = peak_mb(1024), peak_mb(8192)
    assert large - small < 300, f"peak RSS grew {large - small} MB from 1,024 to 8,192 validation images"

from __future__ import annotations

import random

import torch

from seknet.engine.score import score_correct, score_logits
from seknet.nn.supernet import Supernet, recalibrate_bn


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

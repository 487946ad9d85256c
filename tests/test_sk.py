from __future__ import annotations

import torch
from torch import nn

from seknet.nn.sk import SelectiveKernel


def test_paths_are_dilated_grouped_3x3_convs():
    """Path i is a 3x3 conv with dilation i + 1 and padding i + 1, the given groups and the stride."""
    sk = SelectiveKernel(32, 48, stride=2, num_paths=4, groups=8, attn_channels=16)
    for i, p in enumerate(sk.paths):
        assert p.conv.kernel_size == (3, 3) and p.conv.dilation == (i + 1, i + 1)
        assert p.conv.padding == (i + 1, i + 1) and p.conv.groups == 8 and p.conv.stride == (2, 2)
        assert isinstance(p.bn, nn.BatchNorm2d) and isinstance(p.act, nn.ReLU)
    assert sk.fc.bias is None and sk.select.bias is None  # paper: attention FCs without bias, BN after fuse
    assert sk.select.weight.shape == (4 * 48, 16) and isinstance(sk.bn, nn.BatchNorm1d)
    assert sk(torch.randn(2, 32, 9, 9)).shape == (2, 48, 5, 5)


def test_sk_matches_the_paper_formula():
    """V = sum_m softmax_m(A_m z) * U_m, z = relu(BN(W_fc mean_hw(sum_m U_m))), in eval mode."""
    torch.manual_seed(0)
    sk = SelectiveKernel(8, 8, num_paths=3, groups=2, attn_channels=4).eval()
    for m in sk.modules():  # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        u = [p(x) for p in sk.paths]
        z = torch.relu(sk.bn(sk.fc(sum(u).mean((2, 3)))))
        logits = torch.stack([z @ sk.select.weight[i * 8 : (i + 1) * 8].T for i in range(3)])  # (M, B, C)
        a = logits.softmax(0)
        want = sum(a[i][:, :, None, None] * u[i] for i in range(3))
        torch.testing.assert_close(sk(x), want)

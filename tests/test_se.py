from __future__ import annotations

import pytest
import torch

from seknet.se import SqueezeExcite


def test_hidden_width_is_exactly_c_over_r():
    """SE(r) has C // r hidden units, no rounding to 8: r = 8, 16, 32 differ on 32 channels."""
    assert [SqueezeExcite(32, r).fc1.out_features for r in (4, 8, 16, 32)] == [8, 4, 2, 1]
    se = SqueezeExcite(64, 16)
    assert se.fc1.bias is not None and se.fc2.bias is not None  # released SENet / timm have FC biases
    with pytest.raises(ValueError, match="leaves no hidden unit"):
        SqueezeExcite(16, 32)


def test_se_matches_the_paper_formula():
    """SE(x) = x * sigmoid(W2 relu(W1 mean_hw(x) + b1) + b2), channel-wise."""
    torch.manual_seed(0)
    se, x = SqueezeExcite(8, 4), torch.randn(2, 8, 5, 5)
    s = x.mean((2, 3))
    e = torch.sigmoid(se.fc2.weight @ torch.relu(se.fc1.weight @ s.T + se.fc1.bias[:, None]) + se.fc2.bias[:, None])
    torch.testing.assert_close(se(x), x * e.T[:, :, None, None])

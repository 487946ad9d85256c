from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seknet.nn.se import SqueezeExcite


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


def test_gain_scales_the_excitation_and_a_fresh_gain2_se_starts_near_identity():
    """gain * sigmoid(.): gain 2 doubles gain 1's output, and with zeroed second-FC weights is exactly identity."""
    torch.manual_seed(0)
    se1, se2, x = SqueezeExcite(8, 4), SqueezeExcite(8, 4, gain=2.0), torch.randn(2, 8, 5, 5)
    se2.load_state_dict(se1.state_dict())
    torch.testing.assert_close(se2(x), 2 * se1(x))
    with torch.no_grad():
        se2.fc2.weight.zero_(), se2.fc2.bias.zero_()
    torch.testing.assert_close(se2(x), x)  # 2 * sigmoid(0) = 1


def test_space_se_gain_reaches_models_supernet_and_count(tmp_path):
    """se: {gain: 2} in a space file: the stand-alone model, the supernet and count all use it; gain <= 0 is refused."""
    import yaml

    import seknet
    from seknet.nn.supernet import Supernet

    data = yaml.safe_load(Path("search_space/digits.yaml").read_text()) | {"se": {"gain": 2.0}}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(data))
    space = seknet.load_space(tmp_path / "g.yaml")
    arch, plain = (
        space.parse("se16-se4-sk2-se32"),
        seknet.load_space("search_space/digits.yaml").parse("se16-se4-sk2-se32"),
    )
    assert seknet.count(arch).macs == seknet.count(plain).macs
    assert seknet.count(arch).attn_ops - seknet.count(plain).attn_ops == 32 + 48 + 96  # one multiply per SE channel
    torch.manual_seed(0)
    net, x = Supernet(space).eval(), torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert (net(x, arch) - net.extract(arch).eval()(x)).abs().max() <= 1e-5
    assert all(m.gain == 2.0 for m in seknet.build_model(arch).modules() if isinstance(m, SqueezeExcite))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data | {"se": {"gain": 0}}))
    with pytest.raises(ValueError, match=r"bad\.yaml\.se\.gain: must be a positive number, got 0"):
        seknet.load_space(tmp_path / "bad.yaml")

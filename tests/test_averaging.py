"""EMA and SWA weights (seknet.engine.averaging): exact on hand-worked weights, and invisible to the training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seknet.data.split import Split
from seknet.engine.averaging import WeightAverages
from seknet.engine.train import TrainConfig, train


def _linear(value: float) -> nn.Module:
    m = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(value)
    return m


def test_ema_follows_the_warmed_up_decay_exactly():
    """EMA = the first step's weights, then lerp toward each step's weights by 1 - min(decay, (1+t)/(10+t))."""
    avg, m = WeightAverages(epochs=1, ema_decay=0.5), _linear(0.0)
    avg.step(m)  # t = 1: the EMA starts at the weights after the first step (0)
    expect = 0.0
    for t, w in zip(range(2, 6), (1.0, 2.0, 3.0, 4.0), strict=True):
        m.weight.data.fill_(w)
        avg.step(m)
        decay = min(0.5, (1 + t) / (10 + t))
        expect = decay * expect + (1 - decay) * w
        assert avg.ema_model(m).weight.item() == pytest.approx(expect, rel=1e-6)


def test_swa_is_the_mean_of_the_last_quarter_of_epoch_ends():
    """8 epochs, fraction 0.25: the ends of epochs 7 and 8 are averaged; earlier ones are not."""
    avg, m = WeightAverages(epochs=8, swa_fraction=0.25), _linear(0.0)
    assert avg.swa_first == 7
    for epoch in range(1, 9):
        m.weight.data.fill_(float(epoch))
        avg.epoch_end(m, epoch)
    data = Split(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))
    assert avg.swa_model(m, data).weight.item() == pytest.approx(7.5)


def test_averages_raise_before_there_is_anything_to_average():
    """No EMA before the first step and no SWA before its first epoch: a ValueError saying when they start."""
    avg, m = WeightAverages(epochs=4), _linear(1.0)
    with pytest.raises(ValueError, match="first optimizer step"):
        avg.ema_model(m)
    with pytest.raises(ValueError, match="from 4 on"):
        avg.swa_model(m, Split(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ValueError, match="ema_decay"):
        WeightAverages(epochs=4, ema_decay=1.0)


def _tiny_training(averages: WeightAverages | None) -> tuple[list[float], nn.Module]:
    torch.manual_seed(0)
    x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 4, (64,))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 4))
    losses = train(model, Split(x, y), TrainConfig(epochs=3, batch_size=16, seed=1), progress=False, averages=averages)
    return losses, model


def test_averages_change_nothing_of_the_training():
    """The plain weights and losses of a training are bit-identical with and without averages kept."""
    plain_losses, plain = _tiny_training(None)
    avg = WeightAverages(epochs=3)
    losses, model = _tiny_training(avg)
    assert losses == plain_losses
    for a, b in zip(plain.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert avg.steps == 12 and avg.swa_count == 1  # 4 steps x 3 epochs; the last quarter of 3 epochs is epoch 3
    # the SWA of one epoch end is the final weights; its BN statistics are recomputed, not copied
    swa = avg.swa_model(model, Split(torch.randn(32, 3, 8, 8), torch.zeros(32, dtype=torch.long)))
    assert torch.equal(swa[0].weight, model[0].weight)
    assert not torch.equal(swa[1].running_mean, model[1].running_mean)

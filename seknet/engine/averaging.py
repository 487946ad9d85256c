"""Weight averages of one training, kept beside the plain weights at no extra training compute.

- EMA: an exponential moving average of the weights and BN buffers after every optimizer step (Polyak averaging;
  timm's ``ModelEmaV3``), with the decay warmed up as ``min(decay, (1 + t) / (10 + t))`` at step t, so a short
  schedule averages over its recent steps rather than its initial weights.
- SWA: the equal-weight mean of the weights at the end of each of the last ``ceil(swa_fraction * epochs)`` epochs
  (Izmailov et al., "Averaging Weights Leads to Wider Optima and Better Generalization", arXiv 1803.05407), its BN
  statistics then recomputed on training images (the SWA paper's ``update_bn``), as BN running stats of averaged
  weights are not the average of the running stats.

Neither draws from any random number generator, so the plain weights of a training are the same with or without
them. They are not part of a training checkpoint: a training resumed from one starts its averages afresh.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from seknet.data.split import Split, batches
from seknet.nn.layers import recalibrate_bn

EMA_DECAY = 0.998  # per step; with the warm-up, the effective decay is 1 - 9 / (10 + t) until t ~ 4,500 steps
SWA_FRACTION = 0.25  # SWA averages the ends of the last quarter of the epochs
SWA_BN_IMAGES = 2048  # training images (in order) that recompute the SWA weights' BN statistics


class WeightAverages:
    """The EMA and SWA weights of one model's training (``train(..., averages=...)`` updates them).

    ``step(model)`` after each optimizer step, ``epoch_end(model, epoch)`` after each epoch; ``ema_model(model)`` and
    ``swa_model(model, split)`` return evaluable copies of ``model`` holding the averages.
    """

    def __init__(self, epochs: int, ema_decay: float = EMA_DECAY, swa_fraction: float = SWA_FRACTION):
        if not 0.0 < ema_decay < 1.0 or not 0.0 < swa_fraction <= 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) and swa_fraction in (0, 1]; got {ema_decay}, {swa_fraction}")
        self.ema_decay, self.steps = ema_decay, 0
        self.swa_first = epochs - max(1, math.ceil(swa_fraction * epochs)) + 1  # first epoch whose end SWA takes
        self.ema: dict[str, Tensor] = {}  # filled at the first step, on the model's device
        self.swa: dict[str, Tensor] = {}
        self.swa_count = 0

    @torch.no_grad()
    def step(self, model: nn.Module) -> None:
        """Fold the weights after one optimizer step into the EMA."""
        self.steps += 1
        if not self.ema:
            self.ema = {k: v.detach().clone() for k, v in _state(model).items()}
            return
        decay = min(self.ema_decay, (1 + self.steps) / (10 + self.steps))
        for k, v in _state(model).items():
            if v.is_floating_point():
                self.ema[k].lerp_(v.detach(), 1.0 - decay)
            else:
                self.ema[k].copy_(v)  # BN's num_batches_tracked

    @torch.no_grad()
    def epoch_end(self, model: nn.Module, epoch: int) -> None:
        """Add the weights at the end of ``epoch`` (1-based) to the SWA mean once it is in the last epochs."""
        if epoch < self.swa_first:
            return
        params = {k: v.detach() for k, v in _state(model).items() if v.is_floating_point()}
        if not self.swa:
            self.swa = {k: v.clone() for k, v in params.items()}
        else:
            for k, v in params.items():
                self.swa[k].add_(v)
        self.swa_count += 1

    def ema_model(self, model: nn.Module) -> nn.Module:
        """A copy of ``model`` holding the EMA weights and BN buffers. Raises ValueError before the first step."""
        if not self.ema:
            raise ValueError("no EMA weights yet: the EMA starts at the first optimizer step")
        out = copy.deepcopy(_unwrap(model))
        out.load_state_dict(self.ema)
        return out

    @torch.no_grad()
    def swa_model(
        self, model: nn.Module, split: Split, images: int = SWA_BN_IMAGES, batch_size: int = 128
    ) -> nn.Module:
        """A copy of ``model`` holding the SWA mean, its BN statistics recomputed on the first ``images`` of
        ``split`` (train mode, cumulative average). Raises ValueError before any epoch was averaged."""
        if not self.swa_count:
            raise ValueError(f"no SWA weights yet: SWA averages the epochs from {self.swa_first} on")
        out = copy.deepcopy(_unwrap(model))
        state = out.state_dict()
        state.update({k: v / self.swa_count for k, v in self.swa.items()})
        out.load_state_dict(state)
        bns = [(m, m.momentum) for m in out.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        device = next(out.parameters()).device
        head = Split(split.x[:images], split.y[:images])
        recalibrate_bn(out, (x.to(device) for x, _ in batches(head, batch_size)))
        for m, momentum in bns:
            m.momentum = momentum  # as it was, for anyone who trains the copy further
        return out


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # a model inside a DDP wrapper


def _state(model: nn.Module) -> dict[str, Tensor]:
    return _unwrap(model).state_dict()

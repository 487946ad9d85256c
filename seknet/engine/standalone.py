"""Stand-alone training of one arch: the one recipe that Ray trials, NNI trials, retrain and the truth table share.

The arch is built by :func:`seknet.build_model` under ``torch.manual_seed(seed)`` (or handed in, e.g. extracted
from a supernet), trained by :func:`seknet.engine.train.train` with ``TrainConfig(seed=seed)`` (SGD + Nesterov, cosine
to 0), and scored on a split. Same seed, same arch, same data: the same correct count on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from seknet.core.space import Arch
from seknet.data.split import Split
from seknet.engine.train import TrainConfig, WeightAverages, evaluate, train
from seknet.nn.backbone import build_model

FAULT_ENV = "SEKNET_FAULT"  # test hook: "ARCH:EPOCH" makes ARCH's training raise after that epoch (fault suite)


def initial_model(arch: Arch, seed: int) -> nn.Module:
    """``build_model(arch)`` with the weights it draws under ``torch.manual_seed(seed)``: every trial's start."""
    torch.manual_seed(seed)
    return build_model(arch)


def train_standalone(
    arch: Arch,
    train_split: Split,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
    model: nn.Module | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    averages: WeightAverages | None = None,
    checkpoint: Path | None = None,
) -> nn.Module:
    """Train ``arch`` stand-alone for ``cfg.epochs``; returns the trained model.

    ``model``: start from these weights (e.g. a supernet's extracted sub-net) instead of
    :func:`initial_model` under ``cfg.seed``. ``on_epoch(epoch, loss)`` runs after each epoch; a NaN loss
    raises ``FloatingPointError`` naming the epoch (see :func:`seknet.engine.train.train`). ``averages``: EMA and SWA
    weights kept along (:class:`seknet.engine.averaging.WeightAverages`), at no extra training. ``checkpoint``: the
    training state is written there after every epoch, and a training whose file exists continues after its epoch
    (:func:`seknet.engine.train.train`; the averages start empty there).
    """
    if model is None:
        model = initial_model(arch, cfg.seed)
    fault = os.environ.get(FAULT_ENV, "").rpartition(":")

    def epoch_done(epoch: int, loss: float) -> None:
        if fault[0] == str(arch) and str(epoch) == fault[2]:
            raise RuntimeError(f"injected fault after epoch {epoch} ({FAULT_ENV})")
        if on_epoch is not None:
            on_epoch(epoch, loss)

    train(
        model, train_split, cfg, device, progress=False, on_epoch=epoch_done, checkpoint=checkpoint, averages=averages
    )
    return model


def standalone_correct(
    arch: Arch,
    train_split: Split,
    eval_split: Split,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
) -> int:
    """Correct count on ``eval_split`` of ``arch`` trained stand-alone from its seeded start."""
    return evaluate(train_standalone(arch, train_split, cfg, device), eval_split, device)

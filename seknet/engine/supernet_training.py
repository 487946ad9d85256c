"""Train a supernet as a one-shot config says: in this process, or data-parallel on Ray Train workers.

The one entry that the one-shot mode and the benchmarks share (Single Path One-Shot, Guo et al., arXiv:1904.00420:
one sampled path per step, ``--sampler`` naming how paths are drawn).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from seknet.core.config import OneShotConfig
from seknet.core.space import Space
from seknet.data.split import Data
from seknet.engine.ray_session import ray_session
from seknet.engine.ray_train import train_supernet_ddp
from seknet.engine.ray_trials import local_gpus
from seknet.engine.samplers import Paths
from seknet.engine.train import TrainConfig, train
from seknet.nn.supernet import Supernet


def train_supernet(
    cfg: OneShotConfig,
    space: Space,
    data: Data,
    device: torch.device,
    sharing: str = "sliced",
    checkpoint: Path | None = None,
) -> tuple[Supernet, list[float], list[float], dict]:
    """A supernet of ``space`` trained as ``cfg`` says (epochs, sampler, seed, ...), on CPU at the end.

    In this process on ``device``, or with ``cfg.train_workers`` > 1 on that many Ray Train workers (DDP; see
    :mod:`seknet.engine.ray_train`). ``sharing`` is the supernet's (see :class:`Supernet`). ``checkpoint``: saved after
    every epoch, and continued from when it exists (see :func:`seknet.engine.train.train`). Returns the supernet, its
    per-epoch training losses and training top-1 accuracies, and what config.yaml records about the training
    (workers, restarts).
    """
    tcfg = TrainConfig(
        cfg.epochs,
        cfg.batch_size,
        cfg.lr,
        seed=cfg.seed,
        freeze_unused=cfg.freeze_unused,
        checkpoint_minutes=cfg.checkpoint_minutes,
    )
    paths = Paths(space, cfg.sampler)
    if cfg.train_workers > 1:
        if checkpoint is None or sharing != "sliced":
            raise ValueError("data-parallel training needs a checkpoint path and the sliced supernet")
        num_gpus = local_gpus(cfg.gpus_per_worker, cfg.address)
        with ray_session(
            cfg.address,
            num_cpus=None if cfg.address else max(os.cpu_count() or 1, cfg.train_workers),
            num_gpus=num_gpus,
        ):
            net, losses, accuracies, restarts = train_supernet_ddp(
                tcfg,
                paths,
                data,
                checkpoint,
                cfg.train_workers,
                cfg.gpus_per_worker,
                cfg.choice_affine,
                cfg.max_failures,
            )
        return net, losses, accuracies, {"workers": cfg.train_workers, "restarts": restarts}
    torch.manual_seed(cfg.seed)
    net = Supernet(space, sharing, choice_affine=cfg.choice_affine)
    accuracies: list[float] = []
    losses = train(
        net,
        data.train,
        tcfg,
        device,
        paths,
        progress=cfg.progress,
        desc="train supernet",
        checkpoint=checkpoint,
        accuracies=accuracies,
    )
    return net.cpu().to(memory_format=torch.contiguous_format), losses, accuracies, {"workers": 1}

"""A run's data: the dataset by name (digits, CIFAR, ImageFolder), checked against the space, and the batches a
run draws from it (BN recalibration). Every mode, export and retrain load their data here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seknet.core.config import SMOKE_DATA, RunConfig
from seknet.core.plugins import DATASETS
from seknet.data.split import Data

if TYPE_CHECKING:
    from seknet.core.space import Space


def load_data(name: str, root: str | Path | None = None, seed: int = 0, size: int = 224, **kw) -> Data:
    """Load dataset ``name``, a registered one (``seknet.core.plugins.DATASETS``); CIFAR and ImageFolder read files
    under ``root``. ``size`` is the side ImageFolder images are resized and cropped to; ``kw`` goes to the loader
    (digits: how often each source is drawn)."""
    return DATASETS.load(name)(name, root, seed, size, **kw)


def run_data(
    cfg: RunConfig,
    input_size: int,
    test_variants: int | None = None,
    eval_variants: int | None = None,
) -> Data:
    """The dataset a run uses (smoke runs draw each digit once). On digits, ``eval_variants`` and ``test_variants``
    draw the validation and test sources that many times each (the training images stay the same).
    ``input_size``: the space's, the side ImageFolder images are resized to."""
    kw = dict(SMOKE_DATA) if cfg.smoke and cfg.data == "digits" else {}
    if cfg.data == "digits":
        kw |= {k: v for k, v in (("test_variants", test_variants), ("eval_variants", eval_variants)) if v is not None}
    return load_data(cfg.data, cfg.data_root, cfg.seed, input_size, **kw)


def check_data(space: Space, data: Data) -> None:
    """ValueError naming both when ``data`` does not fit ``space`` (image shape, classes)."""
    c, h, w = data.shape
    if (c, h, w) != (
        space.in_channels,
        space.input_size,
        space.input_size,
    ) or data.num_classes != space.num_classes:
        raise ValueError(
            f"data {data.name} is {c}x{h}x{w} with {data.num_classes} classes but space {space.name} expects "
            f"{space.in_channels}x{space.input_size}x{space.input_size} with {space.num_classes}; "
            "pick a matching --space"
        )


def data_summary(data: Data) -> dict:
    """The data section of config.yaml: dataset name and split sizes."""
    return {
        "name": data.name,
        "train": len(data.train),
        "val": len(data.val),
        "test": len(data.test),
    }


def recal_batches(data: Data, images: int, batch: int, seed: int) -> list[torch.Tensor]:
    """BN recalibration batches: ``images`` training images drawn by ``seed``, in batches of ``batch``."""
    gen = torch.Generator().manual_seed(seed)
    x = data.train.x[torch.randperm(len(data.train), generator=gen)[:images]]
    return list(x.split(batch))

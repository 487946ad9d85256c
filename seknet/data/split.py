"""A dataset as in-memory tensors: train, validation and test splits of normalised images and labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Images ``x`` (N, C, H, W) float32, normalised, and labels ``y`` (N,) int64."""

    x: Tensor
    y: Tensor
    source: Tensor | None = None  # digits: index of the UCI image each one is drawn from

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Data:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(self.train.x.shape[1:])


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
    """(x, y) batches of ``split``, shuffled when a generator is given, in order otherwise."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield split.x[idx], split.y[idx]

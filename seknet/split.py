"""A dataset as in-memory tensors: train, validation and test splits of normalised images and labels."""

from __future__ import annotations

from dataclasses import dataclass

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

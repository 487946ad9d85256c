"""The default dataset: cluttered digits, drawn from the UCI digits that scikit-learn ships (and the plain ones).

``digits`` needs neither torchvision nor a network: scikit-learn ships the UCI digits (1,797 8x8
images). Each source digit is drawn several times at a random scale and position onto a 16x16 canvas
with clutter cut from other digits of the same split; the split is *by source digit*, so no digit
appears in two splits. Plain 8x8 digits are too easy to rank attention (all archs ~98-99 %).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seknet.data.split import Data, Split


def _split_sources(n: int, rng: np.random.Generator, fractions=(0.6, 0.2)) -> tuple[np.ndarray, ...]:
    idx = rng.permutation(n)
    a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
    return idx[:a], idx[a:b], idx[b:]


def draw_cluttered(
    images: np.ndarray,
    variants: int,
    rng: np.random.Generator,
    size: int = 16,
    clutter: int = 4,
    scale: tuple[float, float] = (0.8, 1.8),
) -> np.ndarray:
    """Draw each 8x8 image (values in [0, 1]) ``variants`` times on a ``size`` canvas: (N * variants, size, size).

    Each copy: scaled by U(scale), placed at a random position, over ``clutter`` 4x4 patches cut at
    random from other images of ``images`` (max-composited, so strokes stay strokes).
    """
    n = len(images)
    src = torch.from_numpy(images).float()[:, None]  # (N, 1, 8, 8)
    out = np.zeros((n * variants, size, size), np.float32)
    for k in range(n * variants):
        i = k // variants
        canvas = np.zeros((size, size), np.float32)
        for _ in range(clutter):
            j = int(rng.integers(n - 1))
            j += j >= i  # another digit
            py, px = rng.integers(0, 5, 2)
            patch = images[j, py : py + 4, px : px + 4]
            cy, cx = rng.integers(0, size - 3, 2)
            canvas[cy : cy + 4, cx : cx + 4] = np.maximum(canvas[cy : cy + 4, cx : cx + 4], patch)
        side = int(round(8 * rng.uniform(*scale)))
        side = min(max(side, 4), size)
        digit = F.interpolate(src[i : i + 1], size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        y0, x0 = rng.integers(0, size - side + 1, 2)
        region = canvas[y0 : y0 + side, x0 : x0 + side]
        canvas[y0 : y0 + side, x0 : x0 + side] = np.maximum(region, digit[0, 0].numpy())
        out[k] = canvas
    return out


def _normalise(x: np.ndarray) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))
    return (t - 0.5) / 0.5


def load_digits(
    seed: int = 0,
    train_variants: int = 8,
    eval_variants: int = 6,
    test_variants: int | None = None,
    plain: bool = False,
) -> Data:
    """The UCI digits: cluttered 16x16 (default), or the plain 8x8 images with ``plain=True``.

    Split by source digit 60/20/20 (train/val/test); the val split of the cluttered task has
    ~360 sources x ``eval_variants`` images (2,160 by default), the test split ``test_variants``
    (default ``eval_variants``) per source. The splits are drawn in that order, so ``test_variants``
    changes the test split only: train and val stay the same images.
    """
    test_variants = eval_variants if test_variants is None else test_variants
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    images, labels = (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    parts = _split_sources(len(images), rng)
    splits = []
    for part, variants in zip(parts, (train_variants, eval_variants, test_variants), strict=True):
        if plain:
            x, src = images[part], part
        else:
            x, src = draw_cluttered(images[part], variants, rng), np.repeat(part, variants)
        splits.append(Split(_normalise(x[:, None]), torch.from_numpy(labels[src]), torch.from_numpy(src)))
    return Data("digits-plain" if plain else "digits", *splits, num_classes=10)


def dataset(name: str, root: object = None, seed: int = 0, size: int = 16, **kw) -> Data:
    """The registered loader of ``digits`` (cluttered; ``kw``: the draws per source) and ``digits-plain`` (8x8; it
    has no draws, so ``kw`` is ignored): ``seknet.core.plugins.DATASETS``. Nothing is read from ``root``."""
    return load_digits(seed, plain=True) if name == "digits-plain" else load_digits(seed, **kw)

"""Small statistics of accuracies: the Wilson interval of a count, and a percentile."""

from __future__ import annotations

import math
from collections.abc import Sequence


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy measured as ``correct`` of ``n``."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def p90(values: Sequence[float]) -> float:
    """The 90th percentile of ``values`` (nearest rank)."""
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]

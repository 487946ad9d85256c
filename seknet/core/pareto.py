"""Accuracy-MACs Pareto fronts: pure functions over (macs, accuracy) points.

A point dominates another if it has no more MACs and no less accuracy, and is better in one.
"""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated ``(macs, accuracy)`` points, by increasing MACs.

    Of exact duplicates the first is kept.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def hypervolume(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``points`` and bounded by ``ref = (max macs, min accuracy)``.

    Points outside the reference box add nothing.
    """
    inside = [(m, a) for m, a in points if m <= ref[0] and a >= ref[1]]
    area, prev_acc = 0.0, ref[1]
    for i in pareto_front(inside):
        m, a = inside[i]
        area += (ref[0] - m) * (a - prev_acc)
        prev_acc = a
    return area


def knee(points: Sequence[tuple[float, float]]) -> int:
    """Index of the front point farthest from the chord between the front's two ends (normalised axes)."""
    front = pareto_front(points)
    if len(front) <= 2:
        return front[-1]
    (m0, a0), (m1, a1) = points[front[0]], points[front[-1]]
    dm, da = (m1 - m0) or 1.0, (a1 - a0) or 1.0

    def dist(i: int) -> float:
        x, y = (points[i][0] - m0) / dm, (points[i][1] - a0) / da
        return y - x  # above the chord y = x in normalised coordinates

    return max(front, key=dist)

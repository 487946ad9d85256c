"""A toy proposer plugin: every arch in budget, in reverse order of the space."""

from __future__ import annotations

from seknet.modes.proposers import Exhaustive


def reverse(allowed, choices, stages, seed, cost, population):
    """(allowed, choices, stages, seed, cost, population) -> Proposer, as ``PROPOSERS`` calls it."""
    return Exhaustive(list(reversed(allowed)))

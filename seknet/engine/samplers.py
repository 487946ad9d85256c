"""Supernet path samplers: which archs one supernet training step trains, found by name.

- ``uniform``: one arch, each stage's choice drawn uniformly (SPOS, Guo et al., arXiv 1904.00420);
- ``sandwich``: the largest and smallest arch (by MACs) plus ``random`` uniform ones, losses summed (BigNAS's
  sandwich rule, Yu et al., arXiv 2003.11142);
- ``fair``: strict fairness (FairNAS, Chu et al., arXiv 1907.01845): one arch per choice, each stage's choices a
  random permutation, so every choice of every stage trains on every batch; the loss is the mean over those archs
  (FairNAS sums; the mean keeps the trunk's step size);
- ``balanced``: one arch whose every stage's conv slot is the plain 3x3 or a conv-slot kind (SK) with equal chance,
  then uniform within (uniform gives the SK paths 3 of 8 steps).

Each is a :class:`Sampler` registered by name in ``seknet.core.plugins.SAMPLERS`` (with ``one_per_step``, which
data-parallel training checks without importing this module); adding one is one :class:`Sampler` and one
registration.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from seknet.core.attention import Choice
from seknet.core.count import count
from seknet.core.plugins import SAMPLERS
from seknet.core.space import Arch, Space

SANDWICH_RANDOM = 2  # random archs per sandwich step besides the largest and smallest


def random_arch(space: Space, rng: random.Random) -> Arch:
    """One arch, each stage's choice uniform over the space's choices."""
    return Arch(space, tuple(Choice.parse(rng.choice(space.choices)) for _ in space.stages))


def balanced_arch(space: Space, rng: random.Random) -> Arch:
    """One arch whose every stage's conv slot is the plain 3x3 or a conv-slot kind with equal chance, then uniform
    within.

    Uniform sampling gives the plain conv (none and every SE(r)) 5 of 8 steps and the SK paths 3 of 8, so SK
    trains on fewer steps than what it is compared with. Here both conv kinds train on half the steps: the
    plain conv's choices (none, SE(r)) share one half uniformly, the SK(M) the other.
    """
    plain = [c for c in space.choices if Choice.parse(c).slot != "conv"]
    conv = [c for c in space.choices if Choice.parse(c).slot == "conv"]
    halves = [h for h in (plain, conv) if h]
    pick = [rng.choice(rng.choice(halves)) for _ in space.stages]
    return Arch(space, tuple(Choice.parse(c) for c in pick))


def fair_archs(space: Space, rng: random.Random) -> list[Arch]:
    """len(choices) archs in which each stage takes every choice exactly once (FairNAS strict fairness)."""
    perms = [rng.sample(space.choices, len(space.choices)) for _ in space.stages]
    return [Arch(space, tuple(Choice.parse(p[k]) for p in perms)) for k in range(len(space.choices))]


@functools.cache
def extreme_archs(space: Space) -> tuple[Arch, Arch]:
    """(largest, smallest) arch of the space by MACs: the sandwich rule's bread (computed once per space)."""
    archs = sorted(space.archs(), key=lambda a: (count(a).macs, count(a).params))
    return archs[-1], archs[0]


@dataclass(frozen=True)
class Sampler:
    """A sampling rule: ``draw(space, rng, subspace)`` gives one step's archs; ``average``: the step's loss is their
    mean (else their sum). Whether it trains one arch per step (data-parallel training needs that) is its
    registration's ``one_per_step``."""

    draw: Callable[[Space, random.Random, Sequence[Arch] | None], list[Arch]]
    average: bool = False


UNIFORM = Sampler(lambda s, rng, sub: [random_arch(s, rng) if sub is None else rng.choice(sub)])
SANDWICH = Sampler(lambda s, rng, sub: [*extreme_archs(s), *(random_arch(s, rng) for _ in range(SANDWICH_RANDOM))])
FAIR = Sampler(lambda s, rng, sub: fair_archs(s, rng), average=True)
BALANCED = Sampler(lambda s, rng, sub: [balanced_arch(s, rng)])


@dataclass(frozen=True)
class Paths:
    """What a supernet trains on: ``space``'s archs drawn by ``sampler`` each step (``subspace``: from these only, a
    few-shot sub-supernet, Zhao et al., arXiv 2006.06863; uniform sampler only)."""

    space: Space
    sampler: str = "uniform"
    subspace: tuple[Arch, ...] | None = None

    def __post_init__(self) -> None:
        SAMPLERS[self.sampler]  # noqa: B018 - an unknown name is one ValueError listing the valid ones
        if self.subspace is not None and (self.sampler != "uniform" or not self.subspace):
            raise ValueError("subspace: give a non-empty list of archs of the supernet's space, with sampler uniform")

    def step(self, rng: random.Random) -> list[Arch]:
        """The archs of one step, drawn from ``rng``."""
        return SAMPLERS.load(self.sampler).draw(self.space, rng, self.subspace)

    @property
    def average(self) -> bool:
        return SAMPLERS.load(self.sampler).average

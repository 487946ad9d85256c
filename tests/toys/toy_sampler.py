"""A toy supernet sampler plugin: every step trains the arch of each stage's last choice."""

from __future__ import annotations

from seknet.engine.samplers import Sampler

LAST = Sampler(lambda space, rng, subspace: [space.parse("-".join([space.choices[-1]] * len(space.stages)))])

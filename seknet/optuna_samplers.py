"""Optuna's samplers as the multi-trial search uses them: picklable in every Optuna version.

Ray Tune pickles the searcher (and the Optuna sampler inside it) when it starts and whenever it saves the search.
Optuna 5.1's GA samplers (NSGA-II) hold a ``threading.Lock``, which cannot be pickled ("cannot pickle
'_thread.lock' object"). The classes here are Optuna's own, pickled without their locks and given new ones when
unpickled; they keep Optuna's class names, so the keys they write into a study are Optuna's too.
"""

from __future__ import annotations

import threading

import optuna

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class _NoLocks:
    """Pickles without thread locks (each becomes None) and makes new ones when unpickled."""

    def __getstate__(self) -> dict:
        return {k: None if isinstance(v, _LOCK_TYPES) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for k, v in state.items():
            if v is None and k.endswith("_lock"):
                setattr(self, k, threading.Lock())


class NSGAIISampler(_NoLocks, optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II (Deb et al. 2002), picklable."""


class TPESampler(_NoLocks, optuna.samplers.TPESampler):
    """Optuna's TPE (Bergstra et al. 2011), picklable."""


class RandomSampler(_NoLocks, optuna.samplers.RandomSampler):
    """Optuna's random sampler, picklable."""


def optuna_sampler(name: str, seed: int, population: int = 50) -> optuna.samplers.BaseSampler:
    """The sampler behind multi-trial ``--sampler name`` (nsga2, tpe, random); ``population``: NSGA-II's."""
    if name == "nsga2":
        return NSGAIISampler(population_size=population, seed=seed)
    return {"tpe": TPESampler, "random": RandomSampler}[name](seed=seed)

"""Proposers: which archs a search evaluates next, found by name, behind one ask/tell interface (as Optuna's
``BaseSampler`` and Ray Tune's ``Searcher``).

- ``grid``: every arch in budget, in the space's order;
- ``random``: every arch in budget, in an order drawn by the seed;
- ``nsga2``: NSGA-II (Deb et al. 2002) through Optuna, two objectives (accuracy up, cost down);
- ``tpe``: TPE (Bergstra et al. 2011) through Optuna, on the same two objectives.

A proposer never gives an arch twice, and never one outside the budget: Optuna's samplers propose both, and such a
proposal is answered at once (a repeat with the result the sampler already has or will have, an arch over the
budget with accuracy 0 at its cost) and the sampler is asked again; ``counts`` records how often. One-shot runs ask
in batches and score each batch on Ray; multi-trial runs ask one arch per Ray Tune trial
(``seknet.modes.tune_searcher``). Adding one is one builder and one registration in
``seknet.core.plugins.PROPOSERS``.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence

import optuna

from seknet.core.plugins import PROPOSERS

Result = tuple[float, float]  # (accuracy, cost): what an arch scored, and what it costs on the run's objective
MAX_ASKS = 1_000  # proposals in a row answered without an evaluation before the space counts as exhausted
_LOCKS = (type(threading.Lock()), type(threading.RLock()))


class _NoLocks:
    """Pickles without thread locks (each becomes None) and makes new ones when unpickled: Ray Tune pickles the
    searcher, and optuna 5.1's GA samplers (NSGA-II) hold a ``threading.Lock`` ("cannot pickle '_thread.lock'")."""

    def __getstate__(self) -> dict:
        return {k: None if isinstance(v, _LOCKS) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for k, v in state.items():
            if v is None and k.endswith("_lock"):
                setattr(self, k, threading.Lock())


class NSGAIISampler(_NoLocks, optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II, picklable (it keeps Optuna's class name, so the keys it writes into a study are Optuna's)."""


class TPESampler(_NoLocks, optuna.samplers.TPESampler):
    """Optuna's TPE, picklable."""


class Proposer:
    """Ask/tell over the archs in budget (``allowed``, arch strings in the space's order).

    ``ask(n)`` gives up to ``n`` archs never given before (fewer, or none, when the proposer is done); ``tell``
    gives each finished arch's result, or None for one whose evaluation failed.
    """

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = list(allowed)
        self.counts = {"repeats_answered": 0, "over_budget_answered": 0}

    def ask(self, n: int = 1) -> list[str]:
        raise NotImplementedError

    def tell(self, results: dict[str, Result | None]) -> None:
        """Results of archs this proposer gave (the ordered proposers need none)."""


class Exhaustive(Proposer):
    """Every arch in budget once, in the space's order (``grid``)."""

    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__(allowed)
        self._next = 0

    def ask(self, n: int = 1) -> list[str]:
        out = self.allowed[self._next : self._next + n]
        self._next += len(out)
        return out


class Shuffled(Exhaustive):
    """Every arch in budget once, in an order drawn by ``seed`` (``random``)."""

    def __init__(self, allowed: Sequence[str], seed: int) -> None:
        super().__init__(allowed)
        random.Random(seed).shuffle(self.allowed)


class OptunaProposer(Proposer):
    """An Optuna sampler over one categorical choice per stage (``stage0``, ``stage1``, ...), maximizing accuracy
    and minimizing ``cost(arch)``; repeats and archs over the budget are answered without an evaluation."""

    def __init__(
        self,
        allowed: Sequence[str],
        choices: Sequence[str],
        stages: int,
        sampler,
        cost: Callable[[str], float],
    ) -> None:
        super().__init__(allowed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        self.dists = {f"stage{i}": optuna.distributions.CategoricalDistribution(list(choices)) for i in range(stages)}
        self.cost, self.in_budget = cost, set(allowed)
        self.known: dict[str, Result | None] = {}  # arch -> its result (None: it failed)
        self.pending: dict[str, list] = {}  # arch given out -> the Optuna trials waiting for its result

    def _answer(self, trial, result: Result | None) -> None:
        if result is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, list(result))

    def ask(self, n: int = 1) -> list[str]:
        out: list[str] = []
        for _ in range(MAX_ASKS):
            if len(out) == n:
                break
            trial = self.study.ask(self.dists)
            arch = "-".join(str(trial.params[f"stage{i}"]) for i in range(len(self.dists)))
            if arch not in self.in_budget and arch not in self.known:  # never evaluated: 0 at its cost
                self.known[arch] = (0.0, self.cost(arch))
                self.counts["over_budget_answered"] += 1
            elif arch in self.known or arch in self.pending:
                self.counts["repeats_answered"] += 1
            else:
                self.pending[arch] = [trial]
                out.append(arch)
                continue
            if arch in self.pending:
                self.pending[arch].append(trial)  # answered when the arch's result comes
            else:
                self._answer(trial, self.known[arch])
        return out

    def tell(self, results: dict[str, Result | None]) -> None:
        for arch, result in results.items():
            self.known[arch] = result
            for trial in self.pending.pop(arch, []):
                self._answer(trial, result)


def make(
    name: str,
    allowed: Sequence[str],
    choices: Sequence[str],
    stages: int,
    seed: int,
    cost: Callable[[str], float],
    population: int = 50,
) -> Proposer:
    """The proposer registered as ``name`` (``seknet.core.plugins.PROPOSERS``) over the archs in budget."""
    return PROPOSERS.load(name)(allowed, choices, stages, seed, cost, population)


# The registered builders: (allowed, choices, stages, seed, cost, population) -> Proposer.


def exhaustive(allowed: Sequence[str], *_) -> Proposer:
    """``grid``: every arch in budget in the space's order."""
    return Exhaustive(allowed)


def shuffled(allowed: Sequence[str], choices: Sequence[str], stages: int, seed: int, *_) -> Proposer:
    """``random``: every arch in budget in an order drawn by ``seed``."""
    return Shuffled(allowed, seed)


def nsga2(allowed, choices, stages, seed, cost, population) -> Proposer:
    """``nsga2``: Optuna's NSGA-II, ``population`` archs a generation."""
    return OptunaProposer(allowed, choices, stages, NSGAIISampler(population_size=population, seed=seed), cost)


def tpe(allowed, choices, stages, seed, cost, population) -> Proposer:
    """``tpe``: Optuna's TPE."""
    return OptunaProposer(allowed, choices, stages, TPESampler(seed=seed), cost)

"""A proposer as a Ray Tune searcher: one trial per arch the proposer gives, its result told back.

Tune calls ``suggest`` for each new trial and ``on_trial_complete`` when one ends; the proposer (``seknet.modes
.proposers``) never gives an arch twice nor one over the budget, so ``--trials`` counts trained archs. Tune saves
the searcher with the experiment (``save``/``restore``: the proposer pickled, Optuna's study and sampler with it),
so ``--resume`` continues the same search. Ray is imported here and in the other Ray adapters only.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

from ray.tune.search import Searcher

from seknet.modes.proposers import Proposer

STATE_FILE = "searcher-state-*.pkl"  # Ray Tune's name for a searcher's saved state (Searcher.CKPT_FILE_TMPL)


class ProposerSearcher(Searcher):
    """Tune's side of a :class:`Proposer`; ``cost(arch)``: the arch's cost on the run's objective, told with its
    accuracy (a picklable function: Tune pickles the searcher)."""

    def __init__(self, proposer: Proposer, cost: Callable[[str], float]) -> None:
        super().__init__(metric="accuracy", mode="max")
        self.proposer, self.cost = proposer, cost
        self.live: dict[str, str] = {}  # Tune trial id -> its arch

    def suggest(self, trial_id: str) -> dict | str | None:
        archs = self.proposer.ask(1)
        if not archs:
            return Searcher.FINISHED
        self.live[trial_id] = archs[0]
        return {"arch": archs[0]}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        arch = self.live.pop(trial_id, None)
        if arch is None:
            return
        ok = not error and result and "accuracy" in result
        self.proposer.tell({arch: (float(result["accuracy"]), self.cost(arch)) if ok else None})

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"proposer": self.proposer, "live": self.live, "cost": self.cost}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)  # noqa: S301 - Tune's own experiment state, written by save() above
        self.proposer, self.live, self.cost = state["proposer"], state["live"], state["cost"]


def saved_counts(experiment_dir: str | os.PathLike) -> dict[str, int]:
    """The proposer's counts of proposals answered without a trial (repeats, over-budget archs), read back from the
    state Tune saved in ``experiment_dir`` (empty when there is none or it cannot be read)."""
    states = sorted(Path(experiment_dir).glob(STATE_FILE), key=lambda p: p.stat().st_mtime)
    try:
        with open(states[-1], "rb") as f:
            return dict(pickle.load(f)["proposer"].counts)  # noqa: S301 - written by ProposerSearcher.save
    except (IndexError, OSError, pickle.UnpicklingError, KeyError, AttributeError, EOFError):
        return {}

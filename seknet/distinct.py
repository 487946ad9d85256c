"""No arch trained twice in a Ray Tune multi-trial search: a searcher wrapper that answers a repeated proposal
from the result already known instead of starting a trial for it.

Optuna's NSGA-II and TPE samplers propose archs they have already tried (6 of 64 trials of the hypervolume
benchmark, issue 15): each repeat spends a whole stand-alone training on an answer the search has. NNI's
strategies deduplicate themselves (``dedup=True``); Optuna does not. :class:`DistinctArchs` sits between Tune
and the sampler: a proposal of an arch whose trial finished is told that trial's result at once (the sampler
learns the same value it would have measured), one of an arch still training waits for that trial's result,
and the sampler is asked again; only a new arch becomes a Tune trial. A proposal over the budget is answered
the same way (accuracy 0 at its cost), so ``--trials`` counts trained archs only. Ray is imported here and in the other
Ray adapters only.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable

from ray.tune.search import Searcher

MAX_ASKS = 1_000  # proposals in a row answered without a trial before the space counts as exhausted


class DistinctArchs(Searcher):
    """Wraps ``searcher``; ``arch_of(config)`` names a proposal's arch. ``refuse(arch)`` gives the result to tell
    for an arch that must not be trained (over the budget: accuracy 0 at its cost), None for one that may.
    ``repeats`` and ``refused`` count the proposals answered without a trial. When ``MAX_ASKS`` proposals in a
    row are answered so, the search ends (FINISHED)."""

    def __init__(self, searcher: Searcher, arch_of: Callable[[dict], str],
                 refuse: Callable[[str], dict | None] | None = None) -> None:  # fmt: skip
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher, self.arch_of, self.refuse = searcher, arch_of, refuse
        self.known: dict[str, dict | None] = {}  # arch -> its finished trial's last result (None: the trial failed)
        self.live: dict[str, tuple[str, str]] = {}  # Tune trial id -> (the sampler's id for it, arch)
        self.waiting: dict[str, list[str]] = {}  # arch of a live trial -> sampler ids that proposed it again
        self.repeats = self.refused = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.searcher.set_search_properties(metric, mode, config, **spec)

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return self.searcher.set_max_concurrency(max_concurrent)

    def _tell(self, inner_id: str, result: dict | None) -> None:
        self.searcher.on_trial_complete(inner_id, result=result, error=result is None)

    def suggest(self, trial_id: str) -> dict | str | None:
        running = {arch for _, arch in self.live.values()}
        for k in range(MAX_ASKS):
            inner_id = trial_id if k == 0 else f"{trial_id}-ask{k}"
            config = self.searcher.suggest(inner_id)
            if config is None or config == Searcher.FINISHED:
                return config
            arch = self.arch_of(config)
            answer = None if arch in self.known or self.refuse is None else self.refuse(arch)
            if answer is not None:  # over the budget: never trained, the sampler learns it at once
                self.known[arch] = answer
                self._tell(inner_id, answer)
                self.refused += 1
                continue
            if arch in self.known:
                self._tell(inner_id, self.known[arch])
            elif arch in running:
                self.waiting.setdefault(arch, []).append(inner_id)
            else:
                self.live[trial_id] = (inner_id, arch)
                return config
            self.repeats += 1
        return Searcher.FINISHED

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        inner_id, _ = self.live.get(trial_id, (trial_id, ""))
        self.searcher.on_trial_result(inner_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id not in self.live:
            return self.searcher.on_trial_complete(trial_id, result=result, error=error)
        inner_id, arch = self.live.pop(trial_id)
        self.searcher.on_trial_complete(inner_id, result=result, error=error)
        self.known[arch] = None if error or not result else dict(result)
        for waiting_id in self.waiting.pop(arch, []):
            self._tell(waiting_id, self.known[arch])

    # Tune saves a wrapper (anything with a ``searcher``) through get_state/set_state in its search-generator
    # file, and the wrapped searcher apart with its own save (as it does for ConcurrencyLimiter).
    def get_state(self) -> dict:
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "searcher"})

    def set_state(self, state: dict) -> None:
        self.__dict__.update(state)


def saved_counts(experiment_dir: str | os.PathLike) -> dict[str, int]:
    """{"repeats_answered", "over_budget_answered"}: proposals answered without a trial, read back from the state
    Tune saved in ``experiment_dir`` (empty when there is none: a grid search, or a damaged file)."""
    from ray.tune.search.search_generator import SearchGenerator
    from ray.tune.utils.util import _load_newest_checkpoint

    try:
        state = _load_newest_checkpoint(str(experiment_dir), SearchGenerator.CKPT_FILE_TMPL.format("*"))
    except Exception:  # noqa: BLE001 - an unreadable state file only loses these counts
        return {}
    mine = (state or {}).get(f"name:{DistinctArchs.__name__}")
    if not isinstance(mine, dict):
        return {}
    return {"repeats_answered": int(mine.get("repeats", 0)), "over_budget_answered": int(mine.get("refused", 0))}

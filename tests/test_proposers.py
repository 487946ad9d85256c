"""Proposers (seknet.modes.proposers) and their Ray Tune searcher: no arch is given twice nor one over the budget;
repeats and over-budget proposals are answered from what is known; Tune can pickle and restore all of it."""

from __future__ import annotations

import pickle

import optuna
import pytest

from seknet.modes import proposers


class Scripted(optuna.samplers.BaseSampler):
    """Proposes the one-stage archs of ``script`` in order (trial k gets script[k])."""

    def __init__(self, script: list[str]) -> None:
        self.script = script

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        return self.script[trial.number]


def ten(arch: str) -> float:
    """Every arch costs 10 (a module-level function: the proposer must pickle)."""
    return 10.0


def _proposer(script: list[str], allowed=("a", "b", "c")) -> proposers.OptunaProposer:
    return proposers.OptunaProposer(list(allowed), ["a", "b", "c", "d"], 1, Scripted(script), cost=ten)


def _told(p: proposers.OptunaProposer) -> list:
    return [(t.params["stage0"], t.state.name, t.values) for t in p.study.trials]


def test_a_finished_arch_proposed_again_is_answered_not_given():
    """A repeat of an arch whose result is known is told that result at once; only new archs are given out."""
    p = _proposer(["a", "b", "a", "c"])
    assert p.ask(2) == ["a", "b"]
    p.tell({"a": (0.9, 10.0), "b": (0.8, 10.0)})
    assert p.ask(1) == ["c"]
    assert _told(p)[2] == ("a", "COMPLETE", [0.9, 10.0]) and p.counts["repeats_answered"] == 1


def test_an_arch_proposed_while_it_is_evaluated_waits_for_its_result():
    """A repeat of an arch given out but not yet told is not given again; it is told the arch's result later."""
    p = _proposer(["a", "a", "b"])
    assert p.ask(2) == ["a", "b"]
    assert _told(p)[1][1] == "RUNNING"
    p.tell({"a": (0.7, 10.0)})
    assert _told(p)[:2] == [("a", "COMPLETE", [0.7, 10.0])] * 2


def test_a_failed_arch_is_told_failed_and_its_repeats_too():
    """A failed arch (None) is a FAIL for the sampler, and so is every later proposal of it."""
    p = _proposer(["a", "a", "b"])
    p.ask(1)
    p.tell({"a": None})
    assert p.ask(1) == ["b"] and [t[1] for t in _told(p)[:2]] == ["FAIL", "FAIL"]


def test_an_arch_over_the_budget_is_answered_zero_at_its_cost():
    """An arch outside the budget is never given: the sampler is told accuracy 0 at the arch's cost."""
    p = _proposer(["d", "a"])
    assert p.ask(1) == ["a"]
    assert _told(p)[0] == ("d", "COMPLETE", [0.0, 10.0]) and p.counts["over_budget_answered"] == 1


def test_only_repeats_left_ends_the_search(monkeypatch):
    """When every proposal in a row is answered without an evaluation, ask gives nothing instead of asking forever."""
    monkeypatch.setattr(proposers, "MAX_ASKS", 5)
    p = _proposer(["a"] * 20)
    assert p.ask(1) == ["a"]
    p.tell({"a": (0.5, 10.0)})
    assert p.ask(1) == [] and p.counts["repeats_answered"] == 5


@pytest.mark.parametrize("name", ["grid", "random", "nsga2", "tpe"])
def test_every_proposer_gives_each_allowed_arch_at_most_once_and_pickles(name):
    """Each registered proposer gives only allowed archs, none twice, and survives a pickle round trip mid-search
    (Ray Tune pickles the searcher; optuna 5.1's NSGA-II holds a lock)."""
    choices = ["none", "se16", "sk2"]
    allowed = [f"{a}-{b}" for a in choices for b in choices if (a, b) != ("sk2", "sk2")]
    p = proposers.make(name, allowed, choices, 2, seed=0, cost=len, population=4)
    given: list[str] = []
    for _ in range(20):
        batch = p.ask(2)
        if not batch:
            break
        given += batch
        p.tell({a: (0.5, float(len(a))) for a in batch})
        p = pickle.loads(pickle.dumps(p))
    assert set(given) <= set(allowed) and len(given) == len(set(given)) >= 4
    if name in ("grid", "random"):
        assert sorted(given) == sorted(allowed)
    if name == "grid":
        assert given == allowed


def test_the_tune_searcher_trains_what_the_proposer_gives_and_restores_from_its_file(tmp_path, monkeypatch):
    """ProposerSearcher: one suggestion per new arch, results told back with the arch's cost; saved and restored
    through Tune's file, the search goes on where it was, and the proposer's counts are read back from the file."""
    pytest.importorskip("ray")
    from ray.tune.search import Searcher

    from seknet.modes.tune_searcher import ProposerSearcher, saved_counts

    monkeypatch.setattr(proposers, "MAX_ASKS", 3)
    p = _proposer(["a", "a", "b", "c", "a", "b", "c"])
    s = ProposerSearcher(p, cost=ten)
    assert s.suggest("t1") == {"arch": "a"}
    s.on_trial_complete("t1", {"accuracy": 0.6})
    s.save(str(tmp_path / "searcher-state-x.pkl"))
    again = ProposerSearcher(_proposer([]), cost=len)
    again.restore(str(tmp_path / "searcher-state-x.pkl"))
    assert again.suggest("t2") == {"arch": "b"} and again.proposer.counts["repeats_answered"] == 1
    again.save(str(tmp_path / "searcher-state-x.pkl"))
    assert saved_counts(tmp_path) == {"repeats_answered": 1, "over_budget_answered": 0}
    again.on_trial_complete("t2", None, error=True)
    assert again.suggest("t3") == {"arch": "c"} and again.suggest("t4") == Searcher.FINISHED


def test_one_shot_nsga2_under_a_budget_scores_only_archs_in_it_and_prices_the_others(digits):
    """The one-shot proposer path (--exhaustive-limit below the archs in budget): NSGA-II proposes archs over the
    budget too; each is priced (parsed, not looked up among the archs in budget) and answered unscored, and only archs
    in budget are scored."""
    from types import SimpleNamespace

    import torch

    import seknet
    from seknet.modes.oneshot import _nsga2

    cost_of = lambda a: seknet.count(a).macs  # noqa: E731
    archs = [a for a in digits.archs() if cost_of(a) <= 6_300_000]
    allowed, asked = {str(a) for a in archs}, []

    def score(batch):
        asked.extend(str(a) for a in batch)
        return {str(a): torch.ones(10, dtype=torch.bool) for a in batch}

    cfg = SimpleNamespace(proposer="nsga2", seed=0, evaluations=30)
    scores, _ = _nsga2(cfg, digits, archs, score, 10, cost_of)
    assert asked and set(asked) <= allowed and len(asked) == len(set(asked)) == len(scores)

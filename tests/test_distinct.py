"""No arch trained twice (seknet.distinct): repeated proposals are answered from known results, not trained."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from ray.tune.search import Searcher  # noqa: E402

from seknet.distinct import DistinctArchs, saved_counts  # noqa: E402


class Scripted(Searcher):
    """Proposes the archs of ``script`` in order and records what it is told."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(metric="accuracy", mode="max")
        self.script, self.told = list(script), {}

    def suggest(self, trial_id):
        return {"arch": self.script.pop(0)} if self.script else Searcher.FINISHED

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.told[trial_id] = (None if result is None else result["accuracy"], error)

    def save_to_dir(self, *args):  # the base searcher's own file: nothing to keep here
        pass


def arch(config: dict) -> str:
    return config["arch"]


def test_a_finished_arch_proposed_again_is_answered_not_trained():
    """A proposal of an arch whose trial finished gets that trial's result and never becomes a trial."""
    inner = Scripted(["a", "b", "a", "c"])
    s = DistinctArchs(inner, arch)
    assert s.suggest("t1") == {"arch": "a"}
    s.on_trial_complete("t1", {"accuracy": 0.9})
    assert s.suggest("t2") == {"arch": "b"}
    s.on_trial_complete("t2", {"accuracy": 0.8})
    assert s.suggest("t3") == {"arch": "c"}  # "a" again (the sampler's "t3") was answered in between
    assert inner.told["t3"] == (0.9, False) and s.repeats == 1
    s.on_trial_complete("t3", {"accuracy": 0.4})  # Tune's t3 trained "c": the sampler's second ask for it
    assert inner.told["t3-ask1"] == (0.4, False) and len(inner.told) == 4


def test_an_arch_proposed_while_it_trains_waits_for_its_result():
    """A repeat of an arch still training is not started; it is told the result when that trial ends."""
    inner = Scripted(["a", "a", "b"])
    s = DistinctArchs(inner, arch)
    assert s.suggest("t1") == {"arch": "a"}
    assert s.suggest("t2") == {"arch": "b"}
    assert "t2" not in inner.told  # the repeat of "a" waits on t1
    s.on_trial_complete("t1", {"accuracy": 0.7})
    assert inner.told["t2"] == (0.7, False)
    s.on_trial_complete("t2", {"accuracy": 0.6})
    assert inner.told["t2-ask1"] == (0.6, False)


def test_a_failed_arch_proposed_again_is_told_it_failed():
    """A repeat of an arch whose trial failed is told the failure (the sampler learns it), not retried."""
    inner = Scripted(["a", "a"])
    s = DistinctArchs(inner, arch)
    s.suggest("t1")
    s.on_trial_complete("t1", None, error=True)
    assert s.suggest("t2") == Searcher.FINISHED
    assert inner.told["t2"] == (None, True)


def test_only_repeats_left_ends_the_search(monkeypatch):
    """When every proposal in a row repeats known archs, the search ends instead of asking forever."""
    import seknet.distinct as d

    monkeypatch.setattr(d, "MAX_ASKS", 5)
    s = DistinctArchs(Scripted(["a"] + ["a"] * 10), arch)
    s.suggest("t1")
    s.on_trial_complete("t1", {"accuracy": 0.5})
    assert s.suggest("t2") == Searcher.FINISHED and s.repeats == 5


def test_state_survives_get_and_set_state():
    """get_state/set_state (how Tune saves a searcher wrapper for --resume) keep the known results and counts."""
    s = DistinctArchs(Scripted(["a", "a", "b"]), arch)
    s.suggest("t1")
    s.on_trial_complete("t1", {"accuracy": 0.9})
    s.suggest("t2")
    again = DistinctArchs(Scripted([]), arch)
    again.set_state(s.get_state())
    assert again.known == {"a": {"accuracy": 0.9}} and again.repeats == 1 and again.live == {"t2": ("t2-ask1", "b")}


def test_an_arch_over_the_budget_is_answered_not_trained():
    """refuse(arch) answers an over-budget proposal at once (and again from memory when repeated): no trial."""
    inner = Scripted(["big", "a", "big"])
    s = DistinctArchs(inner, arch, refuse=lambda a: {"accuracy": 0.0} if a == "big" else None)
    assert s.suggest("t1") == {"arch": "a"}
    assert inner.told["t1"] == (0.0, False) and s.refused == 1
    s.on_trial_complete("t1", {"accuracy": 0.5})
    assert s.suggest("t2") == Searcher.FINISHED and inner.told["t2"] == (0.0, False) and s.repeats == 1


def test_saved_counts_reads_what_tune_saved(tmp_path):
    """saved_counts finds the counts in the search-generator state Tune writes, and nothing without one."""
    from ray.tune.search.search_generator import SearchGenerator

    s = DistinctArchs(Scripted(["a", "a", "b"]), arch)
    s.suggest("t1")
    s.on_trial_complete("t1", {"accuracy": 0.9})
    s.suggest("t2")
    SearchGenerator(s).save_to_dir(str(tmp_path), "now")
    assert saved_counts(tmp_path) == {"repeats_answered": 1, "over_budget_answered": 0}
    assert saved_counts(tmp_path / "nothing") == {}


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nsga2", "random"])
def test_multitrial_trains_every_arch_once_when_the_sampler_repeats(sampler, tmp_path):
    """A 4-arch space searched with 8 trials: the sampler must repeat itself, yet each arch is trained once,
    the repeats are answered from known results, and the search ends when only repeats are left."""
    import yaml

    import search
    from seknet import report
    from tests.conftest import ROOT

    space = yaml.safe_load((ROOT / "search_space" / "digits.yaml").read_text())
    space |= {"name": "digits2", "stages": space["stages"][:2], "choices": ["none", "se16"]}
    path = tmp_path / "digits2.yaml"
    path.write_text(yaml.safe_dump(space))
    out = tmp_path / "run"
    argv = ["run", "--mode", "multitrial", "--sampler", sampler, "--trials", "8", "--space", str(path), "--smoke",
            "--no-progress", "--out", str(out)]  # fmt: skip
    assert search.main(argv) == 0
    rows = report.read_csv(out / "evaluations.csv")
    assert sorted(r["arch"] for r in rows) == ["none-none", "none-se16", "se16-none", "se16-se16"]
    saved = yaml.safe_load((out / "config.yaml").read_text())["proposals"]
    assert saved["distinct_archs_trained"] == 4 and saved["repeats_answered"] >= 4

"""One smoke search of every mode with every sampler or strategy it offers: the drift check.

CI runs this file twice: in the environment installed from the lock (constraints-cpu.txt), and in a new one with
the newest versions pyproject.toml allows (``.ci/drift``), so a dependency release that breaks a mode shows in CI
before users meet it (optuna 5.1's NSGA-II sampler, which Ray Tune cannot pickle, was one).
"""

from __future__ import annotations

import pytest

import search
from seknet.core import fileio
from seknet.core.plugins import PROPOSERS, SAMPLERS, STRATEGIES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning"),
]
TWO_ARCHS = "5.88M"  # the 2 cheapest digits archs fit: a grid of 2 trials


def _smoke(tmp_path, *flags: str) -> list[dict]:
    out = tmp_path / "run"
    assert search.main(["run", "--smoke", "--no-progress", "--out", str(out), *flags]) == 0
    return fileio.read_csv(out / "evaluations.csv")


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_oneshot_sampler_finishes_a_smoke_search(sampler, tmp_path):
    """A one-shot smoke search with each supernet sampler scores every in-budget arch."""
    rows = _smoke(tmp_path, "--sampler", sampler, "--max-macs", "6.0M")
    assert len(rows) > 2 and all(0 <= float(r["accuracy"]) <= 1 for r in rows)


@pytest.mark.parametrize("sampler", list(PROPOSERS))
def test_every_multitrial_sampler_runs_a_two_trial_search(sampler, tmp_path):
    """Each multi-trial sampler finishes a 2-trial smoke search with 2 distinct complete archs (Ray Tune pickles
    the searcher: optuna 5.1's NSGA-II holds a lock and crashed here before its first trial)."""
    rows = _smoke(
        tmp_path,
        "--mode",
        "multitrial",
        "--sampler",
        sampler,
        "--trials",
        "2",
        "--max-macs",
        TWO_ARCHS,
    )
    assert len(rows) == 2 and len({r["arch"] for r in rows}) == 2
    assert all(r["status"] == "complete" for r in rows)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_nni_strategy_finishes_a_smoke_search(strategy, tmp_path):
    """Each NNI strategy (multi-trial and one-shot) finishes a smoke search with complete, in-budget archs."""
    pytest.importorskip("seknet.modes.nni", reason="the NNI backend needs the [nni] extra")
    budget = [] if strategy == "tpe" else ["--max-macs", "6.0M"]  # NNI's TPE loop sleeps 1 s per refused arch
    rows = _smoke(tmp_path, "--backend", "nni", "--strategy", strategy, "--trials", "2", *budget)
    done = [r for r in rows if r["status"] == "complete"]
    assert done and all(int(r["macs"]) <= 6_000_000 for r in done if budget)

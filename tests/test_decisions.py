"""Decisions (seknet.core.decisions) on synthetic truths with planted effects and known noise: the stated confidence
holds over many draws, the indifference set holds the archs that may be the best, and effects are resolved,
negligible or unresolved as their intervals say."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seknet.core.decisions import (
    Decision,
    Evidence,
    claim,
    continuation_order,
    decide,
    final_evidence,
    max_t_quantile,
    quantile_budgets,
    training_order,
    trainings_needed,
)

TRUE = np.array([90.0, 89.8, 89.0, 88.0, 87.5, 87.0, 86.0, 85.0, 84.0, 80.0])  # pp; arch 0 is the best
ARCHS = tuple(f"a{i}" for i in range(len(TRUE)))
COST = {a: float(i) for i, a in enumerate(ARCHS)}  # a0 cheapest


def _draw(rng: np.random.Generator, sigma: float, n: int, true=TRUE) -> Evidence:
    """Each arch measured as the mean of ``n`` trainings with SD ``sigma``; the covariance estimated from them (df)."""
    runs = true[:, None] + sigma * rng.standard_normal((len(true), n))
    pooled = float(runs.var(axis=1, ddof=1).mean())
    return Evidence(ARCHS, runs.mean(axis=1), np.eye(len(true)) * pooled / n, df=len(true) * (n - 1))


def test_epsilon_covers_the_gap_to_the_best_at_the_stated_confidence():
    """Over 400 draws, 'the pick is within epsilon of the best under the budget' holds at a rate >= the confidence
    (0.9) minus 3 binomial SDs, at every budget."""
    rng = np.random.default_rng(0)
    for budget in (2.0, 5.0, 9.0):
        fits = [i for i in range(len(TRUE)) if COST[ARCHS[i]] <= budget]
        best = TRUE[fits].max()
        held = []
        for k in range(400):
            d = decide(_draw(rng, sigma=0.5, n=2), COST, budget, 0.9, seed=k)
            held.append(best - TRUE[ARCHS.index(d.pick)] <= d.epsilon_pp)
        assert np.mean(held) >= 0.9 - 3 * math.sqrt(0.9 * 0.1 / 400), budget


def test_the_indifference_set_holds_the_pick_and_every_arch_that_may_be_best_only():
    """With little noise, arch 0 and the 0.2 pp-behind arch 1 cannot be told apart but an arch 10 pp behind can; the
    cheapest and the ordering follow from the set; no arch fits under a budget below every cost."""
    ev = Evidence(ARCHS, TRUE.copy(), np.eye(len(TRUE)) * 0.04, df=math.inf)  # se 0.2 pp per arch
    d = decide(ev, COST, 9.0, 0.9)
    assert d.pick == "a0" and d.indifference[:2] == ("a0", "a1") and "a9" not in d.indifference
    assert 0.0 < d.epsilon_pp < 1.5
    assert decide(ev, COST, -1.0) is None
    alone = decide(ev, COST, 0.0)
    assert alone.pick == "a0" and alone.epsilon_pp == 0.0 and alone.indifference == ("a0",)


def test_equal_archs_are_all_indifferent_and_a_tie_picks_the_cheaper():
    """Archs with equal estimates are all in the indifference set, and the pick is the cheapest of them."""
    ev = Evidence(ARCHS[:3], np.array([85.0, 85.0, 85.0]), np.eye(3) * 0.25)
    d = decide(ev, COST, 9.0)
    assert d.pick == "a0" and set(d.indifference) == {"a0", "a1", "a2"}


def test_the_max_t_quantile_is_the_normal_quantile_for_one_contrast_and_grows_with_more():
    """One contrast: the one-sided normal quantile (1.2816 at 0.9); independent contrasts need a larger one, and a
    finite df a larger one still."""
    one = max_t_quantile(np.eye(1), math.inf, 0.9, draws=200_000)
    assert one == pytest.approx(1.2816, abs=0.01)
    many = max_t_quantile(np.eye(10), math.inf, 0.9)
    assert many > one + 0.5
    assert max_t_quantile(np.eye(10), 5, 0.9) > many


def test_claims_are_resolved_negligible_or_unresolved_as_their_intervals_say():
    """A large effect is resolved, a tiny well-measured one negligible, an uncertain one unresolved with the
    trainings its own se asks for."""
    assert claim(1.0, 0.1, math.inf, 10).kind == "resolved"
    assert claim(-1.0, 0.1, math.inf, 10).kind == "resolved"
    assert claim(0.02, 0.05, math.inf, 10, margin=0.25).kind == "negligible"
    c = claim(0.2, 0.3, math.inf, 10, 0.9, 0.25)
    assert c.kind == "unresolved" and c.needed == pytest.approx(trainings_needed(0.2, 0.3, 10, 1.6449, 0.25), rel=1e-3)


def test_trainings_needed_by_hand():
    """se 0.3 from 10 trainings, t 2: resolving 0.2 needs 10 (2*0.3/0.2)^2 = 90; showing it below a 0.25 margin
    needs 10 (2*0.3/0.05)^2 = 1440; the fewer is 90."""
    assert trainings_needed(0.2, 0.3, 10, 2.0, 0.25) == 90
    assert trainings_needed(0.0, 0.3, 10, 2.0, 0.25) == math.ceil(10 * (2 * 0.3 / 0.25) ** 2)
    assert trainings_needed(0.0, 0.3, 10, 2.0, 0.0) == math.inf


def test_claims_keep_their_error_rate_over_many_draws():
    """Planted effects 0 (null), 0.1 (negligible by a 0.25 margin) and 1.0 pp: over 2,000 draws, wrong-sign resolved
    claims and negligible claims of the 1.0 pp effect stay below (1 - confidence) / 2."""
    rng = np.random.default_rng(1)
    wrong, neg_of_real = 0, 0
    for _ in range(2000):
        for true in (0.0, 0.1, 1.0):
            c = claim(true + 0.3 * rng.standard_normal(), 0.3, math.inf, 8, 0.9, 0.25)
            wrong += c.kind == "resolved" and (c.low + c.high) / 2 * true < 0
            neg_of_real += c.kind == "negligible" and true == 1.0
    assert wrong / 4000 < 0.05 and neg_of_real == 0


def test_quantile_budgets_are_the_cost_quartiles():
    """The default budgets are the 25/50/75 % quantiles of the searched costs."""
    assert quantile_budgets([1, 2, 3, 4, 5]) == [2.0, 3.0, 4.0]


@pytest.mark.slow
def test_a_cifar_run_carries_no_digits_constant(tmp_path):
    """A one-shot smoke run on CIFAR-format files: no seed spread is assumed (config says None), every placement
    contrast is claimed unresolved, and decisions.csv names a pick per budget without claiming an epsilon."""
    import yaml

    import search
    from seknet.core import fileio
    from tests.test_data import _write_cifar

    _write_cifar(tmp_path / "data", "cifar10", per_file=8)
    out = tmp_path / "run"
    argv = ["--smoke", "--no-progress", "--space", "search_space/cifar10.yaml", "--data", "cifar10"]
    argv += ["--data-root", str(tmp_path / "data"), "--max-macs", "102.3M", "--out", str(out)]
    argv += ["--exhaustive-limit", "1", "--evaluations", "48"]  # 48 of the 431 archs in budget: a few minutes less
    assert search.main(argv) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["config"]["seed_spread"] is None and cfg["data"]["name"] == "cifar10"
    place = fileio.read_csv(out / "placement.csv")
    assert place and {p["claim"] for p in place if p["claim"]} == {"unresolved"}
    decisions = fileio.read_csv(out / "decisions.csv")
    assert len(decisions) == 1 and decisions[0]["budget"] == "102300000"
    assert decisions[0]["epsilon_pp"] == "" and decisions[0]["pick"] in decisions[0]["indifference"].split()


def test_training_order_measures_each_unsettled_budgets_top_challengers_before_the_long_tail():
    """Among archs trained equally often, those nearest the top of an unsettled budget's indifference set come first
    (not the alphabet's); a less-trained arch still comes before a more-trained one; a settled budget adds none."""
    low = Decision(1.0, "sk2-b", 2.0, 0.9, ("sk2-b", "sk2-a", "none-z"))
    high = Decision(2.0, "none-y", 1.5, 0.9, ("none-y", "none-x", "none-a"))
    settled = Decision(3.0, "se-q", 0.1, 0.9, ("se-q", "se-p"))
    trained = {"sk2-b": 1, "none-y": 1, "sk2-a": 1}
    assert training_order([low, high, settled], 0.5, trained) == [
        "none-x",  # untrained, 2nd of its set
        "none-a",
        "none-z",  # untrained, 3rd of theirs (in names' order among equals)
        "none-y",  # trained once, a pick
        "sk2-b",
        "sk2-a",
    ]


def test_continuation_order_takes_each_unsettled_budgets_pick_and_challenger_with_a_training_left_once():
    """Per unsettled budget, the first two archs of its indifference set that have an early training not yet
    continued, in the budgets' order, each once; a settled budget adds none."""
    low = Decision(1.0, "p", 2.0, 0.9, ("p", "q", "r"))
    high = Decision(2.0, "q", 1.5, 0.9, ("q", "s", "t"))
    settled = Decision(3.0, "u", 0.1, 0.9, ("u", "v"))
    trained = {"p": 1, "q": 2, "r": 1, "s": 1, "t": 1, "u": 1, "v": 1}
    assert continuation_order([low, high, settled], 0.5, {}, trained) == ["p", "q", "s"]
    assert continuation_order([low, high, settled], 0.5, {"p": 1, "q": 1}, trained) == ["q", "r", "s"]
    assert continuation_order([low, high], 0.5, {}, trained, top=1) == ["p", "q"]
    assert continuation_order([settled], 0.5, {}, trained) == []


def test_end_evidence_moves_every_arch_by_the_mean_drift_and_widens_by_the_drifts_spread():
    """Every arch moves by the mean drift of the continued trainings (the picks stay the early read's); equal drifts
    add no variance (the early evidence's epsilon, shifted); spread drifts widen every arch's variance by their
    variance; fewer than three drifts are not enough to bound it: None."""
    ev = Evidence(ARCHS, TRUE.copy(), np.eye(len(TRUE)) * 0.04, df=30)
    same = final_evidence(ev, {"a0": [1.0], "a1": [1.0, 1.0]})
    assert np.allclose(same.mean, TRUE + 1.0) and np.allclose(same.cov, ev.cov) and same.df == 30
    spread = final_evidence(ev, {"a0": [0.0], "a1": [1.0], "a2": [2.0]})  # variance 1, its mean's 1/3
    assert np.allclose(spread.mean, TRUE + 1.0) and spread.df < 30
    assert spread.cov[0, 0] == pytest.approx(0.04 + 1.0 + 1 / 3) and spread.cov[0, 5] == pytest.approx(1 / 3)
    early, end, wide = decide(ev, COST, 9.0), decide(same, COST, 9.0), decide(spread, COST, 9.0)
    assert early.pick == end.pick == wide.pick and early.epsilon_pp == pytest.approx(end.epsilon_pp, abs=1e-9)
    assert wide.epsilon_pp > end.epsilon_pp
    assert final_evidence(ev, {"a0": [1.0], "a1": [2.0]}) is None and final_evidence(ev, {}) is None


def test_end_evidence_holds_its_confidence_where_an_early_reads_bias_breaks_it():
    """Planted: each arch's early read departs from its end accuracy by its own bias (SD 0.5 pp), measured with
    noise 0.1 pp. Read as a bound on the end, the early read's epsilon holds far below 0.9; continuing only the three
    contenders' trainings (their drifts measured with noise 0.2 pp) gives an epsilon that holds at >= 0.9."""
    rng = np.random.default_rng(1)
    end, archs = np.linspace(0.0, 2.0, 20), tuple(f"b{i}" for i in range(20))
    cost = dict.fromkeys(archs, 1.0)
    held_early = held_end = 0
    for draw in range(200):
        bias = rng.normal(0.0, 0.5, len(end))
        s = 0.1 * math.sqrt(rng.chisquare(30) / 30)
        ev = Evidence(archs, end - 1.0 - bias + rng.normal(0.0, 0.1, len(end)), np.eye(len(end)) * s**2, 30)
        early = decide(ev, cost, 1.0, seed=draw)
        held_early += end.max() - end[archs.index(early.pick)] <= early.epsilon_pp
        went = [archs[i] for i in np.argsort(-ev.mean)[:3]]  # the pick and its strongest challengers
        drifts = {a: [1.0 + bias[archs.index(a)] + rng.normal(0.0, 0.2)] for a in went}
        d = decide(final_evidence(ev, drifts), cost, 1.0, seed=draw)
        held_end += end.max() - end[archs.index(d.pick)] <= d.epsilon_pp
    assert held_early / 200 < 0.7 and held_end / 200 >= 0.9

from __future__ import annotations

import itertools
import math
import random

import pytest

from seknet.core import factorial, stats, truth

LEVELS = ("none", "se16", "sk2")


def _table(seeds: int = 2, noise: float = 0.004) -> list[dict]:
    """A synthetic factorial: SK in stage 2 +0.8 pp, SE in stage 3 +0.5 pp, SE in stage 0 -0.6 pp, seed noise."""
    rng, rows = random.Random(0), []
    for choice in itertools.product(LEVELS, repeat=4):
        true = 0.9 + 0.008 * (choice[2] == "sk2") + 0.005 * (choice[3] == "se16") - 0.006 * (choice[0] == "se16")
        macs = 1000 + 100 * sum(c == "none" for c in choice) + 10 * sum(c == "se16" for c in choice)
        for s in range(seeds):
            rows.append(
                {
                    "arch": "-".join(choice),
                    "seed": str(s),
                    "epochs": "16",
                    "macs": str(macs),
                    "accuracy": str(true + rng.gauss(0, noise)),
                }
            )
    return rows


def test_main_effects_recover_the_planted_effects_with_intervals():
    """The factorial model finds each planted effect inside its 95 % interval, and calls exactly those significant."""
    effects = {(e.stage, e.a, e.b): e for e in factorial.main_effects(factorial.fit(_table()))}
    planted = {(2, "sk2", "none"): 0.8, (3, "se16", "none"): 0.5, (0, "se16", "none"): -0.6}
    for key, pp in planted.items():
        assert effects[key].low <= pp <= effects[key].high and effects[key].significant
    vs_none = {k for k, e in effects.items() if e.significant and k[2] == "none"}
    assert vs_none == set(planted)


def _placement(deltas: dict[tuple[int, str], float]) -> list[dict]:
    return [{"stage": str(s), "choice": c, "delta_accuracy": str(d / 100)} for (s, c), d in deltas.items()]


def test_check_counts_the_placement_signs_and_scores_tau_and_regret():
    """A run whose placement has the truth's signs agrees on every significant effect; flipping one loses one; a
    run scoring archs by their true accuracy has regret 0 and tau near the table's own reliability."""
    rows = _table()
    f = factorial.fit(rows)
    right = {(e.stage, e.a): e.pp for e in factorial.main_effects(f) if e.b == "none"}
    means = {a: sum(v) / len(v) for a, v in truth.per_arch(rows).items()}
    run_rows = [{"arch": a, "accuracy": str(m)} for a, m in means.items()]
    good = truth.check_run(rows, run_rows, _placement(right))
    assert good["agree"] == good["effects"] > 0 and good["tau"] == pytest.approx(1.0)
    assert all(v == 0 for v in good["regret_pp"].values())
    flipped = right | {(2, "sk2"): -right[(2, "sk2")]}
    bad = truth.check_run(rows, run_rows, _placement(flipped))
    assert bad["agree"] < bad["effects"] and any("stage 2" in d for d in bad["disagreements"])


def test_one_seed_replication_tau_grows_with_the_spread_between_archs():
    """Less seed noise relative to the archs' spread gives a higher expected tau for one new seed."""
    noisy = stats.one_seed_replication_tau(list(truth.per_arch(_table(noise=0.01)).values()))
    clean = stats.one_seed_replication_tau(list(truth.per_arch(_table(noise=0.001)).values()))
    assert 0 <= noisy < clean <= 1


def test_regret_is_nan_not_a_crash_when_the_run_scored_no_truth_arch_under_the_budget():
    # a --verify run on the 4,096-arch space keeps its own levels (e.g. sk4, se8): no arch in common with the truth
    truth_acc = {"none-none": 0.9, "se16-none": 0.91}
    macs = {"none-none": 10, "se16-none": 11}
    assert math.isnan(truth.regret({"sk4-se8": 0.95}, truth_acc, macs, 11))
    assert truth.regret({"none-none": 0.9, "se16-none": 0.8}, truth_acc, macs, 11) == pytest.approx(1.0)


def test_epsilon_checks_say_whether_each_claim_held_against_the_truth():
    """A claim 'pick within 0.5 pp of the best' holds when the truth's gap is 0.3 pp and fails when it is 0.8 pp; a
    row without an epsilon, or whose pick the truth never measured, is left out."""
    truth_means = {"a": 0.90, "b": 0.897, "c": 0.892}
    macs = {"a": 10, "b": 5, "c": 5}
    decisions = [
        {"budget": "10", "pick": "b", "epsilon_pp": "0.5"},  # best under 10 is a: gap 0.3
        {"budget": "10", "pick": "c", "epsilon_pp": "0.5"},  # gap 0.8
        {"budget": "10", "pick": "c", "epsilon_pp": ""},  # no claim
        {"budget": "10", "pick": "z", "epsilon_pp": "0.5"},  # not in the truth
    ]
    got = truth.epsilon_checks(decisions, truth_means, macs)
    assert [e["held"] for e in got] == [True, False]
    assert [round(e["gap"], 6) for e in got] == [0.3, 0.8]


def test_a_negligible_claim_is_wrong_only_where_the_truths_interval_lies_beyond_the_margin():
    """claims() on two truth effects of +0.6 pp: one measured tightly ([0.4, 0.8], beyond the 0.25 pp margin), one
    loosely ([0.1, 1.1], the margin inside it). A run that calls both negligible is contradicted on the first only;
    one that resolves the first with the wrong sign is counted there, not as negligible."""
    tight = factorial.Effect(1, "se16", "none", 0.6, 0.4, 0.8)
    loose = factorial.Effect(2, "se16", "none", 0.6, 0.1, 1.1)
    row = {"choice": "se16", "vs": "none", "delta_accuracy": 0.0005, "claim": "negligible"}
    place = [row | {"stage": 1}, row | {"stage": 2}]
    got = truth.claims(place, [tight, loose])
    assert len(got["negligible_wrong"]) == 1 and "stage 1" in got["negligible_wrong"][0]
    assert got["resolved"] == [] and got["wrong"] == []
    flipped = [row | {"stage": 1, "delta_accuracy": -0.006, "claim": "resolved"}]
    got = truth.claims(flipped, [tight])
    assert len(got["wrong"]) == 1 and got["negligible_wrong"] == []

"""The factorial module (seknet.core.factorial) on the 81-arch space {none, se16, sk2}^4: the fraction verify trains by
default is a regular orthogonal 27-arch fraction, the fit recovers planted effects, and the contrast rule comes
from the attention registry."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from seknet.core import factorial
from seknet.core.attention import AttentionKind, register, unregister

LEVELS = [["none", "se16", "sk2"]] * 4
CELLS = factorial.cells(LEVELS)


def test_the_81_cells_and_their_levels_read_back():
    """81 cells in lexicographic order of level indices; levels_of gives none, then SE, then SK per stage."""
    assert len(CELLS) == 81 and CELLS[0] == "none-none-none-none" and CELLS[-1] == "sk2-sk2-sk2-sk2"
    assert factorial.levels_of(list(reversed(CELLS))) == LEVELS


def test_the_default_fraction_is_orthogonal_and_the_three_partition_the_factorial():
    """Each 3^(4-1) fraction has 27 archs; every level of a stage appears 9 times and every pair of levels of two
    stages 3 times (main effects estimable, balanced); the three fractions are disjoint and cover all 81."""
    fractions = [factorial.fraction(LEVELS, k) for k in range(3)]
    assert [len(f) for f in fractions] == [27, 27, 27]
    assert sorted(itertools.chain(*fractions)) == sorted(CELLS)
    names = [a.split("-") for a in fractions[0]]
    for s in range(4):
        assert set(Counter(n[s] for n in names).values()) == {9}
    for s, t in itertools.combinations(range(4), 2):
        assert set(Counter((n[s], n[t]) for n in names).values()) == {3}
    with pytest.raises(ValueError, match="3 levels per stage"):
        factorial.fraction([["none", "se16"]] * 4)


def test_reduce_takes_the_fraction_then_a_seeded_sample():
    """verify's default path: 81 cells capped at 27 give fraction 0; a cap below it, or levels that are not 3 per
    stage, give a seeded sample in the cells' order; no cap keeps every cell."""
    assert factorial.reduce(CELLS, LEVELS, 27, seed=0) == factorial.fraction(LEVELS)
    assert factorial.reduce(CELLS, LEVELS, None, seed=0) == CELLS
    sample = factorial.reduce(CELLS, LEVELS, 10, seed=3)
    assert len(sample) == 10 and sample == sorted(sample, key=CELLS.index)
    assert sample == factorial.reduce(CELLS, LEVELS, 10, seed=3)
    two = factorial.cells([["none", "se16"]] * 4)
    assert len(factorial.reduce(two, [["none", "se16"]] * 4, 5, seed=0)) == 5


def test_the_additive_fit_on_the_fraction_recovers_planted_main_effects():
    """Accuracies built from main effects only (plus a tiny residual) fitted on the 27-arch fraction: every contrast
    is recovered, SK vs SE included, and the residual sigma is what was planted."""
    effect = {(0, "se16"): 0.4, (1, "sk2"): -0.3, (2, "sk2"): 0.7, (3, "se16"): 0.2}
    noise = itertools.cycle([0.01, -0.01, 0.0])
    rows = [
        {
            "arch": a,
            "accuracy": (90 + sum(effect.get((s, c), 0) for s, c in enumerate(a.split("-"))) + next(noise)) / 100,
        }
        for a in factorial.fraction(LEVELS)
    ]
    fit = factorial.fit(rows, pairs=False)
    got = {(e.stage, e.a, e.b): e.pp for e in factorial.main_effects(fit)}
    assert got[(0, "se16", "none")] == pytest.approx(0.4, abs=0.02)
    assert got[(2, "sk2", "se16")] == pytest.approx(0.7, abs=0.02)
    assert got[(1, "sk2", "none")] == pytest.approx(-0.3, abs=0.02)
    assert len(got) == 12 and 0 < fit.sigma < 0.02


def test_contrasts_follow_the_slots_of_the_attention_registry():
    """Every choice vs none, then each conv-slot choice vs each attention-slot one: a newly registered conv-slot
    kind is contrasted with SE as SK is, by its slot and not by its name."""
    assert factorial.contrasts(["none", "se16", "sk2"]) == [
        ("none", "none"),
        ("se16", "none"),
        ("sk2", "none"),
        ("sk2", "se16"),
    ]
    toy = AttentionKind("dyc", "conv", "paths", (2,), "a toy conv-slot kind", module=None, count=None)
    register(toy)
    try:
        assert ("dyc2", "se16") in factorial.contrasts(["none", "se16", "dyc2"])
        assert factorial.levels_of(["dyc2-se16", "none-none"])[0] == ["none", "dyc2"]
    finally:
        unregister("dyc")


def _additive_rows(seeds: dict[str, int], bump: dict[str, float], noise: float, other: int = 1) -> list[dict]:
    """Rows of the {none, se16, sk2}^4 factorial: 80 % + 0.5 pp per attention stage + ``bump`` (pp, an arch's own
    departure), ``seeds[arch]`` trainings each (``other`` for an arch not named), Gaussian noise of ``noise`` pp."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for a in ("-".join(c) for c in itertools.product(("none", "se16", "sk2"), repeat=4)):
        mean = 80 + 0.5 * sum(c != "none" for c in a.split("-")) + bump.get(a, 0.0)
        for _ in range(seeds.get(a, other)):
            rows.append({"arch": a, "accuracy": (mean + noise * rng.standard_normal()) / 100})
    return rows


def test_arch_means_reduce_to_the_additive_fit_when_nothing_departs_from_it():
    """No interaction, replicates of every arch: tau2 is 0 (up to noise), every mean is the additive prediction and
    the covariance is the fit's, so decisions are what the additive model gives."""
    import numpy as np

    rows = _additive_rows({a: 3 for a in CELLS}, {}, 0.2)
    f = factorial.fit(rows, pairs=False)
    m = factorial.arch_means(f, rows, CELLS)
    mean, cov = factorial.predict(f, CELLS)
    assert m.tau2 < 0.01 and m.sigma2 == pytest.approx(0.04, rel=0.3)
    assert np.allclose(m.mean, mean, atol=0.1) and np.allclose(m.cov, cov, atol=0.01)


def test_an_arch_that_departs_from_the_additive_model_is_estimated_by_its_own_trainings():
    """One arch 3 pp above the additive model, measured 4 times (60 others twice, the rest never), noise 0.2 pp: tau2
    > 0, that arch's mean moves most of the way to its measured mean, and an arch never trained carries tau2 in its
    variance."""
    import numpy as np

    odd = "sk2-sk2-none-se16"
    seeds = {a: 2 for a in CELLS[:60]} | {odd: 4}
    rows = _additive_rows(seeds, {odd: 3.0}, 0.2, other=0)
    f = factorial.fit(rows, pairs=False)
    m = factorial.arch_means(f, rows, CELLS)
    measured = np.mean([r["accuracy"] * 100 for r in rows if r["arch"] == odd])
    additive = factorial.predict(f, [odd])[0][0]
    i = CELLS.index(odd)
    assert m.tau2 > 0.05
    assert abs(m.mean[i] - measured) < 0.25 * abs(additive - measured)
    untrained = len(CELLS) - 1
    assert CELLS[-1] not in seeds and m.cov[untrained, untrained] >= m.tau2


def test_arch_means_without_replicates_take_the_whole_residual_as_departure():
    """One training per arch: the seed noise cannot be told from the departures, so sigma2 is unknown, tau2 is the
    whole residual variance (the conservative reading) and no mean moves off the additive prediction."""
    import math

    import numpy as np

    rows = _additive_rows({}, {}, 0.3)
    f = factorial.fit(rows, pairs=False)
    m = factorial.arch_means(f, rows, CELLS)
    assert math.isnan(m.sigma2) and m.tau2 == pytest.approx(f.sigma2, rel=0.05)
    assert np.allclose(m.mean, factorial.predict(f, CELLS)[0])

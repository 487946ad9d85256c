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

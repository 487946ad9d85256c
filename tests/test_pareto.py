from __future__ import annotations

from seknet.core.pareto import hypervolume, knee, pareto_front

PTS = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (40, 0.9), (25, 0.8), (10, 0.5)]


def test_front_by_hand():
    """Non-dominated points, by MACs: (10,.5) (20,.7) (25,.8) (40,.9); duplicates and ties dropped."""
    assert pareto_front(PTS) == [0, 1, 5, 4]
    assert pareto_front([]) == []


def test_hypervolume_by_hand():
    """HV with ref (50, 0.0): 40*.5 + 30*.2 + 25*.1 + 10*.1 = 29.5; points beyond ref add nothing."""
    assert abs(hypervolume(PTS, (50, 0.0)) - 29.5) < 1e-9
    assert hypervolume(PTS + [(60, 1.0)], (50, 0.0)) == hypervolume(PTS, (50, 0.0))
    assert hypervolume([(60, 1.0)], (50, 0.0)) == 0.0


def test_knee_by_hand():
    """The knee is the front point farthest above the chord: (25, 0.8) here."""
    assert knee(PTS) == 5

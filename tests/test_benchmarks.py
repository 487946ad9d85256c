"""The benchmarks keep up with the library: each module of the benchmarks package loads (its imports resolve) without
running its main, and the library parts they share do what their docstrings say."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from seknet.core import fileio
from tests.conftest import ROOT

MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts)
    for p in (ROOT / "benchmarks").rglob("*.py")
    if p.stem != "__init__"
)


def test_every_benchmark_module_imports_as_part_of_the_package():
    """Each module of the benchmarks package imports (as ``python -m benchmarks.NAME`` would find it, from the
    checkout's root, with no sys.path edits) in a new process, without running its main."""
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    out = subprocess.run([sys.executable, "-c", code, *MODULES], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(MODULES) >= 15


def _load(name: str):
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


def test_noise_floor_recovers_a_planted_seed_effect_and_its_paired_saving():
    """crn() on 40 archs x 3 seeds with a seed-shared shift of SD 0.4 pp and independent noise of SD 0.3 pp recovers
    both within sampling error, and a paired contrast then needs about 0.3^2 / (0.4^2 + 0.3^2) = 0.36 x the
    trainings; without the shared shift it saves nothing."""
    import numpy as np

    noise_floor = _load("noise_floor")
    rng = np.random.default_rng(0)
    arch_mean = rng.normal(90, 1, 40)
    for shared, want in ((0.4, 0.36), (0.0, 1.0)):
        shift = np.array([-1.0, 0.0, 1.0]) * shared * 1.2247  # SD `shared` over the 3 seeds
        table = {
            (f"a{i}", s): arch_mean[i] + shift[s] + 0.3 * rng.standard_normal() for i in range(40) for s in range(3)
        }
        c = noise_floor.crn(table)
        assert c["sigma_paired"] == pytest.approx(0.3, abs=0.06)
        assert c["trainings_ratio"] == pytest.approx(want, abs=0.15)


def test_read_noise_takes_the_judges_own_noise_out_of_slope_and_sigma():
    """read_noise on 3,000 archs: reads = 50 + 1.5 mu + N(0, 0.6) against a judge of 3 seeds of mu + N(0, 0.45) gives
    slope 1.5 and sigma 0.6 (sigma_eff 0.4); regressing on the judge's means without the correction would give
    about 1.41 and 0.71."""
    import numpy as np

    noise_floor = _load("noise_floor")
    rng = np.random.default_rng(0)
    mu = rng.normal(90, 1, 3000)
    judge = {f"a{i}": list(m + 0.45 * rng.standard_normal(3)) for i, m in enumerate(mu)}
    reads = {f"a{i}": 50 + 1.5 * m + 0.6 * rng.standard_normal() for i, m in enumerate(mu)}
    got = noise_floor.read_noise(reads, judge)
    assert got["archs"] == 3000
    assert got["slope"] == pytest.approx(1.5, abs=0.04)
    assert got["sigma"] == pytest.approx(0.6, abs=0.04)
    assert got["sigma_eff"] == pytest.approx(0.4, abs=0.03)


# pp over none per (stage, choice): se16 one and sk2 two units of 0.05 x 3^stage, stage 2's negative, so that every
# arch's sum is distinct (a base-3 number) and the truth's ranking has no ties
PLANTED = {(i, c): (-1 if i == 2 else 1) * k * 0.05 * 3**i for i in range(4) for c, k in (("se16", 1), ("sk2", 2))}


def _synthetic(noise: float, seeds: tuple[int, ...], seed: int = 0) -> list[dict]:
    """Truth rows (arch, seed, epochs, accuracy, macs, seconds) of the 81 archs with the PLANTED additive effects on
    an 88 % base, plus Gaussian noise of ``noise`` pp per training; MACs grow with the attention a stage carries."""
    import numpy as np

    from benchmarks.answer_data import ARCHS, LEVELS

    rng = np.random.default_rng(seed)
    out = []
    for a in ARCHS:
        stages = a.split("-")
        pp = 88 + sum(PLANTED.get((i, c), 0.0) for i, c in enumerate(stages))
        macs = 1000 + sum(LEVELS.index(c) * 10 ** (i + 1) for i, c in enumerate(stages))
        for s in seeds:
            acc = (pp + noise * rng.standard_normal()) / 100
            out.append({"arch": a, "seed": s, "epochs": 16, "accuracy": acc, "macs": macs, "seconds": 160 + macs / 100})
    return out


def test_a_noise_free_truth_scores_its_own_answer_perfectly():
    """answer_data.Truth on noise-free planted rows: its significant effects are the planted nonzero ones (with their
    size), the fitted answer predicts every arch exactly, and scoring that answer gives zero regret under each
    budget, tau 1, every effect resolved and none wrong."""
    from benchmarks.answer_data import Truth, fitted_answer

    rows = _synthetic(0.0, (0, 1))
    rows[0]["accuracy"] += 1e-12  # a residual variance of exactly 0 leaves the intervals undefined
    t = Truth(rows)
    planted = {(s, c, "none"): pp for (s, c), pp in PLANTED.items()}
    found = {(e.stage, e.a, e.b): e.pp for e in t.effects if e.b == "none"}
    assert found.keys() == planted.keys()
    assert all(abs(found[k] - planted[k]) < 1e-3 for k in planted)
    predicted, place = fitted_answer(t.rows)
    assert all(abs(predicted[a] - m) < 1e-6 for a, m in t.mean.items())
    score = t.score(1.0, predicted, place)
    assert score.regret == (0.0, 0.0, 0.0) and score.tau == 1.0
    assert score.right == score.of == len(t.effects) and score.wrong == 0


def test_a_replicated_route_on_noisy_curves_is_scored_against_the_truth_not_itself():
    """route_replication on two new noisy seeds costs twice the truth's 81 trainings, and its regret is a loss
    against the truth's means (never negative); fed the truth's own two seeds, it gives the truth's own additive
    answer (route_oracle's regret and tau)."""
    from benchmarks.answer_curve import route_oracle, route_replication
    from benchmarks.answer_data import ARCHS, Curves, Truth

    t = Truth(_synthetic(0.3, (0, 1)))
    noisy = _synthetic(0.3, (2, 3), seed=1)
    c = Curves(None)
    c.acc = {(r["arch"], r["seed"], 16): {16: r["accuracy"]} for r in noisy}
    (score,) = route_replication(t, c)
    assert score.units == pytest.approx(2 * t.units([(a, 16) for a in ARCHS]))
    assert all(r >= 0 for r in score.regret)
    same = Curves(None)
    same.acc = {(r["arch"], int(r["seed"]) + 10, 16): {16: float(r["accuracy"])} for r in t.rows}
    (own,) = route_replication(t, same)
    assert own.regret == route_oracle(t)[0].regret and own.tau == route_oracle(t)[0].tau


def _curves_with_tests(rows: list[dict]):
    """A curves table of 16-epoch trainings whose validation and test accuracies are the rows' accuracies."""
    from benchmarks.answer_data import Curves

    c = Curves(None)
    c.acc = {(r["arch"], r["seed"], 16): {16: r["accuracy"]} for r in rows}
    c.test = {(r["arch"], r["seed"], 16): r["accuracy"] for r in rows}
    return c


def test_each_fold_judges_one_complete_seed_against_all_the_others_and_skips_an_incomplete_one():
    """folds over truth seeds 0, 1 and curves seeds 2, 3 (complete) and 4 (one arch short): four folds; each route
    reads only its own seed, and each judge is the other three seeds' mean; pooled() is all four. The truth's own
    partial seed 2 (3 archs, as truth.csv's) neither shadows the curves' complete seed 2 nor enters a judge."""
    from benchmarks.answer_data import ARCHS, Truth, folds, pooled

    partial = [dict(r, seed="2", accuracy="0.5") for r in _synthetic(0.3, (0,)) if r["arch"] in ARCHS[:3]]
    t = Truth(_synthetic(0.3, (0, 1)) + partial)
    curves = _synthetic(0.3, (2, 3, 4), seed=1)
    c = _curves_with_tests([r for r in curves if not (r["seed"] == 4 and r["arch"] == ARCHS[0])])
    out = folds(t, c)
    assert [s for s, _, _ in out] == [0, 1, 2, 3]
    acc = {(r["arch"], int(r["seed"])): float(r["accuracy"]) for r in t.rows} | {
        (r["arch"], r["seed"]): r["accuracy"] for r in curves
    }
    for s, judge, data in out:
        others = [u for u in (0, 1, 2, 3) if u != s]
        assert sorted({int(r["seed"]) for r in judge.rows}) == others
        assert judge.mean[ARCHS[5]] == pytest.approx(sum(acc[(ARCHS[5], u)] for u in others) / 3)
        assert {k[1] for k in data.acc} == {s} and data.at(ARCHS[5], s, 16) == pytest.approx(acc[(ARCHS[5], s)])
        assert judge.epoch_cost == t.epoch_cost
    assert sorted({int(r["seed"]) for r in pooled(t, c).rows}) == [0, 1, 2, 3]
    assert folds(t, _curves_with_tests([])) == [], "two seeds leave no fold a truth of two"


def test_a_real_runs_stated_epsilons_are_held_against_the_truth_at_its_own_picks(tmp_path):
    """route_runs on a run folder whose decisions.csv decides the truth's three budgets: scored by the run's own
    picks (not its best predicted arch), with its stated epsilons and confidence; a stated epsilon holds where the
    pick's regret is within it. verify_run.keep's copy of the folder (what benchmarks/runs/ tracks) is judged alike
    and holds only the files the run has."""
    from benchmarks.answer_curve import route_runs
    from benchmarks.answer_data import Truth
    from seknet.core.fileio import write_csv

    t = Truth(_synthetic(0.0, (0, 1)))
    best = [max(t.in_budget(k), key=t.mean.get) for k in range(3)]
    worst = [min(t.in_budget(k), key=t.mean.get) for k in range(3)]
    picks = [best[0], worst[1], best[2]]
    gap = 100 * (t.mean[best[1]] - t.mean[worst[1]])
    run = tmp_path / "run"
    run.mkdir()
    write_csv(run / "evaluations.csv", [{"arch": a, "accuracy": t.mean[a]} for a in t.mean], ["arch", "accuracy"])
    write_csv(run / "placement.csv", [], ["stage", "choice", "vs"])
    cols = ["budget", "pick", "epsilon_pp", "confidence"]
    made = [
        {"budget": b, "pick": p, "epsilon_pp": 0.1, "confidence": 0.9} for b, p in zip(t.budgets, picks, strict=True)
    ]
    write_csv(run / "decisions.csv", made, cols)
    (score,) = route_runs(t, [run], False)
    assert score.regret[0] == 0.0 and score.regret[1] == pytest.approx(gap) and gap > 0.1
    assert score.epsilon == (0.1, 0.1, 0.1) and score.confidence == 0.9 and score.held() == [True, False, True]
    write_csv(run / "decisions.csv", [m | {"budget": 7} for m in made], cols)
    (other,) = route_runs(t, [run], False)
    assert other.epsilon == () and other.regret == (0.0, 0.0, 0.0), "other budgets: scored by its best predicted"
    kept = _load("verify_run").keep(run, tmp_path / "kept")
    assert repr(route_runs(t, [kept], False)) == repr([other]), "the tracked copy is judged as the run (units nan)"
    assert sorted(p.name for p in kept.iterdir()) == ["decisions.csv", "evaluations.csv", "placement.csv"]


def test_the_three_fractions_partition_the_81_archs():
    """answer_data.fraction(k), k = 0, 1, 2: three disjoint 27-arch fractions that together are the 81 archs."""
    from benchmarks.answer_data import ARCHS, fraction

    parts = [set(fraction(k)) for k in range(3)]
    assert [len(p) for p in parts] == [27, 27, 27] and set.union(*parts) == set(ARCHS)


def test_the_sequential_replay_states_epsilons_that_hold_on_an_additive_truth():
    """route_sequential (run --verify --budget-units, replayed with seknet.core.decisions) on curves drawn from the
    planted additive model with 0.1 pp noise under seeds 2, 3, 4, judged against the noise-free truth: one replay per
    seed and fraction, each within its units and stating an epsilon per budget at confidence 0.9; the stated
    epsilons hold at least at that rate, and every pick is within 0.5 pp of the best under every budget."""
    import statistics

    from benchmarks.answer_curve import route_sequential
    from benchmarks.answer_data import Curves, Truth

    exact = _synthetic(0.0, (0, 1))
    exact[0]["accuracy"] += 1e-12  # a residual variance of exactly 0 leaves the truth's intervals undefined
    t = Truth(exact)
    c = Curves(None)
    c.acc = {(r["arch"], r["seed"], 16): {16: r["accuracy"]} for r in _synthetic(0.1, (2, 3, 4), seed=2)}
    scores = route_sequential(t, c, 16, cap=30.0)
    assert len(scores) == 9
    assert all(s.units <= 30.0 + 1e-9 and len(s.epsilon) == 3 and s.confidence == 0.9 for s in scores)
    assert statistics.fmean(h for s in scores for h in s.held()) >= 0.9
    assert all(s.within() for s in scores)


def test_the_replay_that_continues_its_contenders_holds_its_epsilon_where_an_early_reads_bias_breaks_it():
    """route_sequential on early reads (epoch 8 of 16) that depart from the end by each arch's own planted bias (SD
    0.6 pp, the same under every seed) and 1 pp in common, the end reads carrying 0.1 pp of noise: stated as a bound
    on the end, the early read's epsilon fails in well over 10 % of its claims; continuing the contenders to the end
    of the schedule (``end``) holds at >= 0.9, within the same units."""
    import statistics

    import numpy as np

    from benchmarks.answer_curve import route_sequential
    from benchmarks.answer_data import ARCHS, Curves, Truth

    exact = _synthetic(0.0, (0, 1))
    exact[0]["accuracy"] += 1e-12
    t = Truth(exact)
    bias = dict(zip(ARCHS, np.random.default_rng(5).normal(0.0, 0.006, len(ARCHS)), strict=True))
    end, early = Curves(None), Curves(None)
    for r in _synthetic(0.1, (3, 4), seed=4):
        end.acc[(r["arch"], r["seed"], 16)] = {16: r["accuracy"]}
        early.acc[(r["arch"], r["seed"], 8)] = {8: r["accuracy"] - 0.01 - bias[r["arch"]]}
    before = route_sequential(t, early, 8, cap=30.0)
    after = route_sequential(t, early, 8, cap=30.0, end=end)
    assert all(s.units <= 30.0 + 1e-9 for s in before + after)
    assert statistics.fmean(h for s in before for h in s.held()) < 0.8
    assert statistics.fmean(h for s in after for h in s.held()) >= 0.9


def test_epsilon_curve_spends_more_as_its_units_grow_and_each_point_keeps_within_its_cap():
    """epsilon_curve.curve on curves drawn from the planted additive model (1 pp noise under seeds 2, 3, 4), judged
    against the noise-free truth: each point replays verify's rule under each seed and fraction, spends no more than
    its cap once the first design (the 27-arch fraction) is paid for, spends more at a larger cap, and the table row
    counts its replays and states its calibration over three budgets per replay."""
    import statistics

    from benchmarks.answer_data import Curves, Truth, fraction

    ec = _load("epsilon_curve")
    exact = _synthetic(0.0, (0, 1))
    exact[0]["accuracy"] += 1e-12
    t = Truth(exact)
    c = Curves(None)
    c.acc = {(r["arch"], r["seed"], 16): {16: r["accuracy"]} for r in _synthetic(1.0, (2, 3, 4), seed=3)}
    first = t.units([(a, 16) for a in fraction(0)])
    points = ec.curve(t, c, 16, (1.0, first + 4.0, first + 12.0))
    spent = [statistics.fmean(s.units for s in scores) for _, scores in points]
    assert all(len(scores) == 9 for _, scores in points)
    assert spent[0] == pytest.approx(first, rel=0.05)  # a cap below the first design buys only it
    assert all(s.units <= max(cap, first * 1.05) + 1e-9 for cap, scores in points for s in scores)
    assert spent[0] < spent[1] < spent[2]
    cells = ec.row("planted", points[2][0], points[2][1])
    assert cells[3] == "9" and cells[7].endswith("of 27")
    table = ec.wide({"planted": points}).splitlines()
    assert len(table) == 3 and table[2].count(", held ") == 3 and table[2].endswith(f"{spent[2]:.1f} u |")


def test_the_judges_ceiling_is_the_normal_tail_of_a_tie_and_one_when_the_best_is_far_ahead():
    """epsilon_curve.ceiling: two tied archs judged by means of 2 seeds of SD 0.5 pp differ by N(0, 0.5^2), so the
    true best is judged within 0.5 pp with probability Phi(1) = 0.841; two such disjoint budgets at once, 0.841^2;
    an arch 5 pp ahead is always judged the best."""
    ec = _load("epsilon_curve")
    tie = {"a": 90.0, "b": 90.0, "c": 85.0, "d": 85.0}
    assert ec.ceiling(tie, [["a", "b"]], 0.5, 2) == pytest.approx(0.841, abs=0.01)
    assert ec.ceiling(tie, [["a", "b"], ["c", "d"]], 0.5, 2) == pytest.approx(0.841**2, abs=0.01)
    assert ec.ceiling(tie, [["a", "c"]], 0.5, 2) == 1.0


def test_recorded_picks_are_judged_by_their_gap_to_each_budgets_best_and_a_bad_name_is_exit_2(capsys):
    """answer_curve.judge_picks: the best arch under a budget is 0.00 pp below it, another arch by its gap in pp; a
    name outside the 81-arch space is one line on stderr and exit code 2."""
    from benchmarks.answer_curve import judge_picks
    from benchmarks.answer_data import Truth

    t = Truth(_synthetic(0.0, (0, 1)))
    best = [max(t.in_budget(k), key=t.mean.get) for k in range(3)]
    worst = min(t.in_budget(1), key=t.mean.get)
    line = judge_picks(t, [best[0], worst, best[2]])
    assert line.count(" 0.00 pp below ") == 2
    assert f"{worst} {100 * (t.mean[best[1]] - t.mean[worst]):.2f} pp below {best[1]}" in line
    with pytest.raises(SystemExit) as e:
        judge_picks(t, [best[0], "se99-none-none-none", best[2]])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_a_paired_variance_ratio_excludes_one_for_a_real_cut_and_holds_it_for_none():
    """noise_floor.ratio_interval on 70 seed-pair differences: a read that is 0.8 x the plain one plus a little
    noise of its own needs about 0.64 x the trainings, and its 90 % interval excludes 1; the plain read plus
    independent noise of SD 0.05 pp (as the EMA at epoch 16) keeps 1 inside."""
    import numpy as np

    nf = _load("noise_floor")
    rng = np.random.default_rng(1)
    plain = list(rng.normal(0, 0.7, 70))
    cut = [0.8 * d + rng.normal(0, 0.05) for d in plain]
    same = [d + rng.normal(0, 0.05) for d in plain]
    ratio, low, high = nf.ratio_interval(plain, cut)
    assert ratio == pytest.approx(0.64, abs=0.03) and high < 1.0
    ratio, low, high = nf.ratio_interval(plain, same)
    assert low < 1.0 < high and high - low < 0.2


def test_noise_bound_charges_only_archs_that_are_not_epsilon_good_and_takes_the_hardest_budget():
    """lower_bound on a planted 4-arch truth (SD 0.5 pp, epsilon 0.5, delta 0.1): an arch within epsilon of the best
    costs nothing; one 1.5 pp below needs 2 x 0.25 x log(1 / 0.24) / 2^2 trainings; an arch in two budgets pays the
    larger of its two needs, and the compute weighs each arch's trainings by its cost."""
    import math

    nb = _load("noise_bound")
    mean = {"a": 90.0, "b": 89.7, "c": 88.5, "d": 91.0}
    cost = {"a": 1.0, "b": 1.0, "c": 2.0, "d": 4.0}
    units, need = nb.lower_bound(mean, cost, [["a", "b", "c"]], 0.5, 0.5, 0.1)
    one = 2 * 0.25 * math.log(1 / 0.24) / 2.0**2
    assert need == pytest.approx({"a": 0.0, "b": 0.0, "c": one}) and units == pytest.approx(2 * one)
    units, need = nb.lower_bound(mean, cost, [["a", "b", "c"], ["a", "b", "c", "d"]], 0.5, 0.5, 0.1)
    assert need["c"] == pytest.approx(one)  # 2.5 pp below d is easier to see: the first budget's need holds
    assert need["b"] == pytest.approx(2 * 0.25 * math.log(1 / 0.24) / 1.8**2)  # epsilon-good in the first only
    assert need["a"] == pytest.approx(2 * 0.25 * math.log(1 / 0.24) / 1.5**2) and need["d"] == 0.0
    assert units == pytest.approx(need["a"] + need["b"] + 2 * need["c"])
    assert nb.lower_bound(mean, cost, [["a", "b", "c"]], 1.0, 0.5, 0.1)[0] == pytest.approx(4 * 2 * one)  # sigma^2


def test_pooled_sd_of_planted_replicates():
    """pooled_sd of two archs with seed accuracies {90, 91} and {80, 82, 84} (pp) pools their variances by degrees
    of freedom: sqrt((1 x 0.5 + 2 x 4) / 3)."""
    nb = _load("noise_bound")
    rows = [{"arch": a, "accuracy": v / 100} for a, vs in (("x", (90, 91)), ("y", (80, 82, 84))) for v in vs]
    assert nb.pooled_sd(rows) == pytest.approx(((0.5 + 8) / 3) ** 0.5)


def test_supernet_budget_averages_only_runs_of_the_same_epochs_and_judges_them_against_the_truth(tmp_path):
    """routes() keeps every run alone and adds the arch-by-arch mean of each two runs with the same supernet epochs
    (their seconds summed), never of runs with different epochs; judged() gives tau 1 and zero regret to scores
    ordered as the truth is, and the pp it loses where a score puts a worse arch first under a budget."""
    sb = _load("supernet_budget")
    runs = {
        "a": (15, 10.0, {"x": 0.9, "y": 0.8}),
        "b": (15, 12.0, {"x": 0.7, "y": 0.8}),
        "c": (30, 20.0, {"x": 0.5, "y": 0.5}),
    }
    out = {name: (e, n, s, sc) for name, e, n, s, sc in sb.routes(runs)}
    assert set(out) == {"a", "b", "c", "a + b"}
    assert out["a + b"][:3] == (15, 2, 22.0) and out["a + b"][3] == pytest.approx({"x": 0.8, "y": 0.8})
    t = _load("answer_data").Truth()
    mean = dict(t.mean)
    tau, regret = sb.judged(mean, mean, t)
    assert tau == pytest.approx(1.0) and regret == [0.0, 0.0, 0.0]
    worst = min(t.in_budget(0), key=mean.get)
    tau, regret = sb.judged(mean | {worst: 2.0}, mean, t)  # the worst arch under the first budget scored first
    assert regret[0] == pytest.approx(100 * (max(mean[a] for a in t.in_budget(0)) - mean[worst]))


def test_curves_append_a_finished_trials_rows_at_once_and_skip_a_failed_one(tmp_path, capsys):
    """append_rows (the curves' trial callback) appends the rows a trial reported, with the commit, under the
    table's columns; a failed trial writes nothing and is printed."""
    import json

    curves = _load("truth.curves")
    table = tmp_path / "c.csv"
    columns = ["arch", "seed", "epochs", "epoch", "val_correct", "val_n", "test_correct", "test_n", "git_commit"]
    table.write_text(",".join(columns) + "\n")
    rows = [
        {"arch": "a", "seed": 3, "epochs": 2, "epoch": e, "val_correct": 5 + e, "val_n": 9, "test_correct": ""}
        | {"test_n": 9, "seconds": 1.0}
        for e in (1, 2)
    ]
    job = {"arch": "a", "seed": 3, "epochs": 2}
    curves.append_rows(table, columns, "abc1234", tmp_path, job, {"rows": json.dumps(rows)}, {}, None)
    curves.append_rows(table, columns, "abc1234", tmp_path, job | {"arch": "b"}, {}, {}, "RuntimeError: boom")
    got = curves.read_curves(table)
    assert [(r["arch"], r["epoch"], r["val_correct"], r["git_commit"]) for r in got] == [
        ("a", "1", "6", "abc1234"),
        ("a", "2", "7", "abc1234"),
    ]
    assert "b seed 3: failed (RuntimeError: boom)" in capsys.readouterr().out


@pytest.mark.slow
def test_curves_train_through_the_shared_runner_and_a_rerun_trains_nothing(tmp_path):
    """python -m benchmarks.truth.curves on 2 archs x 1 epoch: one row each, with the EMA and SWA counts, its ledger
    beside the table (the runner's: 2 complete trainings); run again, it trains nothing."""
    from seknet.core import read_csv

    table = tmp_path / "c.csv"
    argv = [sys.executable, "-m", "benchmarks.truth.curves", "--seeds", "7", "--epochs", "1", "--workers", "2"]
    argv += ["--archs", "none-none-none-none", "se16-none-none-none", "--table", str(table)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read_csv(table)
    assert sorted(r["arch"] for r in rows) == ["none-none-none-none", "se16-none-none-none"]
    assert all(int(r["val_n"]) == 8616 and r["swa_test_correct"] and r["ema_val_correct"] for r in rows)
    ledger = read_csv(tmp_path / ".tune" / "c" / "trainings.csv")
    assert sorted(r["status"] for r in ledger) == ["complete", "complete"]
    again = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "2 of 2 trainings already in c.csv; training 0" in again.stdout and len(read_csv(table)) == 2


def test_a_random_pick_has_the_expected_regret_of_a_uniform_draw_under_each_budget():
    """route_random, the reference row of the real runs' table: its mean regret under each budget is the mean gap
    between the budget's best arch and its archs (a uniform draw's expectation), and no draw beats the best."""
    import statistics

    from benchmarks.answer_curve import route_random
    from benchmarks.answer_data import Truth

    t = Truth(_synthetic(0.3, (0, 1)))
    draws = route_random(t, draws=4000)
    for k in range(3):
        best = max(t.mean[a] for a in t.in_budget(k))
        expected = statistics.fmean(100 * (best - t.mean[a]) for a in t.in_budget(k))
        assert statistics.fmean(d.regret[k] for d in draws) == pytest.approx(expected, abs=0.05)
        assert min(d.regret[k] for d in draws) == 0.0 and all(d.regret[k] >= 0 for d in draws)


def test_early_reads_are_the_epochs_ema_of_complete_long_trainings_priced_as_that_many_epochs(tmp_path):
    """Curves.early(path, 8): each complete 16-epoch training's EMA validation accuracy at epoch 8, as a training of an
    8-epoch schedule (what a route pays); a training that never reached epoch 16 is left out, and the plain weights'
    column reads the plain accuracy."""
    from benchmarks.answer_data import Curves
    from seknet.core.fileio import write_csv

    cols = ["arch", "seed", "epochs", "epoch", "val_correct", "val_n", "ema_val_correct"]
    rows = [
        {
            "arch": a,
            "seed": 3,
            "epochs": 16,
            "epoch": e,
            "val_correct": 10 * e,
            "val_n": 200,
            "ema_val_correct": 5 * e if e in (4, 8) else "",
        }
        for a, last in (("none-none-none-none", 16), ("se16-none-none-none", 12))
        for e in range(1, last + 1)
    ]
    write_csv(tmp_path / "c.csv", rows, cols)
    ema, plain = Curves.early(tmp_path / "c.csv", 8), Curves.early(tmp_path / "c.csv", 8, "val_correct")
    assert ema.acc == {("none-none-none-none", 3, 8): {8: 40 / 200}}
    assert plain.at("none-none-none-none", 3, 8) == 80 / 200
    assert Curves.early(tmp_path / "c.csv", 12).acc == {}  # no EMA recorded at epoch 12


def test_the_stop_rule_replay_stops_once_a_chunk_changes_no_decision_and_counts_what_it_rescored(tmp_path):
    """benchmarks.stop_rule on a planted run of 64 archs: where the rescored scores equal the slice ones, no chunk
    changes a decision, so the rule stops after its second chunk with the full run's front and picks; where one
    late arch is far better on the full images, the rule (which never reaches it) ends with another front."""
    from benchmarks.stop_rule import Run, replay

    levels = ["none", "se4", "sk2", "sk4"]
    archs = ["-".join((a, b, c)) for a in levels for b in levels for c in levels]
    rng = random.Random(0)
    rows = []
    for i, a in enumerate(archs):
        acc = round(0.8 + 0.1 * rng.random(), 4)
        rows.append({"arch": a + "-none", "macs": 1000 + i, "accuracy": acc, "n_eval": 400, "slice_accuracy": acc})
    dropped = {"arch": "sk4-sk4-sk4-sk4", "macs": 2000, "accuracy": 0.5, "n_eval": 100, "slice_accuracy": 0.5}
    rows.append(dropped)  # dropped by halving: scored on the 100 slice images only
    fileio.write_csv(tmp_path / "evaluations.csv", rows, list(rows[0]))
    n, differ, same, cost = replay(Run(tmp_path), "scatter", 8)
    assert (n, differ, same) == (16, 0, True) and 0 < cost < 1
    worst = min(range(len(archs)), key=lambda i: rows[i]["slice_accuracy"])
    rows[worst]["accuracy"] = 0.99
    fileio.write_csv(tmp_path / "evaluations.csv", rows, list(rows[0]))
    n, differ, same, _ = replay(Run(tmp_path), "scatter", 8)
    assert n < len(rows) and (differ > 0 or not same)

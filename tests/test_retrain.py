from __future__ import annotations

import math

import pytest
import yaml

import search
from seknet.core import fileio
from seknet.core.stats import rank_agreement
from seknet.data.digits import load_digits
from seknet.runs.retrain import pick_archs


def test_rank_agreement_by_hand():
    """Same order: tau = rho = 1; reversed: -1; one swap of 4: tau = 4/6, rho = 0.8; one point: NaN."""
    assert rank_agreement([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx((1.0, 1.0))
    assert rank_agreement([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx((-1.0, -1.0))
    assert rank_agreement([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx((4 / 6, 0.8))
    assert all(math.isnan(v) for v in rank_agreement([1], [2]))


def test_mean_ceiling_tau_by_hand():
    """No seed noise: ceiling 1; seed noise as large as the arch spread: (2/pi) asin(sqrt(b / (b + w/S)))."""
    from seknet.core.stats import mean_ceiling_tau

    assert mean_ceiling_tau([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]) == pytest.approx(1.0)
    per = [[0.0, 0.2], [0.2, 0.4], [0.4, 0.6]]  # within var 0.02, var of means 0.04, S = 2
    b, w = 0.04 - 0.02 / 2, 0.02
    assert mean_ceiling_tau(per) == pytest.approx(2 / math.pi * math.asin(math.sqrt(b / (b + w / 2))))
    assert math.isnan(mean_ceiling_tau([[0.5, 0.6]]))


def test_replication_tau_by_hand():
    """An independent S-seed retrain agrees at (2/pi) asin(b / (b + w/S)): below the ceiling, 1 without seed noise."""
    from seknet.core.stats import mean_ceiling_tau, replication_tau

    assert replication_tau([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]) == pytest.approx(1.0)
    per = [[0.0, 0.2], [0.2, 0.4], [0.4, 0.6]]
    b, w = 0.04 - 0.02 / 2, 0.02
    assert replication_tau(per) == pytest.approx(2 / math.pi * math.asin(b / (b + w / 2)))
    assert replication_tau(per) < mean_ceiling_tau(per)
    assert replication_tau([[0.0, 0.2], [0.0, 0.2]]) == 0.0  # no spread between archs: nothing to replicate


def test_tau_interval():
    """Bootstrap interval over archs: (1, 1) for the same order, brackets the estimate otherwise, repeatable;
    NaN, not a crash, when there is no order to resample."""
    from seknet.core.stats import tau_interval

    assert tau_interval([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == pytest.approx((1.0, 1.0))
    x = list(range(20))
    y = [3, 0, 1, 7, 2, 5, 4, 12, 6, 9, 8, 15, 10, 11, 19, 13, 14, 18, 16, 17]
    lo, hi = tau_interval(x, y)
    tau = rank_agreement(x, y)[0]
    assert lo < tau < hi and 0.1 < hi - lo < 0.6
    assert tau_interval(x, y) == (lo, hi)
    assert all(math.isnan(v) for v in tau_interval([1, 2], [1, 2]))
    assert all(math.isnan(v) for v in tau_interval([0.5] * 5, [1, 2, 3, 4, 5]))  # equal scores: no order, no crash


def test_pick_front_then_random():
    """--top takes the most accurate front archs; --random draws others, never repeating, by seed."""
    rows = [
        {"arch": a, "macs": m, "accuracy": acc, "n_eval": "100"}
        for a, m, acc in [("a", 1, 0.5), ("b", 2, 0.7), ("c", 3, 0.6), ("d", 4, 0.9), ("e", 5, 0.1)]
    ]
    picked = pick_archs(rows, top=2, n_random=2, seed=0)
    assert [(r["arch"], why) for r, why in picked[:2]] == [("d", "front"), ("b", "front")]
    rest = [r["arch"] for r, _ in picked[2:]]
    assert len(rest) == 2 and not {"d", "b"} & set(rest)
    assert picked == pick_archs(rows, top=2, n_random=2, seed=0)


def test_pick_takes_the_front_of_the_runs_objective():
    """A latency run's front is on latency_ms: its top archs are the accurate ones that are fast, not small."""
    rows = [
        {"arch": a, "macs": m, "latency_ms": ms, "accuracy": acc, "n_eval": "100"}
        for a, m, ms, acc in [("a", 1, 9.0, 0.9), ("b", 2, 1.0, 0.8), ("c", 3, 2.0, 0.6)]
    ]
    assert [r["arch"] for r, _ in pick_archs(rows, top=3, n_random=0, seed=0)] == ["a"]
    assert [r["arch"] for r, _ in pick_archs(rows, top=3, n_random=0, seed=0, cost="latency_ms")] == ["a", "b"]


@pytest.mark.slow
def test_retrain_smoke(tmp_path):
    """retrain on a smoke run writes retrain.csv/.yaml/.png with tau, rho and the seed-vs-seed ceiling, and the run's
    study.db then holds each retrained arch's stand-alone mean over its 2 seeds with its interval (read by Optuna);
    the study's other trials and its best trials are unchanged."""
    run = tmp_path / "run"
    assert search.main(["--smoke", "--no-progress", "--out", str(run), "--max-macs", "5.96M"]) == 0
    argv = [
        "retrain",
        str(run),
        "--top",
        "2",
        "--random",
        "2",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--no-progress",
    ]
    assert search.main(argv) == 0
    rows = fileio.read_csv(run / "retrain.csv")
    assert len(rows) == 4 * 2 and {r["seed"] for r in rows} == {"0", "1"}
    assert all(r["status"] == "complete" and 0 <= float(r["accuracy"]) <= 1 for r in rows)
    s = yaml.safe_load((run / "retrain.yaml").read_text())
    assert s["archs"] == 4 and s["seeds"] == [0, 1] and -1 <= s["kendall_tau"] <= 1 and -1 <= s["spearman_rho"] <= 1
    assert len(s["seed_pair_taus"]) == 1 and s["standalone_front"]
    lo, hi = s["kendall_tau_95"]
    assert lo <= s["kendall_tau"] <= hi or math.isnan(s["kendall_tau"])
    n_test = len(load_digits(0, 1, 1).test)  # smoke data; stand-alone accuracy is taken on the test split
    assert s["evaluated_on"] == f"test split, {n_test} images" and {r["n_eval"] for r in rows} == {str(n_test)}
    assert (run / "retrain.png").read_bytes()[:4] == b"\x89PNG"
    import optuna

    study = optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}")
    by_arch = {t.user_attrs["arch"]: t.user_attrs for t in study.trials}
    for arch in {r["arch"] for r in rows}:
        accs = [float(r["accuracy"]) for r in rows if r["arch"] == arch]
        got = by_arch[arch]
        assert got["standalone_accuracy"] == pytest.approx(sum(accs) / 2, abs=1e-6) and got["standalone_seeds"] == 2
        assert got["standalone_low"] <= got["standalone_accuracy"] <= got["standalone_high"]
    assert sum("standalone_accuracy" in a for a in by_arch.values()) == 4
    pareto = {(float(r["accuracy"]), float(r["macs"])) for r in fileio.read_csv(run / "pareto.csv")}
    assert {tuple(t.values) for t in study.best_trials} == pareto


def test_standalone_evidence_is_a_seed_t_interval_or_one_seeds_wilson_interval():
    """standalone_evidence of retrain.csv rows: 2 seeds at 0.80 and 0.90 give the mean 0.85 and mean +- t(0.975, 1)
    x sd / sqrt(2) = 0.85 +- 0.635; one seed at 0.9 of 1,000 images gives the Wilson interval of 900 / 1,000; a
    failed row counts for nothing."""
    from seknet.core.stats import wilson_interval
    from seknet.runs.study import standalone_evidence

    rows = [
        {"arch": "a", "accuracy": 0.8, "n_eval": 1000, "status": "complete"},
        {"arch": "a", "accuracy": 0.9, "n_eval": 1000, "status": "complete"},
        {"arch": "b", "accuracy": 0.9, "n_eval": 1000, "status": "complete"},
        {"arch": "b", "accuracy": "", "n_eval": "", "status": "failed"},
    ]
    got = standalone_evidence(rows)
    assert got["a"]["standalone_accuracy"] == pytest.approx(0.85)
    assert got["a"]["standalone_high"] - 0.85 == pytest.approx(12.7062 * 0.0707107 / 2**0.5 * 1, abs=1e-3)
    assert got["a"]["standalone_interval"] == "seeds (t, 95 %)" and got["b"]["standalone_seeds"] == 1
    low, high = wilson_interval(900, 1000)
    assert (got["b"]["standalone_low"], got["b"]["standalone_high"]) == pytest.approx((low, high), abs=1e-6)


@pytest.mark.slow
def test_retrain_more_seeds_trains_only_missing(tmp_path, capsys):
    """A retrain with --seeds 3 after --seeds 2 keeps the 2-seed rows as they were and trains only the 4 new pairs;
    one with fewer seeds trains nothing and keeps every row in retrain.csv; other --epochs reuse nothing."""
    run = tmp_path / "run"
    assert search.main(["--smoke", "--no-progress", "--out", str(run), "--max-macs", "5.96M"]) == 0
    argv = ["retrain", str(run), "--top", "2", "--random", "2", "--epochs", "1", "--no-progress"]
    assert search.main([*argv, "--seeds", "2"]) == 0
    before = {(r["arch"], r["seed"]): r for r in fileio.read_csv(run / "retrain.csv")}
    capsys.readouterr()
    assert search.main([*argv, "--seeds", "3"]) == 0
    assert "reusing 8 finished (arch, seed) trainings" in capsys.readouterr().out
    after = {(r["arch"], r["seed"]): r for r in fileio.read_csv(run / "retrain.csv")}
    assert len(after) == 12 and {s for _, s in after} == {"0", "1", "2"}
    assert all(after[k] == row for k, row in before.items())
    assert all(after[(a, "2")]["status"] == "complete" for a, _ in before)
    trials = [
        d for d in (run / "retrain_tune" / "tune").iterdir() if d.is_dir() and d.name.startswith("standalone_trial")
    ]
    assert len(trials) == 8 + 4  # 8 trainings the first time, 4 the second: none twice
    assert yaml.safe_load((run / "retrain.yaml").read_text())["seeds"] == [0, 1, 2]
    assert search.main([*argv, "--seeds", "2"]) == 0  # fewer seeds: nothing trained, nothing thrown away
    assert "training 0" in capsys.readouterr().out
    assert {(r["arch"], r["seed"]): r for r in fileio.read_csv(run / "retrain.csv")} == after
    assert yaml.safe_load((run / "retrain.yaml").read_text())["seeds"] == [0, 1]
    assert search.main([*argv, "--seeds", "1", "--epochs", "2"]) == 0  # other epochs: nothing reused
    assert "reusing" not in capsys.readouterr().out


def test_retrain_bad_run(tmp_path, capsys):
    """retrain on a folder that is not a run: one line, exit 2."""
    assert search.main(["retrain", str(tmp_path)]) == 2
    assert "not a finished run folder" in capsys.readouterr().err

"""run --verify (seknet.modes.verify): the screening narrows the question, stand-alone trainings answer it; and the
truth check's resolved / wrong counts (seknet.core.truth.claims)."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

import search
from seknet.core import factorial, truth
from seknet.core.fileio import read_csv
from tests.conftest import ROOT

TINY = {  # 2 stages of the digits backbone, {none, se16, sk2} each: a 9-arch factorial
    "name": "tiny",
    "in_channels": 1,
    "input_size": 16,
    "num_classes": 10,
    "stem": "cifar",
    "stem_width": 32,
    "stages": [{"depth": 1, "width": 32, "stride": 1}, {"depth": 1, "width": 48, "stride": 2}],
    "sk": {"groups": 8, "reduction": 16, "min_attn_channels": 16},
    "choices": ["none", "se16", "sk2"],
}


@pytest.fixture(scope="module")
def tiny_space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _planted_rows(effects: dict[tuple[int, str], float], seeds: int = 4, noise: float = 0.001) -> list[dict]:
    """Truth rows of the {none, se16, sk2}^4 factorial: 0.8 + the planted effects (fractions) + small noise."""
    rng = random.Random(0)
    rows = []
    for arch in itertools.product(("none", "se16", "sk2"), repeat=4):
        mean = 0.8 + sum(effects.get((i, c), 0.0) for i, c in enumerate(arch))
        for s in range(seeds):
            rows.append(
                {
                    "arch": "-".join(arch),
                    "seed": s,
                    "epochs": 16,
                    "accuracy": mean + rng.gauss(0, noise),
                    "macs": 1_000_000 + 1000 * sum(c == "sk2" for c in arch),
                }
            )
    return rows


def _place(stage: int, choice: str, vs: str, delta: float, significant: int) -> dict:
    return {
        "stage": stage,
        "choice": choice,
        "vs": vs,
        "delta_accuracy": delta,
        "significant": significant,
    }


def test_claims_count_resolved_and_wrong_effects_against_a_planted_truth():
    """Planted: stage 0 SE -1 pp, stage 3 SE +1 pp and SK +0.5 pp. A run that resolves stage 0 SE with the right
    sign, stage 3 SE with the wrong sign and leaves stage 3 SK unresolved has 1 resolved and 1 wrong; a contrast it
    does not resolve, or one the truth does not find, counts in neither."""
    rows = _planted_rows({(0, "se16"): -0.01, (3, "se16"): 0.01, (3, "sk2"): 0.005})
    effects = [e for e in factorial.main_effects(factorial.fit(rows)) if e.significant]
    assert {(e.stage, e.a, e.b) for e in effects} >= {
        (0, "se16", "none"),
        (3, "se16", "none"),
        (3, "sk2", "none"),
    }
    place = [
        _place(0, "se16", "none", -0.004, 1),
        _place(3, "se16", "none", -0.003, 1),
        _place(3, "sk2", "none", 0.002, 0),
        _place(1, "se16", "none", 0.01, 1),
    ]
    got = truth.claims(place, effects)
    assert len(got["resolved"]) == 1 and "stage 0" in got["resolved"][0]
    assert len(got["wrong"]) == 1 and "stage 3:  se16 vs none" in got["wrong"][0]
    check = truth.check_run(rows, [{"arch": r["arch"], "accuracy": r["accuracy"]} for r in rows], place)
    assert len(check["resolved"]) == 1 and len(check["wrong"]) == 1


def test_claims_of_sk_vs_se_come_from_their_own_row():
    """SK vs SE is resolved by the run's row comparing them (vs = se16), not by the two rows against none."""
    rows = _planted_rows({(2, "sk2"): 0.008})
    effects = [
        e for e in factorial.main_effects(factorial.fit(rows)) if e.significant and e.stage == 2 and e.b == "se16"
    ]
    assert effects and effects[0].pp > 0
    assert truth.claims([_place(2, "sk2", "se16", 0.003, 1)], effects)["resolved"]
    assert not truth.claims([_place(2, "sk2", "none", 0.003, 1), _place(2, "se16", "none", 0.0, 1)], effects)[
        "resolved"
    ]


@pytest.mark.slow
def test_verify_smoke_writes_the_verified_answer(tiny_space, tmp_path):
    """--verify on a 9-arch space: every arch of the factorial is trained once, evaluations.csv holds the verified
    predictions (screening.csv the supernet's scores), placement.csv the stand-alone contrasts with intervals,
    and export works on the run."""
    out = tmp_path / "run"
    argv = ["--smoke", "--no-progress", "--space", str(tiny_space), "--verify", "--out", str(out)]
    assert search.main(argv) == 0
    trained = read_csv(out / "verify" / "trainings.csv")
    assert sorted(r["arch"] for r in trained) == sorted(
        "-".join(c) for c in itertools.product(TINY["choices"], repeat=2)
    )
    assert all(r["status"] == "complete" and r["epochs"] == "1" for r in trained)
    rows = read_csv(out / "evaluations.csv")
    assert len(rows) == 9 and all(float(r["acc_low"]) <= float(r["accuracy"]) <= float(r["acc_high"]) for r in rows)
    assert len(read_csv(out / "screening.csv")) == 9
    place = read_csv(out / "placement.csv")
    contrasts = {(p["stage"], p["choice"], p["vs"]) for p in place if p["significant"] != ""}
    assert contrasts == {(s, c, v) for s in "01" for c, v in (("se16", "none"), ("sk2", "none"), ("sk2", "se16"))}
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["verify"]["trainings"] == 9 and cfg["verify"]["levels"] == [TINY["choices"]] * 2
    assert cfg["metric"]["weights"] == "EMA of the weights after epoch 1 of a 2-epoch cosine schedule (the early read)"
    decided = read_csv(out / "decisions.csv")  # what an epsilon bounds: the early read, named beside it
    named = "trainings read with the EMA after epoch 1 of a 2-epoch cosine schedule, sigma"
    assert decided and all(named in d["evidence"] for d in decided)
    jobs = [json.loads(t.splitlines()[-1])["config"]["job"] for t in _finished(out / "verify" / "tune").values()]
    assert len(jobs) == 9 and all(j["epochs"] == 1 and j["schedule"] == 2 for j in jobs)  # what the trials trained
    assert not (out / "checkpoint.pt").exists() and not (out / "scored").exists()
    import optuna

    study = optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}")
    pareto = {(float(r["accuracy"]), float(r["macs"])) for r in read_csv(out / "pareto.csv")}
    assert {tuple(t.values) for t in study.best_trials} == pareto and len(study.trials) == 9
    assert search.main(["export", str(out), "--max-macs", "100M", "--out", str(tmp_path / "best.yaml")]) == 0


def _toy_trials(monkeypatch, val: int):
    """Random 16x16 images (64 to train on, ``val`` to read) and the list standalone_trial reports into, run in this
    process on the CPU: (data, reports)."""
    import ray
    import torch
    from ray import tune

    from seknet.data.split import Data, Split

    g = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.randn(n, 1, 16, 16, generator=g), torch.randint(0, 10, (n,), generator=g))  # noqa: E731
    reports = []
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    monkeypatch.setattr(tune, "report", reports.append)
    return Data("toy", split(64), split(val), split(8), 10), reports


def test_a_job_stopped_before_its_schedule_ends_reports_the_ema_of_its_weights(digits, monkeypatch):
    """standalone_trial on {"epochs": 2, "schedule": 4}: it trains 2 epochs of the 4-epoch schedule and reports the
    correct count of the EMA weights there (as seknet.engine.averaging computes it beside the same training); a
    job without a schedule reports its plain weights after a complete one."""
    from seknet.engine.averaging import WeightAverages
    from seknet.engine.ray_trials import job_config, standalone_trial
    from seknet.engine.standalone import train_standalone
    from seknet.engine.train import TrainConfig, evaluate

    data, reports = _toy_trials(monkeypatch, 200)
    tcfg = TrainConfig(epochs=9, batch_size=16)
    arch = "se4-none-sk2-none"
    for job in ({"arch": arch, "seed": 3, "epochs": 2, "schedule": 4}, {"arch": arch, "seed": 3, "epochs": 2}):
        reports.clear()
        standalone_trial({"job": job}, digits, data, tcfg)
        cfg = job_config(tcfg, job)
        averages = WeightAverages(cfg.epochs) if "schedule" in job else None
        model = train_standalone(digits.parse(arch), data.train, cfg, averages=averages)
        read = averages.ema_model(model) if averages else model
        assert [r["epoch"] for r in reports] == [2]
        assert reports[0]["correct"] == evaluate(read, data.val, "cpu")
    assert job_config(tcfg, {"arch": arch, "epochs": 2, "schedule": 4}).stop_epoch == 2
    with pytest.raises(ValueError, match="shorter than the epochs it trains"):
        job_config(tcfg, {"arch": arch, "epochs": 4, "schedule": 2})


def test_a_job_read_with_swa_reports_the_swa_weights_and_an_early_stop_cannot_be(digits, monkeypatch):
    """standalone_trial on {"epochs": 8, "read": "swa"}: it reports the correct count of the SWA weights (the mean of
    the last 2 epochs' ends, BN recomputed on the training images), not the plain weights'; SWA of a training that
    stops early, or a read that does not exist, is refused before any training."""
    from seknet.engine.averaging import WeightAverages
    from seknet.engine.ray_trials import job_config, job_read, standalone_trial
    from seknet.engine.standalone import train_standalone
    from seknet.engine.train import TrainConfig, evaluate

    data, reports = _toy_trials(monkeypatch, 400)
    tcfg, arch = TrainConfig(epochs=9, batch_size=16), "se4-none-sk2-none"
    job = {"arch": arch, "seed": 3, "epochs": 8, "read": "swa"}
    standalone_trial({"job": job}, digits, data, tcfg)
    averages = WeightAverages(8)
    model = train_standalone(digits.parse(arch), data.train, job_config(tcfg, job), averages=averages)
    assert averages.swa_count == 2 and [r["epoch"] for r in reports] == [8]
    swa, plain = evaluate(averages.swa_model(model, data.train), data.val, "cpu"), evaluate(model, data.val, "cpu")
    assert reports[0]["correct"] == swa != plain
    early = {"arch": arch, "epochs": 2, "schedule": 4, "read": "swa"}
    with pytest.raises(ValueError, match="stops early"):
        standalone_trial({"job": early}, digits, data, tcfg)
    with pytest.raises(ValueError, match="'best' is not one of plain, ema, swa"):
        job_read({"arch": arch, "read": "best"}, tcfg)
    assert len(reports) == 1


def _finished(tune_dir) -> dict[str, str]:
    """{trial folder: result.json} of the trials that reported a result."""
    return {
        d.name: (d / "result.json").read_text()
        for d in tune_dir.glob("standalone_trial_*")
        if (d / "result.json").is_file() and (d / "result.json").read_text().strip()
    }


def _final_reports(tune_dir) -> Counter:
    """How many times each (arch, seed, epochs) reported its last epoch, over every trial folder of every
    experiment in ``tune_dir``: a job trained twice counts 2, even when its second training wrote a new folder."""
    reports = Counter()
    for text in _finished(tune_dir).values():
        for line in text.splitlines():
            r = json.loads(line)
            job = r["config"]["job"]
            if r["epoch"] == job["epochs"]:
                reports[(job["arch"], job["seed"], job["epochs"])] += 1
    return reports


@pytest.mark.slow
def test_verify_resumes_after_kill_minus_9_without_training_anything_twice(tiny_space, tmp_path):
    """kill -9 amid the verification trainings, then --resume: the supernet is not trained again, no finished
    (arch, seed, epochs) is trained again, and the run completes with every training once."""
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "search.py",
        "--smoke",
        "--no-progress",
        "--space",
        str(tiny_space),
        "--verify",
        "--verify-epochs",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tune_dir = out.with_name(f".{out.name}.partial") / "verify" / "tune"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and len(_finished(tune_dir)) < 2:
            time.sleep(0.5)
        before = _finished(tune_dir)
        assert 2 <= len(before) < 9, "the verification must be killed mid-way"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert search.main(["run", "--resume", str(out)]) == 0
    after = _finished(out / "verify" / "tune")
    assert all(after[name] == text for name, text in before.items()), "a finished training ran again"
    reports = _final_reports(out / "verify" / "tune")
    assert len(reports) == 9 and set(reports.values()) == {1}, f"a training ran twice: {reports}"
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["resumed_from_epoch"] == cfg["config"]["epochs"]  # the supernet's training was not run again
    trained = read_csv(out / "verify" / "trainings.csv")
    assert len(trained) == 9 and len({(r["arch"], r["seed"], r["epochs"]) for r in trained}) == 9


def test_sequential_verify_spends_only_on_contenders_and_trains_nothing_twice(tiny_space, tmp_path, monkeypatch):
    """--budget-units: after the 9-arch first design, each look continues the early-stopped trainings of each
    budget's pick and strongest challenger to the end of their schedule, then trains one more seed of the archs the
    picks still hinge on (an unreachable --epsilon 0 keeps them hinging), never an (arch, seed, epochs) twice and
    never past the units; decisions.csv states the picks at the run's confidence, of the end of the schedule, with
    the looks recorded in config.yaml. The run folder is named relative to the working directory, as a user names it
    (a Tune trial runs in a directory of its own: the states must still land in the run's folder)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    budget = 0.45  # the first design costs about 9 x 1/30 units: room for about 4 more trainings
    argv = ["--smoke", "--no-progress", "--space", str(tiny_space), "--verify", "--out", "run"]
    assert search.main([*argv, "--budget-units", str(budget), "--epsilon", "0"]) == 0
    trained = read_csv(out / "verify" / "trainings.csv")
    keys = [(r["arch"], r["seed"], r["epochs"]) for r in trained]
    assert len(keys) == len(set(keys)) and len(keys) > 9
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    seq = cfg["verify"]["sequential"]
    assert seq["stopped"] in ("units", "looks") and seq["looks"] >= 1 and seq["units"] <= budget + 1e-9
    ends = [(a, s) for a, s, e in keys if e == "2"]  # continued from epoch 1 to the end of the 2-epoch schedule
    assert len(ends) >= 2 and all((a, s, "1") in keys for a, s in ends)
    assert cfg["verify"]["continued"] == len(ends) and cfg["verify"]["trainings"] == len(keys) - len(ends)
    kept = {tuple(p.stem.rpartition("-s")[::2]) for p in (out / "verify" / "states").iterdir()}
    assert kept == {(a, s) for a, s, e in keys if e == "1"} - set(ends), "the states left: those not continued yet"
    assert {s for _, s, _ in keys} > {"0"}  # later looks trained further seeds
    decisions = read_csv(out / "decisions.csv")
    assert decisions and all(float(d["epsilon_pp"]) >= 0 and d["confidence"] == "0.9" for d in decisions)
    assert all(d["pick"] == d["indifference"].split()[0] for d in decisions)
    assert all(f"{len(ends)} trainings continued there, read with SWA" in d["evidence"] for d in decisions)


@pytest.mark.slow
def test_resume_with_more_units_extends_a_finished_sequential_run_without_training_anything_twice(tiny_space, tmp_path):
    """`run --resume RUN --budget-units U2` on a finished sequential run: every earlier training stays in the ledger as
    it was, more are added, none twice; the looks go on from where the run stopped (never past LOOKS) and the
    units from what it spent; the run is finished again with the new budget in its config.yaml."""
    from seknet.modes.verify import LOOKS

    out = tmp_path / "run"
    argv = ["--smoke", "--no-progress", "--space", str(tiny_space), "--verify", "--out", str(out)]
    assert search.main([*argv, "--budget-units", "0.4", "--epsilon", "0"]) == 0
    before = {(r["arch"], r["seed"], r["epochs"]): r for r in read_csv(out / "verify" / "trainings.csv")}
    seq0 = yaml.safe_load((out / "config.yaml").read_text())["verify"]["sequential"]
    assert seq0["stopped"] == "units"
    assert search.main(["run", "--resume", str(out), "--budget-units", "0.7"]) == 0
    after = read_csv(out / "verify" / "trainings.csv")
    keys = [(r["arch"], r["seed"], r["epochs"]) for r in after]
    assert len(keys) == len(set(keys)) and set(before) < set(keys)
    assert all(r == before[k] for k, r in zip(keys, after, strict=True) if k in before)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    seq = cfg["verify"]["sequential"]
    assert seq0["looks"] <= seq["looks"] <= LOOKS and seq0["units"] < seq["units"] <= 0.7 + 1e-9
    assert cfg["config"]["budget_units"] == 0.7 and cfg["verify"]["trainings"] + cfg["verify"]["continued"] == len(keys)
    assert not (out / "reopened.yaml").exists() and not out.with_name(f".{out.name}.partial").exists()
    assert (out / "screening.csv").is_file() and read_csv(out / "decisions.csv")


@pytest.mark.slow
def test_resume_with_more_units_refuses_what_would_void_the_confidence(tiny_space, tmp_path, capsys, monkeypatch):
    """A run without sequential verification, or a total not above what the run spent: one line, exit 2, and the
    finished run is left where it was; a refusal after the run was reopened puts it back as it was."""
    out = tmp_path / "run"
    argv = ["--smoke", "--no-progress", "--space", str(tiny_space), "--verify", "--verify-epochs", "1"]
    assert search.main([*argv, "--out", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert search.main(["run", "--resume", str(out), "--budget-units", "5"]) == 2
    assert "no sequential verification" in capsys.readouterr().err
    config = yaml.safe_load((out / "config.yaml").read_text())
    config["verify"]["sequential"] = {"looks": 2, "units": 0.4}
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    assert search.main(["run", "--resume", str(out), "--budget-units", "0.3"]) == 2
    assert "spent 0.4 units already" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == files and not out.with_name(f".{out.name}.partial").exists()
    from seknet.modes import verify

    def refuse(ctx, saved):
        raise ValueError("refused on the way")

    monkeypatch.setattr(verify, "extend", refuse)  # a refusal after the run was reopened: it goes back in place
    assert search.main(["run", "--resume", str(out), "--budget-units", "0.9"]) == 2
    assert "refused on the way" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == files and not out.with_name(f".{out.name}.partial").exists()


def test_sequential_verify_refuses_a_budget_below_its_first_design(tiny_space, tmp_path, capsys):
    """--budget-units smaller than the first design's cost: one line naming the fix, exit 2, no finished run."""
    out = tmp_path / "run"
    argv = ["--smoke", "--no-progress", "--space", str(tiny_space), "--verify", "--out", str(out)]
    assert search.main([*argv, "--budget-units", "0.01"]) == 2
    assert "less than the first design" in capsys.readouterr().err and not out.exists()


def test_a_run_saved_before_verify_schedule_existed_resumes_with_complete_schedules(tmp_path):
    """config_from on a config.yaml written before --verify-schedule: the run goes on as it began (complete
    schedules of --verify-epochs, plain weights), while a new run's unset schedule is twice --verify-epochs; a
    schedule shorter than the epochs is one line naming both flags."""
    from seknet.core.config import OneShotConfig
    from seknet.modes.verify import job, schedule
    from seknet.runs.files import config_from

    old = config_from(OneShotConfig, {"verify": True, "verify_epochs": 3}, tmp_path / "config.yaml")
    new = config_from(OneShotConfig, {"verify": True, "verify_epochs": 3, "verify_schedule": None}, tmp_path)
    assert schedule(old) == 3 and job(old, "none-none", 0) == {
        "arch": "none-none",
        "seed": 0,
        "epochs": 3,
        "schedule": 3,
        "read": "plain",
    }
    assert schedule(new) == 6 and schedule(OneShotConfig(verify=True)) == 16
    with pytest.raises(ValueError, match="--verify-schedule 2 is shorter than --verify-epochs 3"):
        OneShotConfig(verify=True, verify_epochs=3, verify_schedule=2)


def test_verify_reads_an_early_stop_with_the_ema_and_a_complete_schedule_with_swa_unless_saved_before(tmp_path):
    """--verify-read auto: the EMA of a training stopped early, SWA after a complete schedule (the reads that need the
    fewest trainings), named in the job and in config.yaml's metric; a run saved before --verify-read goes on with
    the read it had (EMA early, plain weights complete); SWA of an early stop is one line naming the fix."""
    from seknet.core.config import OneShotConfig
    from seknet.modes.verify import job, metric, read
    from seknet.runs.files import config_from

    complete = OneShotConfig(verify=True, verify_epochs=3, verify_schedule=3)
    assert read(OneShotConfig(verify=True)) == "ema" and read(complete) == "swa"
    assert job(complete, "none-none", 0)["read"] == "swa" and metric(complete)["weights"].startswith("SWA: ")
    assert read(OneShotConfig(verify=True, verify_read="plain")) == "plain"
    saved = {"verify": True, "verify_epochs": 3}
    old_complete = config_from(OneShotConfig, saved | {"verify_schedule": 3}, tmp_path / "config.yaml")
    old_early = config_from(OneShotConfig, saved | {"verify_schedule": 6}, tmp_path / "config.yaml")
    assert read(old_complete) == "plain" and read(old_early) == "ema"
    assert metric(old_complete)["weights"] == "final: the plain weights of a complete 3-epoch schedule"
    with pytest.raises(ValueError, match="--verify-read swa averages the last quarter of a complete schedule"):
        OneShotConfig(verify=True, verify_epochs=3, verify_read="swa")


def test_a_failed_continuation_is_counted_as_failed_not_as_a_training():
    """config.yaml's verify record: ``trainings`` are the early reads (complete or not), ``continued`` the complete
    continuations; a continuation that failed is under ``failed`` only."""
    from types import SimpleNamespace

    from seknet.core import OneShotConfig
    from seknet.modes.verify import _record

    def row(arch: str, epochs: int, status: str) -> dict:
        done = status == "complete"
        return {
            "arch": arch,
            "seed": "0",
            "epochs": str(epochs),
            "status": status,
            "accuracy": "0.9" if done else "",
            "error": "" if done else "killed",
        }

    trained = [row("a", 8, "complete"), row("a", 16, "failed"), row("b", 8, "complete"), row("b", 16, "complete")]
    record, notes = _record(SimpleNamespace(cfg=OneShotConfig(verify_epochs=8)), [], trained, {}, 1.0)
    assert (record["trainings"], record["continued"], record["failed"]) == (2, 1, 1)
    assert record["epochs"] == 8 + 8 + 8 + 8 and "failed a seed 0: killed" in notes[-1]

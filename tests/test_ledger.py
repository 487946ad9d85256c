"""The stand-alone runner's ledger (seknet.engine.ray_trials.train_jobs): a job is trained once, whatever moment the
driver is killed at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from seknet.core.fileio import read_csv
from seknet.engine.ray_trials import Ledger, ledger_row
from tests.conftest import ROOT

# A driver running train_jobs over two jobs whose trials report their last epoch and then, for "hang", do not end;
# each training leaves a file named after its job, so a second training of a job shows.
DRIVER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    from ray import tune
    from seknet.engine.ray_trials import train_jobs

    folder, mode = Path(sys.argv[1]), sys.argv[2]  # globals of trial: Ray ships them with it to its worker

    def trial(config):
        job = config["job"]
        with open(folder / f"trained-{job['arch']}", "a") as f:
            f.write("once\\n")
        tune.report({"correct": 7, "n_eval": 10, "accuracy": 0.7, "epoch": job["epochs"]})
        if job["arch"] == "hang" and mode == "hang":
            time.sleep(600)

    jobs = [{"arch": a, "seed": 0, "epochs": 1} for a in ("quick", "hang")]
    trainable = tune.with_resources(trial, {"cpu": 1})
    rows = train_jobs(jobs, trainable, folder, 10, num_cpus=2)
    print([r["status"] for r in rows])
    """
)


# A driver whose trials write the job they were given: what a job names beyond its key must reach its trial.
JOBS_DRIVER = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    from ray import tune
    from seknet.engine.ray_trials import train_jobs

    folder = Path(sys.argv[1])

    def trial(config):
        job = config["job"]
        (folder / f"job-{job['arch']}.json").write_text(json.dumps(job, sort_keys=True))
        tune.report({"correct": 7, "n_eval": 10, "accuracy": 0.7, "epoch": job["epochs"]})

    early = {"arch": "early", "seed": "0", "epochs": 1, "schedule": 2}
    jobs = [early, dict(early), {"arch": "whole", "seed": 1, "epochs": 1}]
    rows = train_jobs(jobs, tune.with_resources(trial, {"cpu": 1}), folder, 10, num_cpus=2)
    print(len(list((folder / "tune").glob("*/result.json"))))
    """
)


def test_a_jobs_schedule_reaches_its_trial_and_a_job_named_twice_is_trained_once(tmp_path):
    """train_jobs passes each job whole to its trial (a verify training's schedule, which makes it stop early and
    read its EMA), with its key normalised (seed "0" -> 0); the same job named twice is one trial."""
    import json

    folder = tmp_path / "jobs"
    folder.mkdir()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", JOBS_DRIVER, str(folder)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "2"
    assert json.loads((folder / "job-early.json").read_text()) == {
        "arch": "early",
        "seed": 0,
        "epochs": 1,
        "schedule": 2,
    }
    assert json.loads((folder / "job-whole.json").read_text()) == {"arch": "whole", "seed": 1, "epochs": 1}


def test_a_run_killed_after_a_trial_reported_its_last_epoch_does_not_train_it_again(tmp_path):
    """kill -9 of the driver while a trial has reported its last epoch but not yet ended (Tune has written its
    result.json): the ledger already holds it, so the next call trains neither job again and returns both."""
    folder = tmp_path / "jobs"
    folder.mkdir()
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", DRIVER, str(folder)]
    proc = subprocess.Popen(
        [*argv, "hang"], cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 120
        reported = []
        while time.time() < deadline and len(reported) < 2:
            reported = [p for p in (folder / "tune").glob("*/result.json") if p.stat().st_size]
            time.sleep(0.2)
        assert len(reported) == 2, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else "no report"
        assert proc.poll() is None, "the hanging trial must still be running when the driver is killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run([*argv, "end"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['complete', 'complete']"
    for arch in ("quick", "hang"):
        assert (folder / f"trained-{arch}").read_text() == "once\n", f"{arch} was trained again"
    rows = read_csv(folder / "trainings.csv")
    assert [(r["arch"], r["correct"], r["status"]) for r in rows] == [
        ("hang", "7", "complete"),
        ("quick", "7", "complete"),
    ]


def test_a_complete_row_replaces_a_failed_one_but_a_failure_never_replaces_a_result(tmp_path):
    """The ledger keeps one row per (arch, seed, epochs): a later success replaces a failure, a later failure of a
    job already complete on the same images is dropped, and every change is on disk at once."""
    path = tmp_path / "trainings.csv"
    job = {"arch": "se16-sk2", "seed": 1, "epochs": 2}
    book = Ledger(path, n_eval=10)
    book.add(ledger_row(job, {"epoch": 1, "correct": 3, "n_eval": 10}, None, 2))
    assert [r["error"] for r in read_csv(path)] == ["stopped after 1 epochs"]
    book.add(ledger_row(job, {"epoch": 2, "correct": 6, "n_eval": 10, "time_total_s": 4.04}, None, 2))
    book.add(ledger_row(job, None, "RuntimeError: boom", 2))
    rows = read_csv(path)
    assert [(r["status"], r["correct"], r["seconds"]) for r in rows] == [("complete", "6", "4.0")]
    assert Ledger(path, n_eval=10).done([job]) == rows
    assert Ledger(path, n_eval=11).done([job]) == [], "a result on other images does not count"


def test_a_damaged_ledger_is_one_error_naming_it(tmp_path):
    """A ledger with a missing column or a seed that is no integer: one ValueError naming the file and the fix."""
    path = tmp_path / "trainings.csv"
    for text in ("arch,seed,epochs\nnone-sk2,x,2\n", "arch,epochs\nnone-sk2,2\n"):
        path.write_text(text)
        with pytest.raises(ValueError, match=f"{path}: damaged ledger of trainings .*; remove it"):
            Ledger(path, n_eval=10)


def _tune_results(folder) -> list[dict]:
    """The last result each trial of the Tune experiment in ``folder``/tune reported."""
    import json

    return [json.loads(p.read_text().splitlines()[-1]) for p in sorted(folder.glob("tune/*/result.json"))]


def test_trials_share_a_worker_and_each_result_is_what_a_fresh_worker_gives(tmp_path):
    """train_jobs reuses one worker process for trial after trial (no torch import and data load per training), and
    nothing a training leaves in that process changes the next: a job trained after another reports the loss and
    accuracy it reports alone in a new process."""
    import yaml

    import seknet
    from seknet.core.config import SMOKE_DATA
    from seknet.data.load import load_data
    from seknet.engine.ray_trials import standalone_trainable, train_jobs
    from seknet.engine.train import TrainConfig
    from tests.test_verify import TINY

    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    space = seknet.load_space(tmp_path / "tiny.yaml")
    data = load_data("digits", seed=0, size=space.input_size, **SMOKE_DATA)
    first, second = {"arch": "sk2-se16", "seed": 1, "epochs": 1}, {"arch": "se16-sk2", "seed": 2, "epochs": 1}
    trainable = standalone_trainable(space, data, TrainConfig(epochs=1))  # one per Ray session: it holds data there
    rows = train_jobs([first, second], trainable, tmp_path / "after", len(data.val), num_cpus=1)
    assert [r["status"] for r in rows] == ["complete", "complete"]
    trainable = standalone_trainable(space, data, TrainConfig(epochs=1))
    train_jobs([second], trainable, tmp_path / "alone", len(data.val), num_cpus=1)
    after, alone = _tune_results(tmp_path / "after"), _tune_results(tmp_path / "alone")
    assert len({r["pid"] for r in after}) == 1, "each trial had a new worker process"
    (late,) = [r for r in after if r["config"]["job"]["arch"] == second["arch"]]
    assert (late["loss"], late["correct"]) == (alone[0]["loss"], alone[0]["correct"])

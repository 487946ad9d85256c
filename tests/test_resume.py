from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import search
from seknet import report
from tests.conftest import ROOT

EPOCHS, TRIALS = 2, 6


def _finished(tune_dir) -> dict[str, str]:
    """{trial folder: result.json text} of the trials that reported their last epoch."""
    done = {}
    for d in tune_dir.glob("_trial_*"):
        f = d / "result.json"
        if f.exists():
            lines = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
            if any(x.get("epoch") == EPOCHS for x in lines):
                done[d.name] = f.read_text()
    return done


def test_kill_minus_9_then_resume_keeps_finished_trials(tmp_path):
    """After kill -9 mid-search and --resume, every finished trial is kept as it was and none runs twice."""
    out = tmp_path / "run"
    argv = [sys.executable, "search.py", "run", "--mode", "multitrial", "--smoke", "--no-progress",
            "--sampler", "random", "--trials", str(TRIALS), "--epochs", str(EPOCHS), "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tune_dir = out.with_name(f".{out.name}.partial") / "tune"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(_finished(tune_dir)) < 2:
            time.sleep(0.5)
        time.sleep(1.0)  # let the driver snapshot the experiment state
        before = _finished(tune_dir)
        assert 2 <= len(before) < TRIALS, "the search must be killed mid-run"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.wait()
    assert not out.exists()
    assert search.main(["run", "--resume", str(out)]) == 0
    rows = report.read_csv(out / "evaluations.csv")
    assert len(rows) == TRIALS and len({r["trial_id"] for r in rows}) == TRIALS  # nothing lost or repeated
    assert all(r["status"] == "complete" for r in rows)
    after = {d.name: (d / "result.json").read_text() for d in (out / "tune").glob("_trial_*")}
    for name, text in before.items():
        assert after[name] == text, f"{name} was run again"

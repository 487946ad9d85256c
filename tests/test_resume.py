from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import search
import seknet
from seknet.core import fileio, latency_table
from tests.conftest import ROOT

TRIALS = 6
EPOCHS = 2


def _recorded_finished(tune_dir) -> dict[str, str]:
    """{trial folder: result.json text} of the trials the driver's saved experiment state records as finished.

    What a resume keeps is what that file says, so the test waits on it, not on a sleep.
    """
    states = sorted(tune_dir.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    try:
        trials = [json.loads(t) for t, _ in json.loads(states[-1].read_text())["trial_data"]] if states else []
    except (OSError, ValueError):  # the driver is writing it: read it on the next poll
        return {}
    done = {t["trial_id"] for t in trials if t["status"] == "TERMINATED"}
    return {
        d.name: (d / "result.json").read_text()
        for d in tune_dir.glob("standalone_trial_*")
        if any(f"_{i}_" in d.name for i in done)
    }


@pytest.mark.slow
def test_kill_minus_9_then_resume_keeps_finished_trials(tmp_path):
    """After kill -9 mid-search and --resume, every finished trial is kept as it was and none runs twice."""
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "search.py",
        "run",
        "--mode",
        "multitrial",
        "--smoke",
        "--no-progress",
        "--sampler",
        "random",
        "--trials",
        str(TRIALS),
        "--epochs",
        str(EPOCHS),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tune_dir = out.with_name(f".{out.name}.partial") / "tune"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(_recorded_finished(tune_dir)) < 2:
            time.sleep(0.5)
        before = _recorded_finished(tune_dir)
        assert 2 <= len(before) < TRIALS, "the search must be killed mid-run"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.wait()
    assert not out.exists()
    assert search.main(["run", "--resume", str(out)]) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert len(rows) == TRIALS and len({r["trial_id"] for r in rows}) == TRIALS  # nothing lost or repeated
    assert all(r["status"] == "complete" for r in rows)
    after = {d.name: (d / "result.json").read_text() for d in (out / "tune").glob("standalone_trial_*")}
    for name, text in before.items():
        assert after[name] == text, f"{name} was run again"


@pytest.mark.slow
def test_a_resumed_latency_search_uses_the_table_it_started_with(tmp_path, monkeypatch):
    """A latency-objective multitrial run killed mid-search and resumed reads its saved latency.yaml: it measures no
    new table (measuring is made to fail here), and every latency_ms is that table's prediction."""
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "search.py",
        "run",
        "--mode",
        "multitrial",
        "--smoke",
        "--no-progress",
        "--objective",
        "latency",
        "--sampler",
        "random",
        "--trials",
        str(TRIALS),
        "--epochs",
        str(EPOCHS),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    tune_dir = out.with_name(f".{out.name}.partial") / "tune"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and len(_recorded_finished(tune_dir)) < 1:
            time.sleep(0.5)
        assert 1 <= len(_recorded_finished(tune_dir)) < TRIALS, "the search must be killed mid-run"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = yaml.safe_load((tune_dir.parent / "latency.yaml").read_text())

    def no_new_table(*args, **kwargs):
        raise AssertionError("a resumed run measured a new latency table")

    monkeypatch.setattr("seknet.engine.latency.measure_table", no_new_table)
    assert search.main(["run", "--resume", str(out)]) == 0
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    for r in fileio.read_csv(out / "evaluations.csv"):
        assert float(r["latency_ms"]) == round(latency_table.predict(saved, space.parse(r["arch"])), 4)


def _trained_epochs(partial) -> int:
    from seknet.engine.train import checkpoint_epochs

    return checkpoint_epochs(partial / "checkpoint.pt")


def _scored_subtrees(partial) -> int:
    return len(list((partial / "scored" / "slice").glob("*.pt")))


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage,progress,goal",
    [("training", _trained_epochs, 2), ("scoring", _scored_subtrees, 2)],
)
def test_kill_minus_9_then_resume_equals_an_uninterrupted_oneshot_run(stage, progress, goal, tmp_path):
    """A one-shot run killed (-9) mid-training or mid-scoring and continued with --resume trains only the epochs
    its checkpoint lacks, scores only the subtrees not yet saved, and writes the supernet.pt, train losses and
    evaluations.csv of an uninterrupted run (CPU)."""
    import torch
    import yaml

    args = ["--smoke", "--no-progress", "--epochs", "6", "--max-macs", "6.3M"]
    whole = tmp_path / "whole"
    assert search.main([*args, "--out", str(whole)]) == 0
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "search.py", *args, "--out", str(out)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = out.with_name(f".{out.name}.partial")
    deadline = time.time() + 240
    try:
        while time.time() < deadline and progress(partial) < goal:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    epochs, subtrees = _trained_epochs(partial), _scored_subtrees(partial)
    assert not out.exists(), f"the run must be killed mid-{stage}"
    assert (2 <= epochs < 6) if stage == "training" else (epochs == 6 and 2 <= subtrees < 8)
    assert search.main(["run", "--resume", str(out)]) == 0
    got, want = (yaml.safe_load((d / "config.yaml").read_text()) for d in (out, whole))
    assert got["resumed_from_epoch"] == epochs and got["train_loss"] == want["train_loss"]
    a, b = (torch.load(d / "supernet.pt", weights_only=True) for d in (out, whole))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "evaluations.csv").read_text() == (whole / "evaluations.csv").read_text()
    assert not (out / "checkpoint.pt").exists() and not (out / "scored").exists()

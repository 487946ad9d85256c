"""The fault suite: bad input and damaged files give one line and exit 2 and write nothing; faults lose no rows.

Each case of ``CASES`` builds its damage in a fresh copy of a finished smoke run (or a fake interrupted
search) and calls ``search.main``: an unexpected exception fails the test (it would be a traceback in a
shell). The slow cases interrupt, kill and inject faults into real runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import search
from seknet.core import fileio
from tests.conftest import ROOT

SPACE = ROOT / "search_space" / "digits.yaml"


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime: what a refused command must leave as it was."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _append_row(path: Path, extra: str) -> None:
    """Repeat the last row of CSV ``path`` with ``extra`` cells after it."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[-1] + extra]) + "\n")


def _replace_cell(path: Path, column: str, value: str, row: int = 0) -> None:
    rows = fileio.read_csv(path)
    columns = list(rows[0])
    rows[row][column] = value
    fileio.write_csv(path, rows, columns)


def _fake_partial(tmp: Path, config: object, tune: bytes | None = b"garbage") -> Path:
    """A hidden .run.partial folder as an interrupted multitrial search leaves it; returns the run path."""
    partial = tmp / ".mt.partial"
    partial.mkdir()
    (partial / "config.yaml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    if tune is not None:
        (partial / "tune").mkdir()
        (partial / "tune" / "experiment_state-0.json").write_bytes(tune)
    return tmp / "mt"


MT_CONFIG = {
    "mode": "multitrial",
    "config": {"space": str(SPACE), "data": "digits", "smoke": True, "trials": 2},
}

# (case id, setup(tmp, run) -> argv, message the one line must contain)
CASES = [
    (
        "space-missing",
        lambda t, r: ["flops", "--space", str(t / "no.yaml"), "--all"],
        "no such space file",
    ),
    (
        "space-syntax",
        lambda t, r: (t / "s.yaml").write_text("name: [x\n") and ["flops", "--space", str(t / "s.yaml"), "--all"],
        "malformed YAML",
    ),
    (
        "space-not-mapping",
        lambda t, r: (t / "s.yaml").write_text("- 1\n- 2\n") and ["flops", "--space", str(t / "s.yaml"), "--all"],
        "s.yaml",
    ),
    (
        "space-unknown-key",
        lambda t, r: (
            (t / "s.yaml").write_text(SPACE.read_text() + "colour: red\n")
            and ["flops", "--space", str(t / "s.yaml"), "--all"]
        ),
        "colour",
    ),
    (
        "space-bad-width",
        lambda t, r: (
            (t / "s.yaml").write_text(SPACE.read_text().replace("width: 48", "width: -4"))
            and ["flops", "--space", str(t / "s.yaml"), "--all"]
        ),
        "width",
    ),
    ("arch-bad-choice", lambda t, r: ["flops", "--arch", "se5-none-none-none"], "se5"),
    ("arch-too-few-stages", lambda t, r: ["flops", "--arch", "none-none"], "4 stages"),
    (
        "export-config-space-damaged",
        lambda t, r: (
            _edit(r / "config.yaml", "space:\n", "space: 7\nold_space:\n") or ["export", str(r), "--max-macs", "7M"]
        ),
        "config.yaml",
    ),
    ("flops-no-arch", lambda t, r: ["flops"], "exactly one of --arch"),
    (
        "run-budget-too-small",
        lambda t, r: ["run", "--smoke", "--out", str(t / "x"), "--max-macs", "1M"],
        "below the smallest arch",
    ),
    (
        "run-budget-not-a-number",
        lambda t, r: ["run", "--out", str(t / "x"), "--max-macs", "lots"],
        "invalid MAC count",
    ),
    ("run-unknown-data", lambda t, r: ["run", "--data", "mnist"], "invalid choice"),
    ("run-slice-zero", lambda t, r: ["run", "--slice", "0"], "must be in (0, 1]"),
    (
        "run-space-data-mismatch",
        lambda t, r: [
            "run",
            "--smoke",
            "--out",
            str(t / "x"),
            "--space",
            str(ROOT / "search_space" / "cifar10.yaml"),
        ],
        "pick a matching --space",
    ),
    (
        "run-oneshot-sampler-for-multitrial",
        lambda t, r: ["run", "--smoke", "--out", str(t / "x"), "--sampler", "nsga2"],
        "unknown --sampler",
    ),
    ("run-strategy-without-nni", lambda t, r: ["run", "--strategy", "tpe"], "add --backend nni"),
    (
        "run-multitrial-init-without-supernet",
        lambda t, r: [
            "run",
            "--mode",
            "multitrial",
            "--smoke",
            "--out",
            str(t / "x"),
            "--init",
            "supernet",
        ],
        "needs --supernet",
    ),
    (
        "run-out-not-empty",
        lambda t, r: ["run", "--smoke", "--out", str(r)],
        "already exists and is not empty",
    ),
    (
        "run-address-malformed",
        lambda t, r: ["run", "--smoke", "--out", str(t / "x"), "--address", "nohost"],
        "expected HOST:PORT",
    ),
    (
        "run-address-nothing-there",
        lambda t, r: ["run", "--smoke", "--out", str(t / "x"), "--address", "127.0.0.1:9"],
        "no Ray head answers there",
    ),
    (
        "run-supernet-damaged",
        lambda t, r: (
            (r / "supernet.pt").write_bytes(b"PK\x03\x04 not a zip")
            and [
                "run",
                "--mode",
                "multitrial",
                "--smoke",
                "--out",
                str(t / "x"),
                "--init",
                "supernet",
                "--supernet",
                str(r),
            ]
        ),
        "not a readable state dict",
    ),
    (
        "resume-nothing-there",
        lambda t, r: ["run", "--resume", str(t / "mt")],
        "no interrupted search there",
    ),
    ("resume-finished-run", lambda t, r: ["run", "--resume", str(r)], "already finished"),
    (
        "resume-config-syntax",
        lambda t, r: ["run", "--resume", str(_fake_partial(t, "config: {space: [\n"))],
        "malformed YAML",
    ),
    (
        "resume-config-not-a-run",
        lambda t, r: ["run", "--resume", str(_fake_partial(t, "- a list\n"))],
        "not a seknet run config",
    ),
    (
        "resume-config-unknown-setting",
        lambda t, r: [
            "run",
            "--resume",
            str(_fake_partial(t, MT_CONFIG | {"config": MT_CONFIG["config"] | {"colour": 1}})),
        ],
        "unknown setting(s) colour",
    ),
    (
        "resume-config-bad-value",
        lambda t, r: [
            "run",
            "--resume",
            str(_fake_partial(t, MT_CONFIG | {"config": MT_CONFIG["config"] | {"sampler": "x"}})),
        ],
        "unknown --sampler",
    ),
    (
        "resume-tune-state-damaged",
        lambda t, r: ["run", "--resume", str(_fake_partial(t, MT_CONFIG))],
        "cannot be restored",
    ),
    (
        "export-not-a-run",
        lambda t, r: ["export", str(t), "--max-macs", "7M"],
        "not a finished run folder",
    ),
    (
        "export-row-bad-number",
        lambda t, r: _replace_cell(r / "evaluations.csv", "macs", "abc") or ["export", str(r), "--max-macs", "7M"],
        "macs is 'abc', not an integer",
    ),
    (
        "export-row-bad-accuracy",
        lambda t, r: _replace_cell(r / "evaluations.csv", "accuracy", "nan") or ["export", str(r), "--max-macs", "7M"],
        "accuracy is 'nan', not a number",
    ),
    (
        "export-row-truncated",
        lambda t, r: (
            (r / "evaluations.csv").write_text(
                "\n".join((r / "evaluations.csv").read_text().splitlines()[:5] + ["sk2-sk2-sk2-sk2,1"])
            )
            and ["export", str(r), "--max-macs", "7M"]
        ),
        "macs is None",
    ),
    (
        "export-row-extra-cells",
        lambda t, r: _append_row(r / "evaluations.csv", ",9,9") or ["export", str(r), "--max-macs", "7M"],
        "more cells than columns",
    ),
    (
        "export-column-missing",
        lambda t, r: _edit(r / "evaluations.csv", "macs", "mac") or ["export", str(r), "--max-macs", "7M"],
        "no column macs",
    ),
    (
        "export-complete-row-without-accuracy",
        lambda t, r: _replace_cell(r / "evaluations.csv", "accuracy", "") or ["export", str(r), "--max-macs", "7M"],
        "a complete arch without macs",
    ),
    (
        "export-config-syntax",
        lambda t, r: (r / "config.yaml").write_text("config: [\n") and ["export", str(r), "--max-macs", "7M"],
        "malformed YAML",
    ),
    (
        "export-config-not-a-run",
        lambda t, r: (r / "config.yaml").write_text("42\n") and ["export", str(r), "--max-macs", "7M"],
        "not a seknet run config",
    ),
    (
        "export-config-unknown-setting",
        lambda t, r: (
            _edit(r / "config.yaml", "config:\n", "config:\n  colour: 1\n")
            or ["export", str(r), "--max-macs", "7M", "--weights", "--out", str(t / "e.yaml")]
        ),
        "unknown setting(s) colour",
    ),
    (
        "export-weights-corrupt",
        lambda t, r: (
            (r / "supernet.pt").write_bytes(b"\x00" * 64)
            and ["export", str(r), "--max-macs", "7M", "--weights", "--out", str(t / "e.yaml")]
        ),
        "not a readable state dict",
    ),
    (
        "export-weights-truncated",
        lambda t, r: (
            (r / "supernet.pt").write_bytes((r / "supernet.pt").read_bytes()[:4000])
            and ["export", str(r), "--max-macs", "7M", "--weights", "--out", str(t / "e.yaml")]
        ),
        "not a readable",
    ),
    (
        "export-weights-other-space",
        lambda t, r: (
            _other_space_weights(r) or ["export", str(r), "--max-macs", "7M", "--weights", "--out", str(t / "e.yaml")]
        ),
        "does not fit this run",
    ),
    (
        "export-out-folder-missing",
        lambda t, r: ["export", str(r), "--max-macs", "7M", "--out", str(t / "nowhere" / "e.yaml")],
        "does not exist",
    ),
    ("export-budget-zero", lambda t, r: ["export", str(r), "--max-macs", "0"], "must be positive"),
    (
        "retrain-csv-damaged",
        lambda t, r: (
            _retrain_files(
                r,
                "arch,macs,params,run_accuracy,seed,accuracy,n_eval,status"
                "\nnone-none-none-none,1,1,0.5,x,0.5,10,complete\n",
            )
            or ["retrain", str(r), "--epochs", "1", "--seeds", "1"]
        ),
        "seed is 'x', not an integer",
    ),
    (
        "retrain-ledger-damaged",
        lambda t, r: (
            _retrain_ledger(r, "arch,seed,epochs\nnone-none-none-none,0,x\n")
            or ["retrain", str(r), "--epochs", "1", "--seeds", "1"]
        ),
        "trainings.csv: damaged ledger of trainings",
    ),
    (
        "retrain-yaml-damaged",
        lambda t, r: (
            _retrain_files(r, "arch\n", yaml_text="epochs: [1\n")
            or ["retrain", str(r), "--epochs", "1", "--seeds", "1"]
        ),
        "malformed YAML",
    ),
    (
        "retrain-not-a-run",
        lambda t, r: ["retrain", str(t), "--epochs", "1"],
        "not a finished run folder",
    ),
]


def _other_space_weights(run: Path) -> None:
    import torch

    import seknet
    from seknet.nn.supernet import Supernet

    net = Supernet(seknet.load_space(ROOT / "search_space" / "cifar10.yaml"))
    torch.save(net.state_dict(), run / "supernet.pt")


def _retrain_ledger(run: Path, csv_text: str) -> None:
    (run / "retrain_tune").mkdir()
    (run / "retrain_tune" / "trainings.csv").write_text(csv_text)


def _retrain_files(run: Path, csv_text: str, yaml_text: str = "epochs: 1\n") -> None:
    (run / "retrain.csv").write_text(csv_text)
    (run / "retrain.yaml").write_text(yaml_text)


@pytest.mark.parametrize("case,setup,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(case, setup, message, smoke_run, tmp_path, capsys):
    """Each bad input or damaged file: exit 2, one line on stderr naming the problem, no file written or changed."""
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    argv = setup(tmp_path, run)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert search.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err, err
    assert err.count("\n") == 0 and "Traceback" not in err
    assert _snapshot(tmp_path) == before  # nothing new, nothing changed (and no .partial left behind)


def test_fault_suite_covers_at_least_30_inputs():
    """The suite's own promise (benchmarks/README.md quotes it): at least 30 distinct bad inputs and damaged files."""
    assert len({c[0] for c in CASES}) == len(CASES) >= 30


def test_atomic_writes_keep_the_umask_mode(tmp_path):
    """A result file gets the mode the umask gives a new file (0644 under 022, 0664 under 002), not the temp's 0600."""
    for mask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        old = os.umask(mask)
        try:
            fileio.write_atomic(tmp_path / "f.txt", "x")
        finally:
            os.umask(old)
        assert (tmp_path / "f.txt").stat().st_mode & 0o777 == mode


def test_run_files_are_readable_by_the_group_under_umask_022(smoke_run):
    """Every file of a finished run is world-readable under the usual umask 022 (a team can share a results folder)."""
    old = os.umask(0o022)
    os.umask(old)
    if old != 0o022:
        pytest.skip(f"the test process runs under umask {old:o}")
    for p in smoke_run.iterdir():
        assert p.stat().st_mode & 0o044 == 0o044, p


@pytest.mark.slow
def test_diverging_run_gives_one_line_and_stays_partial(tmp_path, capsys):
    """run --lr 1e6 diverges: one line naming the epoch and the fix, exit 2, the run folder stays .partial."""
    out = tmp_path / "run"
    assert search.main(["--smoke", "--no-progress", "--out", str(out), "--lr", "1e6", "--max-macs", "6.3M"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "training diverged" in err and "at epoch 1" in err and "lower --lr" in err
    assert not out.exists() and (tmp_path / ".run.partial").is_dir()


def _sigint_default() -> None:
    """In the child before exec: SIGINT back to its default, so Python turns it into KeyboardInterrupt. A job
    started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and Python then
    leaves it ignored: the interrupt tests would hang, not test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ray_processes(parent: int) -> set[int]:
    """PIDs of the raylet and GCS server that ``parent`` started (other Ray instances, from other tests or jobs
    on the machine, may come and go meanwhile: they are not counted)."""
    import psutil

    return {p.pid for p in psutil.Process(parent).children(recursive=True) if p.name() in ("raylet", "gcs_server")}


def _alive(pids: set[int]) -> set[int]:
    import psutil

    return {pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}


@pytest.mark.slow
@pytest.mark.parametrize("when", ["train", "score"])
def test_sigint_gives_one_line_shuts_ray_down_and_leaves_partial(when, tmp_path):
    """SIGINT while the supernet trains or while Ray scores: exit 130, one line, Ray's processes gone, .partial kept."""
    out = tmp_path / "run"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    argv = [
        sys.executable,
        "search.py",
        "--smoke",
        "--out",
        str(out),
        "--epochs",
        "3" if when == "train" else "1",
    ]
    p = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    partial = tmp_path / ".run.partial"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None:  # train: the .partial folder exists; score: supernet.pt too
        if partial.is_dir() and (when == "train" or (partial / "supernet.pt").is_file() and _ray_processes(p.pid)):
            break
        time.sleep(0.05)
    time.sleep(2.0 if when == "score" else 0.5)
    assert p.poll() is None, "the run ended before it could be interrupted"
    started = _ray_processes(p.pid)  # the run's own Ray (none while it trains in process)
    assert when == "train" or started, "the run's Ray must be up while it scores"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted:")
    assert partial.is_dir() and not out.exists()
    time.sleep(3)
    assert not _alive(started), "Ray's processes outlived the interrupted run"


@pytest.mark.slow
def test_kill_9_of_a_scoring_worker_loses_nothing(smoke_run, tmp_path):
    """kill -9 of a Ray worker amid scoring: Ray retries its task; evaluations.csv equals the clean run's bytes."""
    import psutil

    killed = []

    def killer() -> None:
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for proc in psutil.process_iter(["cmdline"]):
                if "_score_task" in " ".join(proc.info["cmdline"] or []):
                    proc.send_signal(signal.SIGKILL)
                    killed.append(proc.pid)
                    return
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "run"
    assert search.main(["--smoke", "--no-progress", "--out", str(out), "--max-macs", "6.3M"]) == 0
    thread.join(timeout=1)
    assert killed, "no scoring worker was seen to kill"
    assert (out / "evaluations.csv").read_bytes() == (smoke_run / "evaluations.csv").read_bytes()


@pytest.mark.slow
def test_trial_that_raises_mid_training_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    """A trial that raises after its first epoch is kept as failed with the reason; the other trials complete."""
    from seknet.engine.standalone import FAULT_ENV

    monkeypatch.setenv(FAULT_ENV, "sk2-sk2-sk2-sk3:1")
    out = tmp_path / "run"
    argv = [
        "run",
        "--mode",
        "multitrial",
        "--sampler",
        "grid",
        "--trials",
        "3",
        "--epochs",
        "2",
        "--max-macs",
        "5.9M",
        "--smoke",
        "--no-progress",
        "--out",
        str(out),
    ]  # the 3 cheapest archs
    assert search.main(argv) == 0
    rows = {r["arch"]: r for r in fileio.read_csv(out / "evaluations.csv")}
    assert rows["sk2-sk2-sk2-sk3"]["status"] == "failed"
    assert "injected fault after epoch 1" in rows["sk2-sk2-sk2-sk3"]["error"]
    assert rows["sk2-sk2-sk2-sk2"]["status"] == rows["sk2-sk2-sk3-sk2"]["status"] == "complete"


@pytest.mark.slow
def test_sigint_during_a_multitrial_search_leaves_it_resumable(tmp_path):
    """SIGINT amid a multitrial search: exit 130, no finished run written from unfinished trials, and --resume
    completes every trial (Ray Tune's own SIGINT handler would have returned the unfinished trials as results)."""
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
        "6",
        "--epochs",
        "2",
        "--out",
        str(out),
    ]
    p = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )
    partial = tmp_path / ".run.partial"
    deadline = time.time() + 240
    while time.time() < deadline and p.poll() is None and not list(partial.glob("tune/*/result.json")):
        time.sleep(0.1)  # a trial has started reporting
    assert p.poll() is None, "the search ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=180)
    assert p.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted:") and not out.exists() and partial.is_dir()
    assert search.main(["run", "--resume", str(out), "--no-progress"]) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert len(rows) == 6 and all(r["status"] == "complete" and r["epochs_trained"] == "2" for r in rows)

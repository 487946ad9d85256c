"""study.db (seknet.runs.study) and `seknet dashboard` (seknet.runs.dashboard): a run read back through Optuna's
own API is the run, and the dashboard refuses bad input in one line without touching the run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

import search
from seknet.core import fileio
from seknet.runs.dashboard import Follow, storage_for, viewer
from seknet.runs.rows import front_rows
from seknet.runs.study import STUDY_FILE, add_live_trial, live_curves, sqlite_storage, trials_of, write_study
from tests.conftest import ROOT

CHOICES = ["none", "se16", "sk2"]


def _rows() -> list[dict]:
    """Five one-shot rows: four scored on 100 images (one tie), one dropped by halving after 50."""
    base = {"acc_low": "0.1", "acc_high": "0.9", "params": "10", "attn_ops": "0", "on_front": "0"}
    spec = [
        ("none-none", "0.80", "100", "100"),
        ("se16-none", "0.85", "110", "100"),
        ("sk2-none", "0.85", "110", "100"),  # the same point as se16-none: both on Optuna's front
        ("sk2-sk2", "0.70", "120", "100"),  # dominated
        ("none-sk2", "0.95", "90", "50"),  # slice only: pruned, never on a front
    ]
    return [base | {"arch": a, "accuracy": acc, "macs": m, "n_eval": n} for a, acc, m, n in spec]


def _load(path, name="run") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{path}")


def _view(path, name="run") -> optuna.Study:
    """Study ``name`` of ``path`` read as the dashboard reads it (no table creation), as a running run writes it."""
    return optuna.load_study(study_name=name, storage=sqlite_storage(path, skip_table_creation=True))


def test_a_study_holds_every_row_with_its_state_and_best_trials_are_the_front(tmp_path):
    """Fully scored archs are COMPLETE with (accuracy, MACs), a halving-dropped one PRUNED with its slice accuracy as
    an intermediate value; best_trials is the front, plus archs with exactly the same values; decisions become
    attributes; the file is written whole (no temporary file is left)."""
    rows = _rows()
    decisions = [{"budget": "110", "pick": "se16-none", "indifference": "se16-none sk2-none"}]
    path = write_study(tmp_path / STUDY_FILE, {"run": (trials_of(rows, "macs", decisions), "macs", CHOICES)})
    study = _load(path)
    by_arch = {t.user_attrs["arch"]: t for t in study.trials}
    assert len(study.trials) == 5 and study.directions[0].name == "MAXIMIZE"
    assert by_arch["none-sk2"].state.name == "PRUNED" and by_arch["none-sk2"].intermediate_values == {0: 0.95}
    assert by_arch["se16-none"].values == [0.85, 110.0] and by_arch["se16-none"].params == {
        "stage0": "se16",
        "stage1": "none",
    }
    assert by_arch["se16-none"].user_attrs["pick_under"] == [110.0]
    assert by_arch["sk2-none"].user_attrs["indifferent_under"] == [110.0]
    best = {t.user_attrs["arch"] for t in study.best_trials}
    front = {r["arch"] for r in front_rows(rows, "macs")}
    assert front == {"none-none", "se16-none"} and best == front | {"sk2-none"}
    assert [p.name for p in tmp_path.iterdir()] == [STUDY_FILE]


def test_failed_trials_are_fail_with_their_reason_even_without_an_arch(tmp_path):
    """A multi-trial row that failed (with or without the arch it was given) is a FAIL trial carrying its error."""
    rows = [
        {"arch": "se16-none", "accuracy": "0.8", "macs": "100", "n_eval": "50", "status": "complete", "error": ""},
        {"arch": "sk2-none", "accuracy": "", "macs": "90", "n_eval": "", "status": "failed", "error": "boom"},
        {"arch": "", "accuracy": "", "macs": "", "n_eval": "", "status": "failed", "error": "no arch"},
    ]
    study = _load(write_study(tmp_path / STUDY_FILE, {"run": (trials_of(rows, "macs"), "macs", CHOICES)}))
    states = [(t.state.name, t.params, t.user_attrs.get("error")) for t in study.trials]
    assert states[1:] == [("FAIL", {"stage0": "sk2", "stage1": "none"}, "boom"), ("FAIL", {}, "no arch")]


def test_a_live_trial_is_added_once_with_its_curve_and_the_final_write_keeps_the_curve(tmp_path):
    """add_live_trial adds a finished trial with its per-epoch accuracy as intermediate values, skips a second copy
    of the same Tune trial (a resumed run reruns one that finished after the last save), and the final study,
    written from the rows, carries the curves live_curves read back (keyed by trial_id, which stays text)."""
    path = tmp_path / STUDY_FILE
    row = {"arch": "se16-none", "accuracy": "0.8", "macs": "100", "n_eval": "50", "status": "complete"}
    row |= {"trial_id": "12345_00001", "error": ""}
    trial = trials_of([row], "macs")[0] | {"intermediate": {1: 0.5, 2: 0.8}}
    assert add_live_trial(path, "run", "macs", CHOICES, trial)
    assert not add_live_trial(path, "run", "macs", CHOICES, trial)
    (live,) = _load(path).trials
    assert live.state.name == "COMPLETE" and live.values == [0.8, 100.0]
    for tune_id in ("67393770", "12e45678", "12345_00001"):  # ids a searcher or a grid gives: never numbers
        assert trials_of([row | {"trial_id": tune_id}], "macs")[0]["attrs"]["trial_id"] == tune_id
    assert live.intermediate_values == {1: 0.5, 2: 0.8} and live.user_attrs["trial_id"] == "12345_00001"
    assert _load(path).metric_names == ["accuracy", "macs"]
    curves = live_curves(path)
    assert curves == {"12345_00001": {1: 0.5, 2: 0.8}}
    (final,) = _load(write_study(path, {"run": (trials_of([row], "macs", (), curves), "macs", CHOICES)})).trials
    assert final.intermediate_values == {1: 0.5, 2: 0.8}


def _first_finished(p: subprocess.Popen, live, seconds: float) -> list:
    """The COMPLETE trials of the live study ``live`` as soon as one appears while the run ``p`` still goes (empty
    when none does within ``seconds`` or before the run ends)."""
    deadline = time.time() + seconds
    while time.time() < deadline and p.poll() is None:
        try:
            done = [t for t in _view(live).trials if t.state.name == "COMPLETE"] if live.is_file() else []
        except KeyError:  # the file is there, its study not yet: the first trial is being added
            done = []
        if done:
            return done
        time.sleep(0.5)
    return []


def _api_trials(app) -> list[dict]:
    """The trials optuna-dashboard's JSON API gives of the only study ``app`` serves, asked in-process (WSGI)."""
    import json
    from wsgiref.util import setup_testing_defaults

    def get(path: str) -> dict:
        env: dict = {"PATH_INFO": path}
        setup_testing_defaults(env)
        return json.loads(b"".join(app(env, lambda status, headers, exc_info=None: None)))

    (study,) = get("/api/studies")["study_summaries"]
    return get(f"/api/studies/{study['study_id']}")["trials"]


def _open_while_absent_then_present(path, stop) -> None:
    """Open ``path`` as Optuna's default storage (which creates missing tables) over and over until ``stop``."""
    while not stop.is_set():
        if path.is_file():
            try:
                storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
                storage.engine.dispose()
            except Exception:  # noqa: BLE001 - the reader's own failure is not what this test is about
                pass


def test_a_live_study_appears_whole_so_a_reader_opening_it_never_breaks_the_first_write(tmp_path):
    """A reader (a dashboard, a test) that opens the live study.db while the run creates it cannot make the run's
    first write fail: the file appears with its tables, its study and metric names at once, and no build file is
    left beside it. (Optuna builds its tables in several transactions; a reader that saw the file half made tried to
    build them too, and in 16 of 30 such races one of the two failed.)"""
    import multiprocessing

    row = {"arch": "se16-none", "accuracy": "0.8", "macs": "100", "n_eval": "50", "status": "complete"}
    trial = trials_of([row | {"trial_id": "1", "error": ""}], "macs")[0]
    ctx = multiprocessing.get_context("fork")
    for i in range(8):
        path = tmp_path / str(i) / STUDY_FILE
        path.parent.mkdir()
        stop = ctx.Event()
        reader = ctx.Process(target=_open_while_absent_then_present, args=(path, stop))
        reader.start()
        try:
            assert add_live_trial(path, "run", "macs", CHOICES, trial)
        finally:
            stop.set()
            reader.join()
        assert [p.name for p in path.parent.iterdir()] == [STUDY_FILE]
        assert len(_load(path).trials) == 1 and _load(path).metric_names == ["accuracy", "macs"]


def test_a_dashboard_on_a_live_run_switches_to_its_recorded_study_once_it_finishes(tmp_path):
    """Follow serves a run still going from .RUN.partial/study.db and, at the first request after the folder is
    renamed into place, from RUN/study.db; it builds each app once."""
    run, partial = tmp_path / "run", tmp_path / ".run.partial"
    partial.mkdir()
    (partial / STUDY_FILE).write_bytes(b"")
    made = []

    def make_app(path: Path):
        made.append(path)
        return lambda environ, start_response: [str(path).encode()]

    app = Follow(run, make_app)
    assert app({}, None) == [str((partial / STUDY_FILE).resolve()).encode()]
    partial.rename(run)  # what record does last
    final = str((run / STUDY_FILE).resolve()).encode()
    assert app({}, None) == [final] and app({}, None) == [final] and len(made) == 2
    with pytest.raises(ValueError, match="not a run still going"):
        Follow(tmp_path / "other", make_app)


@pytest.mark.slow
def test_a_multitrial_run_viewed_while_it_runs_shows_its_finished_trials_and_curves(tmp_path):
    """While `search.py run --mode multitrial` runs in a new process, its .partial/study.db gains each finished
    trial with one accuracy per epoch (the dashboard serves that file for the unfinished run, and the same
    dashboard app serves the recorded study once the run finishes), and the finished run's study keeps every
    trial's curve, its last point the trial's accuracy."""
    out = tmp_path / "run"
    argv = [sys.executable, "search.py", "run", "--mode", "multitrial", "--smoke", "--no-progress"]
    argv += ["--sampler", "random", "--trials", "4", "--epochs", "2", "--out", str(out)]
    p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    live = tmp_path / ".run.partial" / STUDY_FILE
    seen = _first_finished(p, live, 300)
    running = p.poll() is None
    served = storage_for([out], tmp_path) if running else ""
    app = Follow(out, viewer) if running else None
    while_going = _api_trials(app) if running else []
    said, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    assert "not added to the live study" not in said, said[-2000:]  # the dashboard's reads made no write fail
    assert running and seen, "no finished trial appeared in the study while the run was going"
    assert served == live.resolve()
    assert 1 <= len(while_going) <= 4 and len(_api_trials(app)) == 4  # the same app, now on the recorded study
    assert sorted(seen[0].intermediate_values) == [1, 2]
    assert seen[0].values[0] == pytest.approx(seen[0].intermediate_values[2], abs=1e-6)
    study = _load(out / STUDY_FILE, "run")
    rows = {r["trial_id"]: r for r in fileio.read_csv(out / "evaluations.csv")}
    assert len(study.trials) == len(rows) == 4
    for t in study.trials:
        assert sorted(t.intermediate_values) == [1, 2]
        assert t.intermediate_values[2] == pytest.approx(float(rows[t.user_attrs["trial_id"]]["accuracy"]), abs=1e-6)


@pytest.mark.slow
def test_a_verify_run_shows_its_stand_alone_trainings_in_the_study_as_they_finish(tmp_path):
    """`search.py run --verify` in a new process: while its stand-alone trainings run, each finished one is a trial
    of the run's .partial/study.db; the finished run's study then holds the verified archs (its best trials are
    pareto.csv)."""
    import yaml

    from tests.test_verify import TINY

    space = tmp_path / "tiny.yaml"  # 2 stages: the 9 archs of its factorial fit the placement
    space.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    argv = [sys.executable, "search.py", "run", "--smoke", "--no-progress", "--verify", "--verify-epochs", "1"]
    argv += ["--space", str(space), "--out", str(out)]
    p = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    live = tmp_path / ".run.partial" / STUDY_FILE
    seen = _first_finished(p, live, 600)
    _, err = p.communicate(timeout=900)
    assert p.returncode == 0, err[-2000:]
    assert seen, "no finished training appeared in the study while the run was going"
    assert seen[0].user_attrs["epochs_trained"] == 1 and 0 <= seen[0].values[0] <= 1
    study = _load(out / STUDY_FILE, "run")
    pareto = {(float(r["accuracy"]), float(r["macs"])) for r in fileio.read_csv(out / "pareto.csv")}
    assert {tuple(t.values) for t in study.best_trials} == pareto


def test_the_smoke_run_writes_a_study_whose_best_trials_are_its_pareto_csv(smoke_run):
    """A one-shot run's study.db, read through Optuna: one trial per evaluated arch, best_trials = pareto.csv (up to
    exactly equal points)."""
    study = _load(smoke_run / STUDY_FILE, smoke_run.name)
    rows = fileio.read_csv(smoke_run / "evaluations.csv")
    pareto = {r["arch"]: (float(r["accuracy"]), float(r["macs"])) for r in fileio.read_csv(smoke_run / "pareto.csv")}
    best = {t.user_attrs["arch"]: tuple(t.values) for t in study.best_trials}
    assert len(study.trials) == len(rows)
    assert set(pareto) <= set(best) and set(best.values()) == set(pareto.values())


def test_dashboard_refuses_a_missing_run_a_damaged_one_and_a_port_in_use(tmp_path, smoke_run, capsys):
    """One line and exit 2 each; the damaged run is left exactly as it was (no study.db written into it)."""
    assert search.main(["dashboard", str(tmp_path / "nowhere")]) == 2
    assert "not a finished run folder" in capsys.readouterr().err
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for f in ("config.yaml", "evaluations.csv"):
        (damaged / f).write_bytes((smoke_run / f).read_bytes())
    (damaged / "evaluations.csv").write_text("arch,macs\nse16-none-none-none,not-a-number\n")
    before = sorted(p.name for p in damaged.iterdir())
    assert search.main(["dashboard", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert "evaluations.csv" in err and err.count("\n") == 1
    assert sorted(p.name for p in damaged.iterdir()) == before
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert search.main(["dashboard", str(smoke_run), "--port", str(port)]) == 2
    assert f"--port {port}" in capsys.readouterr().err


@pytest.mark.slow
def test_dashboard_serves_each_run_as_a_study_over_its_json_api(smoke_run, tmp_path):
    """benchmarks.dashboard_browser on two runs, as a user runs it: `search.py dashboard RUN RUN2` in a new
    process lists one study per run over the JSON API, each study's trials and best trials match its run's files
    (and, where Chromium is installed, the page renders them), and Ctrl-C stops the server cleanly; the runs are
    served from a temporary storage, so nothing is written into the second run."""
    second = tmp_path / "second"
    second.mkdir()
    for f in ("config.yaml", "evaluations.csv", "pareto.csv", "decisions.csv"):
        (second / f).write_bytes((smoke_run / f).read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.dashboard_browser", str(smoke_run), str(second)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"JSON: study {smoke_run.name}" in done.stdout and "JSON: study second" in done.stdout
    assert "server: exit 0 after Ctrl-C" in done.stdout
    assert not (second / STUDY_FILE).exists()


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} of the TensorBoard event files under ``folder`` (the record format read by hand:
    length, its CRC, the Event proto, its CRC)."""
    import struct

    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_the_smoke_run_writes_the_supernets_curve_for_tensorboard(smoke_run):
    """RUN/tb/supernet holds one train_loss and one train_accuracy per epoch equal to config.yaml's, and the cosine
    learning rate at each epoch's end (0 after the last)."""
    import yaml

    cfg = yaml.safe_load((smoke_run / "config.yaml").read_text())
    tags = _scalars(smoke_run / "tb" / "supernet")
    losses = cfg["train_loss"]
    assert [s for s, _ in tags["supernet/train_loss"]] == list(range(1, len(losses) + 1))
    assert [round(v, 4) for _, v in tags["supernet/train_loss"]] == pytest.approx(losses, abs=1e-4)
    accs = cfg["train_accuracy"]
    assert len(accs) == len(losses) and all(0 < a < 1 for a in accs)
    assert [round(v, 4) for _, v in tags["supernet/train_accuracy"]] == pytest.approx(accs, abs=1e-4)
    assert tags["supernet/lr"][-1][1] == pytest.approx(0.0, abs=1e-9)
    assert tags["supernet/train_workers"][-1][1] == 1


def test_parameter_importance_finds_the_stage_that_decides_accuracy(tmp_path):
    """A planted study where only stage 1's choice moves accuracy (and only stage 0's moves MACs): PED-ANOVA puts
    stage 1 first for accuracy and stage 0 first for MACs; too few trials give no importance."""
    import itertools
    import random

    from seknet.runs.study import importances

    rows, noise = [], random.Random(0)
    for a, b, c in itertools.product(CHOICES, repeat=3):
        acc = 0.8 + 0.05 * CHOICES.index(b) + 0.001 * noise.random()
        macs = 100 + 10 * CHOICES.index(a) + 0.5 * noise.random()
        rows.append({"arch": f"{a}-{b}-{c}", "accuracy": str(acc), "macs": str(macs), "n_eval": "100"})
    path = write_study(tmp_path / STUDY_FILE, {"run": (trials_of(rows, "macs"), "macs", CHOICES)})
    imp = importances(path, "run", "macs")
    assert max(imp["accuracy"], key=imp["accuracy"].get) == "stage1"
    assert max(imp["macs"], key=imp["macs"].get) == "stage0"
    few = write_study(tmp_path / "few.db", {"run": (trials_of(rows[:5], "macs"), "macs", CHOICES)})
    assert importances(few, "run", "macs") == {}


def test_a_damaged_live_study_loses_only_its_curves(tmp_path):
    """live_curves on a study.db that a kill left unreadable gives no curves instead of failing the run's record."""
    damaged = tmp_path / STUDY_FILE
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    assert live_curves(damaged) == {}

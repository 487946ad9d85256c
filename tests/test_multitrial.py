from __future__ import annotations

import pytest

import search
import seknet
from seknet.core import fileio


@pytest.fixture(scope="module")
def mt_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mt") / "run"
    argv = [
        "run",
        "--mode",
        "multitrial",
        "--smoke",
        "--no-progress",
        "--sampler",
        "nsga2",
        "--trials",
        "4",
        "--out",
        str(out),
    ]
    assert search.main(argv) == 0
    return out


@pytest.mark.slow
def test_multitrial_smoke_writes_the_oneshot_layout(mt_run, digits):
    """A multitrial run writes evaluations/pareto CSVs, pareto.png, best.yaml and config.yaml; 4 complete trials."""
    assert {"evaluations.csv", "pareto.csv", "pareto.png", "best.yaml", "config.yaml", "study.db"} <= {
        p.name for p in mt_run.iterdir()
    }
    import optuna

    study = optuna.load_study(study_name=mt_run.name, storage=f"sqlite:///{mt_run / 'study.db'}")
    pareto = {(float(r["accuracy"]), float(r["macs"])) for r in fileio.read_csv(mt_run / "pareto.csv")}
    assert {tuple(t.values) for t in study.best_trials} == pareto  # the study's front is the run's
    rows = fileio.read_csv(mt_run / "evaluations.csv")
    assert len(rows) == 4 and all(r["status"] == "complete" and r["epochs_trained"] == "1" for r in rows)
    for r in rows:
        assert int(r["macs"]) == seknet.count(digits.parse(r["arch"])).macs and 0 <= float(r["accuracy"]) <= 1
    front = fileio.read_csv(mt_run / "pareto.csv")
    assert {f["arch"] for f in front} == {r["arch"] for r in rows if r["on_front"] == "1"}
    seknet.load_arch(mt_run / "best.yaml")


@pytest.mark.slow
def test_export_works_on_multitrial_runs(mt_run, tmp_path, capsys):
    """export picks from a multitrial run too; --weights, which needs a supernet, is refused in one line."""
    rows = fileio.read_csv(mt_run / "evaluations.csv")
    budget = max(int(r["macs"]) for r in rows)
    out = tmp_path / "a.yaml"
    assert search.main(["export", str(mt_run), "--max-macs", str(budget), "--out", str(out)]) == 0
    want = max(rows, key=lambda r: (float(r["accuracy"]), -int(r["macs"])))["arch"]
    assert str(seknet.load_arch(out)) == want
    assert search.main(["export", str(mt_run), "--max-macs", str(budget), "--weights", "--out", str(out)]) == 2
    assert "--weights and --format need supernet.pt" in capsys.readouterr().err


@pytest.mark.slow
def test_asha_never_puts_truncated_trials_on_the_front(tmp_path):
    """With ASHA, stopped trials keep status stopped_early and fewer epochs; only complete trials are on the front."""
    argv = [
        "run",
        "--mode",
        "multitrial",
        "--smoke",
        "--no-progress",
        "--sampler",
        "random",
        "--trials",
        "4",
        "--epochs",
        "2",
        "--asha",
        "--out",
        str(tmp_path / "run"),
    ]
    cfg_epochs = 2
    assert search.main(argv) == 0
    rows = fileio.read_csv(tmp_path / "run" / "evaluations.csv")
    assert {r["status"] for r in rows} <= {"complete", "stopped_early"}
    for r in rows:
        assert (r["status"] == "complete") == (int(r["epochs_trained"]) == cfg_epochs)
        if r["on_front"] == "1":
            assert r["status"] == "complete"


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--sampler", "sandwich"],
            "unknown --sampler 'sandwich' for multitrial runs; valid: nsga2|tpe|random|grid",
        ),
        (["--init", "supernet"], "--init supernet needs --supernet RUN"),
        (
            ["--sampler", "grid", "--trials", "3"],
            "grid needs one trial per arch: 4096 archs in budget but --trials 3",
        ),
        (["--init", "supernet", "--supernet", "."], "--supernet .: no supernet.pt there"),
    ],
)
def test_bad_multitrial_input(argv, message, tmp_path, capsys):
    """Bad multitrial input: one line, exit 2, no run folder."""
    out = tmp_path / "run"
    assert search.main(["run", "--mode", "multitrial", "--no-progress", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not out.exists()

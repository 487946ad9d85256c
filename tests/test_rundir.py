from __future__ import annotations

import pytest
import yaml

from seknet.core.config import OneShotConfig
from seknet.runs import folder as rundir


def test_lifecycle_writes_into_partial_then_renames(tmp_path):
    """create makes .run.partial with config.yaml (mode, config, git_commit); finish renames it into place."""
    folder = rundir.create(
        rundir.check_new(tmp_path / "run", "digits", "digits", "oneshot"),
        "oneshot",
        OneShotConfig(),
    )
    assert folder.partial == tmp_path / ".run.partial" and not folder.out.exists()
    saved = yaml.safe_load((folder.partial / "config.yaml").read_text())
    assert saved["mode"] == "oneshot" and saved["config"]["epochs"] == OneShotConfig().epochs and "git_commit" in saved
    assert rundir.finish(folder) == tmp_path / "run" and (tmp_path / "run" / "config.yaml").is_file()
    assert not folder.partial.exists()


@pytest.mark.parametrize(
    "mode,how",
    [
        ("oneshot", "continue it with --resume"),
        ("nni", "remove it"),
        ("multitrial", "continue it with --resume"),
    ],
)
def test_a_leftover_partial_is_refused_the_same_way_in_every_mode(tmp_path, mode, how):
    """A leftover .partial folder is never deleted silently: --resume where the mode can, else remove it."""
    (tmp_path / ".run.partial").mkdir()
    with pytest.raises(ValueError, match=f"holds an interrupted run; {how}"):
        rundir.check_new(tmp_path / "run", "digits", "digits", mode)


def test_a_non_empty_out_folder_is_refused(tmp_path):
    """--out naming a folder with files in it is refused; an empty one is taken."""
    (tmp_path / "run").mkdir()
    rundir.check_new(tmp_path / "run", "digits", "digits", "oneshot")
    (tmp_path / "run" / "x").write_text("x")
    with pytest.raises(ValueError, match="already exists and is not empty"):
        rundir.check_new(tmp_path / "run", "digits", "digits", "oneshot")


def test_resume_refuses_a_finished_run_an_empty_place_and_nni(tmp_path):
    """--resume on a finished run, where no interrupted search is, on an NNI run or a multitrial run that never
    started its search gives one line; an interrupted one-shot run is resumable."""
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "evaluations.csv").write_text("arch\n")
    with pytest.raises(ValueError, match="already finished"):
        rundir.resumable(tmp_path / "done")
    with pytest.raises(ValueError, match="no interrupted search there"):
        rundir.resumable(tmp_path / "nothing")
    for mode, message in (("nni", "a nni run cannot be resumed"), ("multitrial", "never started")):
        folder = rundir.create(rundir.RunFolder(tmp_path / mode), mode, OneShotConfig())
        with pytest.raises(ValueError, match=message):
            rundir.resumable(folder.out)
    folder = rundir.create(rundir.RunFolder(tmp_path / "one"), "oneshot", OneShotConfig())
    assert rundir.resumable(folder.out) == (folder, "oneshot")


def test_unknown_mode_is_refused(tmp_path):
    """config.yaml's mode is one of oneshot|multitrial|nni."""
    with pytest.raises(ValueError, match="unknown mode"):
        rundir.write_config(rundir.RunFolder(tmp_path / "r"), "other", OneShotConfig())


def test_every_run_records_the_metric_its_accuracies_measure(smoke_run):
    """config.yaml names the metric (accuracy on which images, which weights, how seeds are drawn), as the noise-floor
    decision adopted it."""
    import yaml

    from seknet.runs.spine import METRIC

    assert yaml.safe_load((smoke_run / "config.yaml").read_text())["metric"] == METRIC
    assert METRIC["weights"].startswith("final")

from __future__ import annotations

import os
import re

import pytest

import seknet
from tests.conftest import ROOT


def _readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_python_runs_as_written(tmp_path, monkeypatch):
    """Every ```python block of the README runs as written (in a folder holding the shipped search spaces)."""
    (tmp_path / "search_space").symlink_to(ROOT / "search_space")
    monkeypatch.chdir(tmp_path)
    blocks = _readme_blocks()
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "results" / "api-smoke" / "best-6M.yaml").is_file()


def test_every_name_the_readme_shows_is_importable():
    """Each `seknet.NAME` the README mentions is an attribute of the package."""
    names = set(re.findall(r"\bseknet\.([A-Za-z_]\w*)", (ROOT / "README.md").read_text()))
    modules = {p.stem for p in (ROOT / "seknet").rglob("*.py")} | {p.name for p in (ROOT / "seknet").iterdir()}
    missing = [n for n in sorted(names - modules) if not hasattr(seknet, n)]
    assert not missing


def test_a_setting_the_mode_does_not_take_is_refused():
    """configure names the flag that does not apply, instead of dropping it silently."""
    with pytest.raises(ValueError, match="--trials does not apply to oneshot runs"):
        seknet.configure("oneshot", trials=4)
    with pytest.raises(ValueError, match="unknown mode"):
        seknet.configure("other")


def test_smoke_presets_fill_only_what_is_not_given():
    """smoke=True shrinks budgets, but an explicit setting wins."""
    cfg = seknet.configure("oneshot", smoke=True, epochs=3)
    assert (cfg.epochs, cfg.recal_images, cfg.slice) == (3, 64, 0.5)
    assert seknet.configure("multitrial", smoke=True).trials == 4


def test_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    """seknet.Run on a folder without evaluations.csv/config.yaml is a ValueError naming it."""
    with pytest.raises(ValueError, match="not a finished run folder"):
        seknet.Run(tmp_path)
    assert os.path.isdir(tmp_path)


def test_resume_of_nothing_is_one_line(tmp_path):
    """seknet.resume (what `run --resume` calls) on a folder with no interrupted run: one ValueError line."""
    with pytest.raises(ValueError, match="no interrupted search there"):
        seknet.resume(tmp_path / "nothing")


@pytest.mark.parametrize(
    "mode,argv,settings",
    [
        ("oneshot", ["--slice", "1.5"], {"slice": 1.5}),
        ("oneshot", ["--seed", "-1"], {"seed": -1}),
        ("oneshot", ["--epochs", "1.5"], {"epochs": 1.5}),
        ("oneshot", ["--lr", "0"], {"lr": 0.0}),
        ("oneshot", ["--train-workers", "0"], {"train_workers": 0}),
        ("multitrial", ["--trials", "0"], {"trials": 0}),
        ("multitrial", ["--sampler", "fair"], {"sampler": "fair"}),
        ("nni", ["--population", "1"], {"population": 1}),
    ],
)
def test_a_bad_setting_gets_the_same_line_from_the_cli_and_the_api(mode, argv, settings, tmp_path, capsys):
    """Validation lives in the configs: the CLI prints exactly the API's ValueError, naming the flag, exit 2."""
    import search

    with pytest.raises(ValueError) as api:
        seknet.configure(mode, **settings)
    flags = {"oneshot": [], "multitrial": ["--mode", "multitrial"], "nni": ["--backend", "nni"]}[mode]
    assert search.main(["run", *flags, *argv, "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == f"error: {api.value}\n"
    assert argv[0] in str(api.value) and not (tmp_path / "x").exists()


def test_latency_validate_names_its_flag(capsys):
    """latency --validate -1 is one line naming --validate (it was Python's "Sample larger than population")."""
    import search

    assert search.main(["latency", "--validate", "-1"]) == 2
    assert "argument --validate: must be >= 0, got -1" in capsys.readouterr().err

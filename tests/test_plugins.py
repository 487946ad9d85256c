"""The plugin registries (seknet.core.plugins): each kind is extended by one module and one registration, and the
new name reaches the configs, the CLI's choices and the run like a built-in one."""

from __future__ import annotations

import pytest

import search
import seknet
from seknet.core import fileio
from seknet.core.plugins import DATASETS, DEVICES, FORMATS, MODES, PROPOSERS, SAMPLERS, Registry
from tests.conftest import run_flag_actions

SMALL = "6.0M"  # a few digits archs fit


@pytest.fixture
def registered():
    """Registers what a test adds and unregisters it afterwards, so the built-in registries stay as shipped."""
    added: list[tuple[Registry, str]] = []

    def add(registry: Registry, name: str, ref: str, **info):
        registry.register(name, ref, **info)
        added.append((registry, name))

    yield add
    for registry, name in added:
        registry.unregister(name)


def test_a_registry_names_its_plugins_and_refuses_what_it_does_not_know():
    """Iterating gives the names; an unknown name is one ValueError listing them; a built-in cannot be dropped and a
    taken name cannot be taken again by another plugin."""
    assert tuple(SAMPLERS) == ("uniform", "sandwich", "fair", "balanced")
    assert SAMPLERS.names(one_per_step=True) == ("uniform", "balanced")
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; valid: digits\|digits-plain"):
        DATASETS.load("mnist")
    with pytest.raises(ValueError, match="built-in"):
        DATASETS.unregister("digits")
    with pytest.raises(ValueError, match="registered already"):
        DATASETS.register("digits", "tests.toys.toy_dataset:load")
    assert "mnist" not in DATASETS and "digits" in DATASETS


def test_a_toy_dataset_and_sampler_are_one_module_and_one_line_each(registered, tmp_path):
    """A dataset and a supernet sampler registered by name are --data and --sampler choices and run a search."""
    registered(DATASETS, "toy", "tests.toys.toy_dataset:load")
    registered(SAMPLERS, "last", "tests.toys.toy_sampler:LAST", one_per_step=True)
    actions = run_flag_actions()
    assert "toy" in actions["data"].choices and "last" in actions["sampler"].choices
    out = tmp_path / "run"
    flags = {"data": "toy", "sampler": "last", "max_macs": 6_000_000}  # 10 of the 4,096 archs to score
    run = seknet.search("oneshot", smoke=True, progress=False, out=str(out), **flags)
    assert run.config["data"]["name"] == "toy" and run.config["config"]["sampler"] == "last"
    assert len(run.evaluations) > 2


def test_a_toy_proposer_reaches_one_shot_runs_too(registered, tmp_path):
    """A proposer registered by name samples a one-shot run's space beyond --exhaustive-limit (not only
    multi-trial's): here every arch in budget in reverse order, so the evaluations hold the last archs."""
    registered(PROPOSERS, "reverse", "tests.toys.toy_proposer:reverse")
    assert "reverse" in run_flag_actions()["proposer"].choices
    out = tmp_path / "run"
    flags = {"max_macs": 6_000_000, "exhaustive_limit": 1, "evaluations": 3, "proposer": "reverse"}
    run = seknet.search("oneshot", smoke=True, progress=False, out=str(out), **flags)
    in_budget = [str(a) for a in run.space.archs() if seknet.count(a).macs <= 6_000_000]
    assert sorted(r["arch"] for r in run.evaluations) == sorted(in_budget[-3:])


def test_a_toy_mode_runs_from_the_cli_like_a_built_in_one(registered, tmp_path):
    """A mode registered by name (a module with check and run) is a --mode choice and goes prepare -> run ->
    record: its rows, front and best.yaml are written as any mode's."""
    registered(MODES, "toy", "tests.toys.toy_mode", config="seknet.core.config:RunConfig", smoke={})
    out = tmp_path / "run"
    assert search.main(["run", "--mode", "toy", "--smoke", "--max-macs", SMALL, "--out", str(out)]) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert rows and all(r["status"] == "complete" for r in rows)
    best = max(rows, key=lambda r: float(r["accuracy"]))
    assert float(best["accuracy"]) == max(sum(c != "none" for c in r["arch"].split("-")) / 10 for r in rows)
    assert (out / "best.yaml").is_file() and seknet.Run(out).mode == "toy"


def test_a_toy_export_format_is_one_module_and_one_line(registered, smoke_run, tmp_path):
    """An export format registered with its suffix is an --format choice, and export writes and checks it."""
    registered(FORMATS, "state", "tests.toys.toy_format:state", suffix=".state")
    out = tmp_path / "model.yaml"
    assert search.main(["export", str(smoke_run), "--max-macs", "6.3M", "--out", str(out), "--format", "state"]) == 0
    assert out.with_suffix(".state").is_file()
    assert "state" in yaml_text(out)


def test_a_toy_latency_device_is_one_module_and_one_line(registered, tmp_path):
    """A latency device registered by name is a --latency-device choice; a latency run measures its table there,
    keeps it in the run folder and prices every arch with it."""
    registered(DEVICES, "toy", "tests.toys.toy_device:measure")
    assert "toy" in run_flag_actions()["latency_device"].choices
    out = tmp_path / "run"
    flags = ["--objective", "latency", "--latency-device", "toy", "--max-macs", SMALL]
    assert search.main(["run", "--smoke", *flags, "--out", str(out)]) == 0
    assert "device: toy" in yaml_text(out / "latency.yaml")
    for r in fileio.read_csv(out / "evaluations.csv"):
        attention = sum(c != "none" for c in r["arch"].split("-"))
        assert float(r["latency_ms"]) == 2.0 + len(r["arch"].split("-")) + 0.5 * attention


def yaml_text(path) -> str:
    return path.read_text()

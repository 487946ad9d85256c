from __future__ import annotations

import pytest
import yaml

import search
from seknet.core import latency_table
from seknet.engine import latency
from tests.conftest import space_named


@pytest.fixture(scope="module")
def table(digits):
    return latency.measure_table(digits, runs=3)


def test_table_has_every_part_and_its_conditions(table, digits):
    """A table holds stem, head and every stage x choice in ms, with device, torch, threads, batch and dtype."""
    assert {"device", "device_name", "torch", "threads", "batch", "dtype"} <= set(table)
    assert len(table["stages"]) == len(digits.stages)
    assert table["stem_ms"] > 0 and table["head_ms"] > 0 and table["base_ms"] > 0
    # a stage entry is its share of the all-none time plus a measured difference, floored at 0 against noise
    assert all(set(st) == set(digits.choices) and all(v >= 0 for v in st.values()) for st in table["stages"])


def test_prediction_is_the_sum_of_the_parts(table, digits):
    """predict(arch) = stem + each stage's entry for its choice + head."""
    arch = digits.parse("se16-none-sk3-se4")
    want = table["stem_ms"] + table["head_ms"] + sum(table["stages"][i][c] for i, c in enumerate(str(arch).split("-")))
    assert latency_table.predict(table, arch) == pytest.approx(want)


def test_stage_inputs_are_the_shapes_a_whole_model_feeds(digits):
    """Each stage is timed on the input shape it gets in a whole model (digits: 16, 16, 8, 4 pixels)."""
    assert latency.stage_inputs(digits.plan(), 2) == [
        (2, 32, 16, 16),
        (2, 32, 16, 16),
        (2, 48, 8, 8),
        (2, 64, 4, 4),
    ]
    r50 = space_named("imagenet_resnet50")
    assert [s[2] for s in latency.stage_inputs(r50.plan(), 1)] == [56, 56, 28, 14]


def test_table_round_trips_through_yaml(table, digits, tmp_path):
    """The table written as YAML reads back equal and passes the check for its space and device."""
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(table))
    assert latency_table.load_table(path, digits, "cpu") == table


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t | {"space": "cifar10"}, "measured for space 'cifar10', not 'digits'"),
        (lambda t: t | {"device": "cuda"}, "measured on cuda, not cpu"),
        (
            lambda t: t | {"stages": [t["stages"][0] | {"sk4": "x"}, *t["stages"][1:]]},
            "stage 0 has no latency for sk4",
        ),
        (lambda t: [1, 2], "not a latency table"),
    ],
)
def test_a_table_that_does_not_fit_is_refused(table, digits, tmp_path, edit, message):
    """A table of another space or device, or a damaged one, is refused with one line naming the file."""
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(edit(table)))
    with pytest.raises(ValueError, match=message):
        latency_table.load_table(path, digits, "cpu")


def test_latency_cli_writes_a_validated_table(tmp_path, capsys):
    """`search.py latency` writes the table with its validation summary and prints the relative errors."""
    out = tmp_path / "lat.yaml"
    assert search.main(["latency", "--runs", "2", "--validate", "3", "--out", str(out)]) == 0
    saved = yaml.safe_load(out.read_text())
    check = saved["validation"]
    assert check["archs"] == 3 and len(check["rows"]) == 3 and check["p90_rel_error"] >= 0
    assert check["remeasure_p90_rel_error"] >= 0 and -1 <= check["kendall_tau"] <= 1
    assert saved["threads"] >= 1 and (saved["cpus"] is None or len(saved["cpus"]) >= 1)
    printed = capsys.readouterr().out
    for line in ("prediction p90 ", "re-measurement p90 ", "Kendall tau "):
        assert f"\n{line}" in printed


def test_pinning_is_recorded_and_undone():
    """Timing pins the threads and the CPU set it reports, and gives both back afterwards."""
    import os

    import torch

    threads, cpus = torch.get_num_threads(), latency.pinned_cpus()
    with latency.pinned(1) as pins:
        assert pins["threads"] == torch.get_num_threads() == 1
        if hasattr(os, "sched_setaffinity"):
            assert len(pins["cpus"]) == 1 and set(pins["cpus"]) <= set(cpus)
    assert torch.get_num_threads() == threads and latency.pinned_cpus() == cpus


def test_in_context_table_is_exact_when_costs_add_up_and_every_call_has_an_overhead(digits, monkeypatch):
    """A fake clock: a module costs its parameter count in us plus 0.05 ms per call. Parts timed alone then add
    one overhead per part (the old table overestimated every arch); the in-context table predicts every arch's
    whole-model time exactly."""
    import random

    import torch

    def fake_timed(module, x, runs, device):
        return 1e-3 * sum(p.numel() for p in module.parameters()) + 0.05

    def fake_runner(module, x, device):
        def fn():
            return None

        fn.ms = fake_timed(module, x, 1, device)
        return fn

    monkeypatch.setattr(latency, "_timed", fake_timed)
    monkeypatch.setattr(latency, "_runner", fake_runner)
    monkeypatch.setattr(latency, "_paired_ms", lambda fa, fb, runs: (fa.ms, fb.ms - fa.ms))
    table = latency.measure_table(digits, runs=1)
    assert table["method"] == "in-context"
    for arch in random.Random(0).sample(digits.archs(), 20):
        whole = fake_timed(latency.build_model(arch), torch.zeros(1), 1, "cpu")
        assert latency_table.predict(table, arch) == pytest.approx(whole, abs=1e-4), str(arch)


@pytest.mark.parametrize(
    "argv", [["latency", "--device", "cuda"], ["run", "--smoke", "--objective", "latency", "--latency-device", "cuda"]]
)
def test_cuda_latency_without_a_cuda_device_is_one_line_and_exit_2(argv, tmp_path, capsys, monkeypatch):
    """Both ways of measuring a table on cuda (the latency command, a run that measures its own) refuse a machine
    without one in one line that names the way out, before anything is written."""
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    out = tmp_path / "out"
    assert search.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA device here" in err[0] and "--latency-table" in err[0]
    assert not out.exists()

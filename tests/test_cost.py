"""The cost axis of a run (seknet.runs.objective): latency budgets and fronts beside MACs, in every mode, and export."""

from __future__ import annotations

import itertools

import pytest
import yaml

import search
import seknet
from seknet.core import fileio
from seknet.core import latency_table as latency
from seknet.core.config import SMOKE_LATENCY_RUNS, OneShotConfig
from seknet.core.pareto import pareto_front
from seknet.runs.objective import Objective
from seknet.runs.rows import EVAL_COLUMNS, comparable_rows, front_rows
from seknet.runs.spine import run_table
from tests.conftest import ROOT

# A made-up table in which SK is slow at few MACs (as measured on CPUs, issue 16): the latency front then
# differs from the MAC front, and every prediction is known exactly.
PER_STAGE = {
    "none": 0.1,
    "se4": 0.15,
    "se8": 0.15,
    "se16": 0.15,
    "se32": 0.15,
    "sk2": 0.3,
    "sk3": 0.4,
    "sk4": 0.5,
}
MAX_LATENCY = 0.8  # ms: stem + head 0.15, so the stages may take 0.65: no SK beside three SEs, ...


def fake_table(space: seknet.Space, device: str = "cpu") -> dict:
    return {
        "space": space.name,
        "device": device,
        "device_name": "test",
        "torch": "x",
        "threads": 1,
        "batch": 1,
        "dtype": "float32",
        "runs": 1,
        "stem_ms": 0.1,
        "head_ms": 0.05,
        "stages": [dict(PER_STAGE) for _ in space.stages],
    }


@pytest.fixture(scope="module")
def table_file(digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("lat") / "digits-cpu.yaml"
    path.write_text(yaml.safe_dump(fake_table(digits)))
    return path


@pytest.fixture(scope="module")
def latency_run(table_file, tmp_path_factory):
    """A one-shot smoke run on the latency objective under a latency budget."""
    out = tmp_path_factory.mktemp("runs") / "lat"
    argv = [
        "--smoke",
        "--no-progress",
        "--out",
        str(out),
        "--objective",
        "latency",
        "--latency-table",
        str(table_file),
        "--max-latency",
        f"{MAX_LATENCY}ms",
    ]
    assert search.main(argv) == 0
    return out


def test_latency_budget_keeps_exactly_the_archs_predicted_within_it(digits):
    """Objective.in_budget under --max-latency keeps every arch predicted within the budget and no other."""
    table = fake_table(digits)
    kept = {str(a) for a in Objective("macs", table, None, MAX_LATENCY).in_budget(digits)}
    want = {
        "-".join(c)
        for c in itertools.product(digits.choices, repeat=4)
        if 0.15 + sum(PER_STAGE[x] for x in c) <= MAX_LATENCY + 1e-9
    }
    assert kept == want and 0 < len(kept) < len(digits.archs())


def test_latency_and_mac_budgets_both_hold(digits):
    """With both budgets, an arch must fit both."""
    table = fake_table(digits)
    kept = Objective("macs", table, 7_000_000, MAX_LATENCY).in_budget(digits)
    assert kept and all(seknet.count(a).macs <= 7_000_000 and latency.predict(table, a) <= MAX_LATENCY for a in kept)
    assert len(kept) < len(Objective("macs", table, None, MAX_LATENCY).in_budget(digits))


def test_latency_budget_below_the_fastest_arch_names_it(digits):
    """A latency budget below every arch: ValueError naming the fastest arch and its predicted latency."""
    with pytest.raises(ValueError, match=r"below the fastest arch of digits: none-none-none-none at 0.55 ms"):
        Objective("macs", fake_table(digits), None, 0.3).in_budget(digits)


def test_latency_column_follows_macs():
    """A run with a latency table writes latency_ms right after macs; without one the columns are unchanged."""
    assert Objective().columns(EVAL_COLUMNS) == EVAL_COLUMNS
    cols = Objective("macs", {"stages": []}).columns(EVAL_COLUMNS)
    assert cols[cols.index("macs") + 1] == "latency_ms" and len(cols) == len(EVAL_COLUMNS) + 1


def test_run_measures_a_table_when_none_is_given(digits):
    """--objective latency without --latency-table measures one for the space on this CPU, and it checks out."""
    cfg = OneShotConfig(objective="latency", smoke=True)
    table = run_table(cfg, digits)
    assert latency.check_table(table, digits, "cpu", "measured") is table and table["runs"] == SMOKE_LATENCY_RUNS
    assert run_table(OneShotConfig(), digits) is None  # a MAC run measures nothing


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t | {"device": "cuda"}, "measured on cuda, not cpu; measure on this device"),
        (lambda t: t | {"space": "cifar10"}, "measured for space 'cifar10', not 'digits'"),
        (lambda t: {"stem_ms": 1}, "not a latency table"),
    ],
)
def test_a_run_refuses_a_table_of_another_space_or_device(edit, message, digits, tmp_path, capsys):
    """A latency table of another device or space, or not a table at all: one line, exit 2, no run folder."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(edit(fake_table(digits))))
    out = tmp_path / "run"
    argv = [
        "--smoke",
        "--no-progress",
        "--out",
        str(out),
        "--objective",
        "latency",
        "--latency-table",
        str(bad),
    ]
    assert search.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and str(bad) in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("text,message", [("fast", "invalid latency 'fast'"), ("0ms", "must be a positive")])
def test_bad_latency_budget_is_one_line(text, message, tmp_path, capsys):
    """--max-latency takes milliseconds ('2.5ms' or '2.5'); anything else is one line, exit 2."""
    assert search.parse_ms("2.5ms") == search.parse_ms("2.5") == 2.5
    assert search.main(["--smoke", "--out", str(tmp_path / "r"), "--max-latency", text]) == 2
    assert message in capsys.readouterr().err


def test_latency_run_writes_a_latency_front(latency_run, digits):
    """A latency run: every arch carries its predicted latency_ms and fits the budget; pareto.csv is the
    accuracy-latency front; best.yaml is its most accurate; latency.yaml keeps the table; config says latency."""
    table = fake_table(digits)
    rows = fileio.read_csv(latency_run / "evaluations.csv")
    assert rows and all(
        float(r["latency_ms"]) == pytest.approx(latency.predict(table, digits.parse(r["arch"]))) for r in rows
    )
    assert max(float(r["latency_ms"]) for r in rows) <= MAX_LATENCY
    assert len(rows) == len(Objective("macs", table, None, MAX_LATENCY).in_budget(digits))
    full = comparable_rows(rows)
    want = {full[i]["arch"] for i in pareto_front([(float(r["latency_ms"]), float(r["accuracy"])) for r in full])}
    front = fileio.read_csv(latency_run / "pareto.csv")
    assert {r["arch"] for r in front} == want
    assert [float(r["latency_ms"]) for r in front] == sorted(float(r["latency_ms"]) for r in front)
    best = yaml.safe_load((latency_run / "best.yaml").read_text())
    assert best["metrics"]["chosen_as"] == "most accurate under --max-latency"
    assert float(best["metrics"]["latency_ms"]) == float(front[-1]["latency_ms"])
    assert yaml.safe_load((latency_run / "latency.yaml").read_text()) == table
    assert yaml.safe_load((latency_run / "config.yaml").read_text())["config"]["objective"] == "latency"
    run = seknet.Run(latency_run)
    assert [r["arch"] for r in run.front] == [r["arch"] for r in front]


def test_export_by_latency_budget_picks_the_most_accurate_within_it(latency_run, tmp_path):
    """export --max-latency: the most accurate complete arch predicted within the budget, recorded in the YAML."""
    rows = comparable_rows(fileio.read_csv(latency_run / "evaluations.csv"))
    budget = sorted(float(r["latency_ms"]) for r in rows)[len(rows) // 2]
    ok = [r for r in rows if float(r["latency_ms"]) <= budget]
    want = max(ok, key=lambda r: (float(r["accuracy"]), -int(r["macs"])))
    out = tmp_path / "e.yaml"
    assert search.main(["export", str(latency_run), "--max-latency", f"{budget}ms", "--out", str(out)]) == 0
    saved = yaml.safe_load(out.read_text())
    assert str(seknet.load_arch(out)) == want["arch"] and saved["metrics"]["max_latency"] == budget
    assert seknet.Run(latency_run).best(max_latency=budget) == seknet.load_arch(out)


def test_export_by_latency_needs_a_run_with_latency(smoke_run, tmp_path, capsys):
    """export --max-latency of a MAC run (no latency_ms column), or export with no budget: one line, exit 2."""
    out = tmp_path / "e.yaml"
    assert search.main(["export", str(smoke_run), "--max-latency", "2ms", "--out", str(out)]) == 2
    assert "has no latency_ms column" in capsys.readouterr().err
    assert search.main(["export", str(smoke_run), "--out", str(out)]) == 2
    assert "export needs a budget" in capsys.readouterr().err
    assert not out.exists()


def trial_run_rows(argv: list[str], table_file, out) -> list[dict]:
    """evaluations.csv of a trial-based smoke run (``argv`` picks the backend) on the latency objective under
    MAX_LATENCY: every row carries its predicted latency_ms, and exactly the archs over it are over_budget."""
    lat = [
        "--objective",
        "latency",
        "--latency-table",
        str(table_file),
        "--max-latency",
        str(MAX_LATENCY),
    ]
    assert search.main(["run", *argv, "--smoke", "--no-progress", "--out", str(out), *lat]) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    digits = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    table = fake_table(digits)
    for r in rows:
        ms = latency.predict(table, digits.parse(r["arch"]))
        assert float(r["latency_ms"]) == pytest.approx(ms)
        assert (r["status"] == "over_budget") == (ms > MAX_LATENCY + 1e-9)
    return rows


@pytest.mark.slow
def test_multitrial_latency_run_trains_only_archs_within_the_latency_budget(table_file, tmp_path):
    """Ray multi-trial on the latency objective: NSGA-II's over-budget proposals are answered without a trial
    (config.yaml counts them) so every trial trains an arch within the budget, and the front is on latency."""
    rows = trial_run_rows(["--mode", "multitrial", "--sampler", "nsga2"], table_file, tmp_path / "mt")
    assert len(rows) == 4 and all(r["status"] == "complete" for r in rows)  # smoke: --trials 4
    proposals = yaml.safe_load((tmp_path / "mt" / "config.yaml").read_text())["proposals"]
    assert proposals["distinct_archs_trained"] == 4 and proposals["over_budget_answered"] > 0
    front = fileio.read_csv(tmp_path / "mt" / "pareto.csv")
    assert front and [r["arch"] for r in front] == [r["arch"] for r in front_rows(rows, "latency_ms")]


@pytest.mark.slow
def test_nni_latency_run_refuses_archs_over_the_latency_budget(table_file, tmp_path):
    """NNI multi-trial on the latency objective: the budget filter refuses archs predicted over --max-latency
    (recorded as over_budget), and trained archs carry latency_ms within it."""
    pytest.importorskip("nni")
    rows = trial_run_rows(["--backend", "nni", "--strategy", "random"], table_file, tmp_path / "nni")
    assert any(r["status"] == "complete" for r in rows)

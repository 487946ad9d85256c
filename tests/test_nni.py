from __future__ import annotations

import os

import pytest
import torch

import search
import seknet
from seknet.core import fileio
from tests.conftest import run_flag_actions

nni_search = pytest.importorskip("seknet.modes.nni", reason="the NNI backend needs the [nni] extra")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

SPACE = "search_space/digits.yaml"


def _run(tmp_path, *flags: str) -> tuple[int, object]:
    out = tmp_path / "run"
    return search.main(["run", "--backend", "nni", "--smoke", "--no-progress", "--out", str(out), *flags]), out


def test_every_strategy_the_cli_offers_is_one_the_adapter_builds(digits):
    """--strategy's choices are the STRATEGIES registry's names; each builds its own NNI strategy class."""
    from seknet.core.config import NniConfig
    from seknet.core.plugins import STRATEGIES

    assert tuple(run_flag_actions()["strategy"].choices) == tuple(STRATEGIES) and "enas" not in STRATEGIES
    in_budget = {str(a) for a in digits.archs()}
    built = {s: type(nni_search._strategy(NniConfig(strategy=s), digits, in_budget)).__name__ for s in STRATEGIES}
    assert built == {
        "random": "Random",
        "grid": "GridSearch",
        "evolution": "RegularizedEvolution",
        "tpe": "TPE",
        "spos": "_BudgetSPOS",
        "darts": "DARTS",
        "gumbel-darts": "GumbelDARTS",
        "proxyless": "Proxyless",
    }
    assert STRATEGIES.names(one_shot=True) == ("spos", "darts", "gumbel-darts", "proxyless")


def test_model_space_has_one_choice_per_stage_labelled_stage_i(digits):
    """The NNI space's mutables are stage0..stage3, each with the space's 8 choices as candidates."""
    ms = nni_search.AttentionSpace(SPACE)
    simple = ms.simplify()
    assert sorted(simple) == [f"stage{i}" for i in range(len(digits.stages))]
    for label, mutable in simple.items():
        assert list(mutable.values) == list(digits.choices), label


@pytest.mark.parametrize("arch", ["none-none-none-none", "se16-none-sk3-se4", "sk4-se32-se8-sk2"])
def test_frozen_nni_model_is_seknets_stand_alone_model(digits, arch):
    """Freezing a sample gives exactly build_model(arch): same params, MACs (FlopCounterMode / 2) and outputs."""
    from torch.utils.flop_counter import FlopCounterMode

    a = digits.parse(arch)
    sample = {f"stage{i}": c for i, c in enumerate(arch.split("-"))}
    frozen = nni_search.AttentionSpace(SPACE).freeze(sample)
    assert sum(p.numel() for p in frozen.parameters()) == seknet.count(a).params
    x = torch.randn(1, 1, 16, 16)  # count() is per image
    with FlopCounterMode(display=False) as fc:
        frozen.eval()(x)
    assert fc.get_total_flops() // 2 == seknet.count(a).macs
    ref = seknet.build_model(a).eval()
    ref.load_state_dict(frozen.state_dict())  # same module tree, same keys
    assert nni_search.AttentionSpace(SPACE).arch is None  # the space itself is no arch
    torch.testing.assert_close(frozen(x), ref(x))


@pytest.mark.slow
def test_trial_starts_from_build_models_weights_whatever_was_built_before(monkeypatch, digits):
    """An NNI trial trains from the weights build_model(arch) draws under the run's seed (a Ray trial's start),
    not from the global RNG state NNI left after building earlier models: an arch's result is repeatable."""
    from seknet.data.digits import load_digits
    from seknet.modes.nni import NniConfig

    a = digits.parse("se16-none-sk3-se4")
    sample = {f"stage{i}": c for i, c in enumerate(str(a).split("-"))}
    cfg = NniConfig(space=SPACE, data="digits", strategy="random", seed=3)
    starts = []
    monkeypatch.setattr(
        nni_search,
        "train_standalone",
        lambda arch, split, tcfg, device, model, **kw: starts.append(
            {k: v.clone() for k, v in model.state_dict().items()}
        ),
    )
    monkeypatch.setattr(nni_search, "evaluate", lambda model, data, device: 0)
    monkeypatch.setattr(nni_search.nni, "report_final_result", lambda metrics: None)
    for history in (0, 1):
        torch.manual_seed(history)  # as if NNI had built other models first
        frozen = nni_search.AttentionSpace(SPACE).freeze(sample)
        frozen.arch = a  # the engine sets it from current_model() when it instantiates a sample
        nni_search._train_trial(frozen, load_digits(0, 1, 1), cfg)
    torch.manual_seed(cfg.seed)
    ref = seknet.build_model(a).state_dict()
    for start in starts:
        assert set(start) == set(ref)
        assert all(torch.equal(start[k], ref[k]) for k in ref)


@pytest.fixture(scope="module")
def evo_run(tmp_path_factory):
    rc, out = _run(tmp_path_factory.mktemp("nni"), "--strategy", "evolution")
    assert rc == 0
    return out


@pytest.mark.slow
def test_evolution_smoke_writes_the_run_layout_and_export_works(evo_run, tmp_path, digits):
    """A multi-trial NNI run (evolution) writes the same files as a Ray run; export reads it; 3 complete trials."""
    out = evo_run
    written = {p.name for p in out.iterdir()}
    assert {"evaluations.csv", "pareto.csv", "pareto.png", "best.yaml", "config.yaml"} <= written
    rows = fileio.read_csv(out / "evaluations.csv")
    assert len(rows) == 3 and all(r["status"] == "complete" for r in rows)
    for r in rows:
        assert int(r["macs"]) == seknet.count(digits.parse(r["arch"])).macs
        assert 0 <= float(r["acc_low"]) <= float(r["accuracy"]) <= float(r["acc_high"]) <= 1
    assert search.main(["export", str(out), "--max-macs", "9M", "--out", str(tmp_path / "a.yaml")]) == 0
    seknet.load_arch(tmp_path / "a.yaml")


@pytest.mark.slow
def test_retrain_works_on_nni_runs(evo_run):
    """retrain reads an NNI run like a Ray one: every arch of the run retrained, tau written."""
    import yaml

    argv = [
        "retrain",
        str(evo_run),
        "--top",
        "3",
        "--random",
        "3",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--no-progress",
    ]
    assert search.main(argv) == 0
    rows = fileio.read_csv(evo_run / "retrain.csv")
    assert {r["arch"] for r in rows} == {r["arch"] for r in fileio.read_csv(evo_run / "evaluations.csv")}
    assert yaml.safe_load((evo_run / "retrain.yaml").read_text())["archs"] == 3


@pytest.mark.slow
def test_max_macs_archs_are_never_trained(tmp_path, monkeypatch, digits):
    """With --max-macs, NNI's Filter refuses over-budget archs before training; they are recorded as over_budget."""
    trained = []
    real = nni_search._train_trial

    def spy(model, data, cfg):
        assert sum(p.numel() for p in model.parameters()) == seknet.count(model.arch).params
        trained.append(str(model.arch))
        return real(model, data, cfg)

    monkeypatch.setattr(nni_search, "_train_trial", spy)
    budget = 6_500_000
    rc, out = _run(tmp_path, "--strategy", "random", "--trials", "4", "--max-macs", str(budget))
    assert rc == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    done = [r for r in rows if r["status"] == "complete"]
    refused = [r for r in rows if r["status"] == "over_budget"]
    assert len(done) == len(trained) == 4
    assert all(int(r["macs"]) <= budget for r in done)
    assert refused and all(int(r["macs"]) > budget and r["accuracy"] == "" for r in refused)
    assert sorted(trained) == sorted(r["arch"] for r in done)  # what ran is what was recorded


@pytest.mark.slow
def test_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    """A trial that raises is kept as failed with its reason; the other trials complete."""
    calls = []
    real = nni_search._train_trial

    def flaky(model, data, cfg):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom in trial 2")
        return real(model, data, cfg)

    monkeypatch.setattr(nni_search, "_train_trial", flaky)
    rc, out = _run(tmp_path, "--strategy", "grid", "--trials", "3")
    assert rc == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert [r["status"] for r in rows] == ["complete", "failed", "complete"]
    assert "boom in trial 2" in rows[1]["error"]


def test_tpe_maximises_accuracy(digits):
    """NNI's TPE minimises by default; the adapter asks it to maximise (accuracy is the default metric)."""
    strategy = nni_search._strategy(nni_search.NniConfig(strategy="tpe"), digits, set())
    assert strategy.tuner.optimize_mode.value == "maximize"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["darts", "spos"])
def test_one_shot_smoke_exports_archs_within_budget_and_scores_them(tmp_path, strategy):
    """A one-shot NNI run scores its exported archs, all within --max-macs; nothing lands outside the run."""
    before = set(os.listdir())
    budget = 6_200_000
    rc, out = _run(tmp_path, "--strategy", strategy, "--trials", "2", "--max-macs", str(budget))
    assert rc == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert len(rows) == 2 and all(r["status"] == "complete" and int(r["macs"]) <= budget for r in rows)
    assert all(r["trial_id"].startswith("export_") for r in rows)
    assert set(os.listdir()) == before  # no lightning_logs/ or NNI folders in the working directory
    seknet.load_arch(out / "best.yaml")


def test_most_probable_respects_the_budget(digits):
    """The joint argmax is returned when it fits; otherwise the most probable arch within the budget."""
    probs = {f"stage{i}": {c: (0.9 if c == "none" else 0.1 / 7) for c in digits.choices} for i in range(4)}
    every = {str(a) for a in digits.archs()}
    assert nni_search.most_probable(digits, probs, every, 1) == ["none-none-none-none"]
    budget = seknet.count(digits.parse("none-none-none-none")).macs - 1
    allowed = {a for a in every if seknet.count(digits.parse(a)).macs <= budget}
    best = nni_search.most_probable(digits, probs, allowed, 2)
    assert len(best) == 2 and all(a in allowed for a in best)
    assert all(a.split("-").count("none") == 3 for a in best)  # one stage given up, the rest kept


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--strategy", "enas"], "invalid choice"),
        (["--mode", "multitrial", "--strategy", "random"], "--backend nni takes --strategy"),
        (["--max-macs", "1M", "--strategy", "random"], "below the smallest arch"),
    ],
)
def test_bad_nni_input_is_one_line_exit_2(tmp_path, capsys, flags, message):
    """Unknown strategies, Ray-only flags and impossible budgets: one line on stderr, exit 2, no run folder."""
    rc, out = _run(tmp_path, *flags)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and "\n" not in err
    assert not out.exists()


def test_strategy_without_nni_backend_is_refused(capsys):
    """--strategy belongs to the NNI backend; with the Ray backend it is refused in one line."""
    assert search.main(["run", "--strategy", "random"]) == 2
    assert "add --backend nni" in capsys.readouterr().err


@pytest.mark.slow
def test_tpe_trains_every_arch_once_when_it_repeats_itself(tmp_path):
    """NNI's TPE (which does not deduplicate) on a 4-arch space with 8 trials: each arch is trained once, the
    repeats are answered from the finished ones (Deduplication replay) and the search ends."""
    import yaml

    from tests.conftest import ROOT

    space = yaml.safe_load((ROOT / "search_space" / "digits.yaml").read_text())
    space |= {"name": "digits2", "stages": space["stages"][:2], "choices": ["none", "se16"]}
    path = tmp_path / "digits2.yaml"
    path.write_text(yaml.safe_dump(space))
    out = tmp_path / "run"
    argv = [
        "run",
        "--backend",
        "nni",
        "--strategy",
        "tpe",
        "--trials",
        "8",
        "--space",
        str(path),
        "--smoke",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert search.main(argv) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert sorted(r["arch"] for r in rows) == ["none-none", "none-se16", "se16-none", "se16-se16"]

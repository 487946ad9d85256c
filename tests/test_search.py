from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

import search
import seknet
from seknet.core import fileio
from seknet.core.config import OneShotConfig
from seknet.modes.oneshot import halving_contenders
from seknet.nn.supernet import Supernet
from seknet.runs.placement import placement
from tests.conftest import ROOT, run_flag_actions

BUDGET = 6_300_000  # prunes the digits space to its cheaper archs: a faster smoke run


def test_smoke_run_writes_every_file(smoke_run, digits):
    """`search.py --smoke` (the default command, `run`) writes every result file, complete and consistent."""
    names = {
        "config.yaml",
        "evaluations.csv",
        "pareto.csv",
        "pareto.png",
        "best.yaml",
        "placement.csv",
        "placement.png",
        "supernet.pt",
    }
    assert names <= {p.name for p in smoke_run.iterdir()}
    assert not list(smoke_run.parent.glob(".*partial")) and not list(smoke_run.glob(".*tmp"))
    rows = fileio.read_csv(smoke_run / "evaluations.csv")
    in_budget = [a for a in digits.archs() if seknet.count(a).macs <= BUDGET]
    assert sorted(r["arch"] for r in rows) == sorted(map(str, in_budget))  # every arch within budget, scored once
    for r in rows:
        assert 0 <= float(r["acc_low"]) <= float(r["accuracy"]) <= float(r["acc_high"]) <= 1
        assert int(r["macs"]) == seknet.count(digits.parse(r["arch"])).macs <= BUDGET
    front = fileio.read_csv(smoke_run / "pareto.csv")
    full = [r for r in rows if r["n_eval"] == front[0]["n_eval"]]
    for f in front:  # nothing fully evaluated dominates a front point
        assert not any(int(r["macs"]) <= int(f["macs"]) and float(r["accuracy"]) > float(f["accuracy"]) for r in full)
    assert {r["arch"] for r in rows if r["on_front"] == "1"} == {f["arch"] for f in front}
    best = seknet.load_arch(smoke_run / "best.yaml")
    assert str(best) == max((f for f in front), key=lambda f: float(f["accuracy"]))["arch"]  # under --max-macs
    cfg = yaml.safe_load((smoke_run / "config.yaml").read_text())
    assert cfg["config"]["seed"] == 0 and cfg["config"]["max_macs"] == BUDGET and cfg["space"]["name"] == "digits"
    assert "git_commit" in cfg
    place = fileio.read_csv(smoke_run / "placement.csv")
    assert {(int(p["stage"]), p["choice"]) for p in place} <= {(i, c) for i in range(4) for c in digits.choices}
    net = Supernet(digits)
    net.load_state_dict(torch.load(smoke_run / "supernet.pt", weights_only=True))
    assert (smoke_run / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_export(smoke_run, tmp_path, digits):
    """export picks the most accurate fully scored arch under the budget; --weights loads into build_model."""
    rows = fileio.read_csv(smoke_run / "evaluations.csv")
    n_full = max(int(r["n_eval"]) for r in rows)
    budget = 6_000_000
    want = max(
        (r for r in rows if int(r["macs"]) <= budget and int(r["n_eval"]) == n_full),
        key=lambda r: (float(r["accuracy"]), -int(r["macs"])),
    )
    out = tmp_path / "best.yaml"
    assert search.main(["export", str(smoke_run), "--max-macs", "6M", "--out", str(out), "--weights"]) == 0
    arch = seknet.load_arch(out)
    assert str(arch) == want["arch"] and seknet.count(arch).macs <= budget
    model = seknet.build_model(arch)
    model.load_state_dict(torch.load(out.with_suffix(".pt"), weights_only=True))


def test_export_nothing_under_budget(smoke_run, capsys, tmp_path):
    """A budget below every scored arch: one line naming the smallest, exit 2, no file."""
    out = tmp_path / "x.yaml"
    assert search.main(["export", str(smoke_run), "--max-macs", "1M", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "the smallest scored is sk2-sk2-sk2-sk2 with 5,843,136 MACs" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--max-macs", "1M"],
            "below the smallest arch of digits: sk2-sk2-sk2-sk2 with 5,843,136 MACs",
        ),
        (["--max-macs", "lots"], "invalid MAC count 'lots'"),
        (
            ["--space", "search_space/cifar10.yaml"],
            "expects 3x32x32 with 10; pick a matching --space",
        ),
        (["--data", "mnist"], "invalid choice: 'mnist'"),
        (["--slice", "0"], "must be in (0, 1]"),
    ],
)
def test_bad_run_input(argv, message, capsys, tmp_path):
    """Bad run input gives one line with the fix, exit 2, and no run folder."""
    out = tmp_path / "run"
    assert search.main(["run", "--smoke", "--no-progress", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_existing_run_folder_is_not_overwritten(smoke_run, capsys):
    """--out pointing at a finished run is refused."""
    assert search.main(["--smoke", "--out", str(smoke_run)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err


def test_parse_macs():
    """MAC budgets accept k/M/G suffixes."""
    assert search.parse_macs("12.5M") == 12_500_000 and search.parse_macs("1.2G") == 1_200_000_000
    assert search.parse_macs("800k") == 800_000 and search.parse_macs("5,843,136") == 5_843_136


def test_no_traceback_from_the_shell():
    """From a shell, bad input prints exactly one line on stderr and exits 2."""
    p = subprocess.run(
        [sys.executable, "search.py", "flops", "--arch", "se5-none-none-none"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_halving_keeps_possible_front_members(digits):
    """An arch is dropped only when a cheaper arch wins the paired test on the slice images (z > 2.58)."""
    a, b, c = (
        digits.parse("sk2-sk2-sk2-sk2"),
        digits.parse("none-none-none-none"),
        digits.parse("se4-se4-se4-se4"),
    )
    assert seknet.count(a).macs < seknet.count(b).macs < seknet.count(c).macs
    n = 400
    ha = torch.ones(n, dtype=torch.bool)
    ha[:40] = False  # a: 360 right
    hb = ha.clone()
    hb[40:60] = False  # b: 340 right, wrong on 20 images a gets right and right on none a misses: z = 20/sqrt(20)
    hc = ha.clone()
    hc[40:45] = False
    hc[:3] = True  # c: 2 fewer right than a over 8 discordant images: z = 2/sqrt(8), not significant
    kept = halving_contenders([a, b, c], {str(a): ha, str(b): hb, str(c): hc})
    assert a in kept and b not in kept and c in kept


def test_nsga2_path(tmp_path):
    """Past --exhaustive-limit, NSGA-II scores exactly --evaluations distinct archs and writes the same files."""
    out = tmp_path / "nsga"
    argv = [
        "--smoke",
        "--no-progress",
        "--out",
        str(out),
        "--exhaustive-limit",
        "100",
        "--evaluations",
        "40",
    ]
    assert search.main(argv) == 0
    rows = fileio.read_csv(out / "evaluations.csv")
    assert len(rows) == len({r["arch"] for r in rows}) == 40
    assert (out / "pareto.csv").exists() and (out / "best.yaml").exists()


def test_placement_interval_comes_from_paired_images():
    """The gain vs none is the mean over images of the paired difference d_i, with a 95 % interval 1.96 sd(d)/sqrt(n):
    one discordant image in 4 cannot be told from zero; 30 in 100, all one way, can."""
    for n, wins, significant in ((4, 1, 0), (100, 30, 1)):
        none = torch.zeros(n, dtype=torch.bool)
        se = none.clone()
        se[:wins] = True
        rows = [
            {"arch": a, "slice_accuracy": float(h.float().mean()), "macs": m}
            for a, h, m in (("none", none, 100), ("se4", se, 101))
        ]
        row = placement(rows, 1, ["none", "se4"], {"none": none, "se4": se})[1]
        d = se.float() - none.float()
        half = 1.96 * float(d.std()) / n**0.5
        assert row["delta_accuracy"] == round(wins / n, 5)
        assert row["delta_low"] == round(wins / n - half, 5) and row["delta_high"] == round(wins / n + half, 5)
        assert row["significant"] == significant


def test_seed_spread_widens_every_placement_interval_in_quadrature():
    """With seed_spread s (pp) the half-width is 1.96 sqrt(se_images^2 + s^2): a gain the images alone call
    significant (30 of 100 images, all one way) is not, once the supernets' seed-to-seed spread is as large as it."""
    none = torch.zeros(100, dtype=torch.bool)
    se = none.clone()
    se[:30] = True
    rows = [
        {"arch": a, "slice_accuracy": float(h.float().mean()), "macs": m}
        for a, h, m in (("none", none, 1), ("se4", se, 2))
    ]
    hits = {"none": none, "se4": se}
    se_images = float((se.float() - none.float()).std()) / 10
    for spread, significant in ((0.0, 1), (30.0, 0)):
        row = placement(rows, 1, ["none", "se4"], hits, spread)[1]
        half = 1.96 * (se_images**2 + (spread / 100) ** 2) ** 0.5
        assert row["delta_high"] == round(0.3 + half, 5) and row["significant"] == significant
        assert row["claim"] == ("resolved" if significant else "unresolved")


def test_a_one_shot_run_that_measured_no_seed_spread_claims_nothing():
    """No constant measured on digits is the default: unset, seed_spread is None, and a gain the images alone call
    significant (30 of 100 images all one way) is still claimed unresolved, as one supernet cannot measure its
    seed's luck; with a measured spread of 0 and a tiny gain well inside the margin, it is negligible."""
    assert OneShotConfig().seed_spread is None
    none = torch.zeros(1000, dtype=torch.bool)
    one = none.clone()
    one[:300] = True
    rows = [
        {"arch": a, "slice_accuracy": float(h.float().mean()), "macs": 1} for a, h in (("none", none), ("se4", one))
    ]
    row = placement(rows, 1, ["none", "se4"], {"none": none, "se4": one})[1]
    assert row["significant"] == 1 and row["claim"] == "unresolved" and row["pp_per_mmac"] == ""
    same = {"none": none, "se4": none.clone()}
    rows[1]["slice_accuracy"] = 0.0
    tiny = placement(rows, 1, ["none", "se4"], same, 0.0, margin=0.25)[1]
    assert tiny["claim"] == "negligible"


def test_a_zero_epoch_run_finishes(tmp_path):
    """--epochs 0 (score the untrained supernet) writes no checkpoint, and the run still finishes cleanly."""
    out = tmp_path / "run"
    assert search.main(["--smoke", "--no-progress", "--epochs", "0", "--max-macs", "6.3M", "--out", str(out)]) == 0
    assert (out / "evaluations.csv").is_file() and not (out / "checkpoint.pt").exists()


def test_run_flags_are_the_mode_configs_fields_with_their_help_and_defaults():
    """Every field of every mode config is a `run` flag whose help is the field's help with its default; a value the
    flag parses reaches the config unchanged."""
    from dataclasses import fields

    from seknet.api.cli import CLI_ONLY
    from seknet.api.python import configure
    from seknet.core.config import configs

    helps = {dest: a.help.replace("%%", "%") for dest, a in run_flag_actions().items()}
    for mode, cls in configs().items():
        for f in fields(cls):
            assert f.metadata["help"] in helps[f.name], (mode, f.name)
            if f.default not in (None, False, True):
                want = f"{f.default:,}" if isinstance(f.default, int) else str(f.default)
                assert f"{want})" in helps[f.name], (mode, f.name)
    args = search.build_parser().parse_args(["run", "--epochs", "7", "--max-macs", "7.5M", "--no-choice-affine"])
    cfg = configure("oneshot", **{k: v for k, v in vars(args).items() if k not in CLI_ONLY and v is not None})
    assert (cfg.epochs, cfg.max_macs, cfg.choice_affine, cfg.lr) == (7, 7_500_000, False, 0.1)


def test_the_seknet_command_is_search_py(tmp_path):
    """The installed console command `seknet` runs the same CLI as `python search.py`, from any folder (the shipped
    spaces are found from there too)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("seknet", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the seknet command is installed by `pip install -e .`")
    argv = ["flops", "--arch", "se16-none-sk3-se4", "--json"]
    ours = subprocess.run([exe, *argv], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    script = subprocess.run(
        [sys.executable, "search.py", *argv], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert ours == script and '"macs": 8494656' in ours
    usage = subprocess.run([exe, "run", "--seed", "-1"], cwd=tmp_path, capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr == "error: --seed must be >= 0, got -1\n"

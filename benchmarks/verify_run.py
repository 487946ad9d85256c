"""One search run, and its compute in stand-alone trainings of the median-MAC arch timed right beside it.

Runs ``search.py run`` with the flags given (e.g. ``--space search_space/digits-81.yaml --verify --seed 0 --out
results/v81-s0``), then times the space's median-MAC arch trained stand-alone on all threads for 5 epochs, scaled to the
unit's 30 (an epoch costs the same at every learning rate), and writes ``unit.yaml`` into
the run folder: the run's wall time, the screening's (supernet training and scoring), the unit's, and their ratios
(``units``, ``screening_units``), which ``benchmarks/answer_curve.py --runs`` reads. The files that judge the run
(``KEPT``) are then copied into ``benchmarks/runs/<name>/``, which git tracks: results/ is git-ignored, and a run that
took an hour of both cores is evidence a later session must be able to judge again (e.g. against a larger truth).

    python -m benchmarks.verify_run --space search_space/digits-81.yaml --verify --seed 0 --out results/v81-s0
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import search
from benchmarks.default_run import median_mac_arch
from seknet.core import OneShotConfig, load_space, read_yaml, write_yaml
from seknet.data import run_data
from seknet.engine import TrainConfig, train_standalone

UNIT_EPOCHS = 30
KEPT = (  # what benchmarks/answer_curve.py --runs reads, the ledger of trainings, and the answer
    "config.yaml",
    "unit.yaml",
    "evaluations.csv",
    "screening.csv",
    "placement.csv",
    "screening-placement.csv",
    "decisions.csv",
    "best.yaml",
    "verify/trainings.csv",
)
UNIT_SAMPLE = 5  # epochs of the unit's 30-epoch schedule timed; an epoch costs the same at any learning rate


def main(argv: list[str]) -> None:
    t = time.perf_counter()
    assert search.main(["run", "--no-progress", *argv]) == 0
    wall = time.perf_counter() - t
    out = Path(argv[argv.index("--out") + 1])
    cfg = read_yaml(out / "config.yaml", "missing")
    space = load_space(cfg["config"]["space"])
    arch = median_mac_arch(space)
    data = run_data(OneShotConfig(**cfg["config"]), space.input_size)
    t = time.perf_counter()
    train_standalone(arch, data.train, TrainConfig(UNIT_SAMPLE, seed=cfg["config"]["seed"]))
    unit = (time.perf_counter() - t) * UNIT_EPOCHS / UNIT_SAMPLE
    screening = cfg["seconds"]["train"] + cfg["seconds"]["score"]
    summary = {
        "wall_seconds": round(wall, 1),
        "screening_seconds": round(screening, 1),
        "unit_arch": str(arch),
        "unit_seconds": round(unit, 1),
        "units": round(wall / unit, 2),
        "screening_units": round(screening / unit, 2),
    }
    write_yaml(out / "unit.yaml", summary)
    print(f"{out}: {summary}; kept in {keep(out, Path(__file__).parent / 'runs' / out.name)}")


def keep(run: Path, into: Path) -> Path:
    """Copy ``run``'s ``KEPT`` files that exist into ``into`` (same relative paths); returns ``into``."""
    for name in KEPT:
        if (run / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / name, into / name)
    return into


if __name__ == "__main__":
    main(sys.argv[1:])

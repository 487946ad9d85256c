"""The default `python search.py` end to end, as a ratio to one stand-alone training timed right beside it.

Runs the default job (with any extra flags given, e.g. ``--choice-affine``) into a temporary folder (or the
``--out`` given, kept), then trains the space's median-MAC arch stand-alone for the same epochs as the supernet
(the recipe every trial uses), and prints wall(run) / wall(stand-alone), the run's cost in units. Machines of the
same kind differ ~3x in speed, so only the ratio is a goal: <= 1.5 units (issue 31; 2.5 in issue 12). Also prints
the size of the front (goal >= 5).

    python -m benchmarks.default_run [extra run flags]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

import search
import seknet
from seknet.core import OneShotConfig, read_csv
from seknet.data import run_data
from seknet.engine import TrainConfig, train_standalone

RATIO_GOAL = 1.5


def median_mac_arch(space: seknet.Space) -> seknet.Arch:
    archs = sorted(space.archs(), key=lambda a: (seknet.count(a).macs, str(a)))
    return archs[len(archs) // 2]


def standalone_seconds(cfg: OneShotConfig) -> tuple[str, float]:
    """(arch, seconds) of one stand-alone training of the median-MAC arch for ``cfg.epochs`` on all CPU threads."""
    space = seknet.load_space(cfg.space)
    arch, data = median_mac_arch(space), run_data(cfg, space.input_size)
    t = time.perf_counter()
    train_standalone(arch, data.train, TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed))
    return str(arch), time.perf_counter() - t


def main(extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(extra[extra.index("--out") + 1]) if "--out" in extra else Path(tmp) / "run"
        t = time.perf_counter()
        assert search.main(["--out", str(out), "--no-progress", *extra]) == 0
        wall = time.perf_counter() - t
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        front = read_csv(out / "pareto.csv")
        rows = read_csv(out / "evaluations.csv")
    arch, alone = standalone_seconds(OneShotConfig(**cfg["config"]))
    ratio = wall / alone
    full = sum(1 for r in rows if int(r["n_eval"]) == int(front[0]["n_eval"]))
    print(
        f"\nrun wall {wall:.0f} s (train {cfg['seconds']['train']} s, score {cfg['seconds']['score']} s); "
        f"stand-alone {arch}, {cfg['config']['epochs']} epochs: {alone:.0f} s; ratio {ratio:.2f} units "
        f"(train {cfg['seconds']['train'] / alone:.2f}, score {cfg['seconds']['score'] / alone:.2f}; "
        f"goal <= {RATIO_GOAL}: {'ok' if ratio <= RATIO_GOAL else 'MISSED'})"
    )
    print(
        f"front: {len(front)} archs (goal >= 5: {'ok' if len(front) >= 5 else 'MISSED'}); "
        f"{full} of {len(rows)} archs rescored on the full validation set after halving"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

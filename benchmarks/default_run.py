"""The default `python search.py` end to end, as a ratio to one stand-alone training timed right beside it.

Runs the default job (with any extra flags given, e.g. ``--choice-affine``) into a temporary folder (or the
``--out`` given, kept). Then it trains the space's median-MAC arch stand-alone (the recipe every trial uses) 3 times
for 5 epochs, each scaled to the supernet's epochs (an epoch costs the same at any learning rate); their median is
the unit. It prints wall(run) / unit, the run's cost in units. Machines of the same kind differ ~3x in speed, so only
the ratio is a goal: <= 1.5 units (issue 31; 2.5 in issue 12). Also prints the size of the front (goal >= 5).

    python -m benchmarks.default_run [extra run flags]
"""

from __future__ import annotations

import statistics
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
UNIT_SAMPLE, UNIT_REPEATS = 5, 3  # the unit: the median of 3 trainings of 5 epochs, scaled to the supernet's epochs


def median_mac_arch(space: seknet.Space) -> seknet.Arch:
    archs = sorted(space.archs(), key=lambda a: (seknet.count(a).macs, str(a)))
    return archs[len(archs) // 2]


def standalone_seconds(cfg: OneShotConfig, epochs: int | None = None) -> tuple[str, float]:
    """(arch, seconds) of one stand-alone training of the median-MAC arch for ``cfg.epochs`` on all CPU threads; with
    ``epochs``, a training of that many scaled to ``cfg.epochs`` (an epoch costs the same at any learning rate)."""
    space = seknet.load_space(cfg.space)
    arch, data = median_mac_arch(space), run_data(cfg, space.input_size)
    n = epochs or cfg.epochs
    t = time.perf_counter()
    train_standalone(arch, data.train, TrainConfig(n, cfg.batch_size, cfg.lr, seed=cfg.seed))
    return str(arch), (time.perf_counter() - t) * cfg.epochs / n


def main(extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kept = "--out" in extra
        out = Path(extra[extra.index("--out") + 1]) if kept else Path(tmp) / "run"
        t = time.perf_counter()
        assert search.main([*([] if kept else ["--out", str(out)]), "--no-progress", *extra]) == 0
        wall = time.perf_counter() - t
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        front = read_csv(out / "pareto.csv")
        rows = read_csv(out / "evaluations.csv")
    units = [standalone_seconds(OneShotConfig(**cfg["config"]), UNIT_SAMPLE) for _ in range(UNIT_REPEATS)]
    arch, alone = units[0][0], statistics.median(s for _, s in units)
    ratio = wall / alone
    full = sum(1 for r in rows if int(r["n_eval"]) == int(front[0]["n_eval"]))
    print(
        f"\nrun wall {wall:.0f} s (train {cfg['seconds']['train']} s, score {cfg['seconds']['score']} s); "
        f"stand-alone {arch}, {cfg['config']['epochs']} epochs: {alone:.0f} s (median of {UNIT_REPEATS} trainings "
        f"of {UNIT_SAMPLE} epochs, scaled: {', '.join(f'{s:.0f}' for _, s in units)}); ratio {ratio:.2f} units "
        f"(train {cfg['seconds']['train'] / alone:.2f}, score {cfg['seconds']['score'] / alone:.2f}; "
        f"goal <= {RATIO_GOAL}: {'ok' if ratio <= RATIO_GOAL else 'MISSED'})"
    )
    print(
        f"front: {len(front)} archs (goal >= 5: {'ok' if len(front) >= 5 else 'MISSED'}); "
        f"{full} of {len(rows)} archs rescored on the full validation set after halving"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

"""The default `python search.py` end to end: wall time / 10-minute goal, and the size of its front (goal >= 5).

Runs the default job into a temporary folder and reads back the timings it records in config.yaml.

    python benchmarks/default_run.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import search
from seknet import report


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t = time.perf_counter()
        assert search.main(["--out", str(out), "--no-progress"]) == 0
        wall = time.perf_counter() - t
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        front = report.read_csv(out / "pareto.csv")
        rows = report.read_csv(out / "evaluations.csv")
    full = sum(1 for r in rows if int(r["n_eval"]) == int(front[0]["n_eval"]))
    print(f"\nwall {wall:.0f} s (train {cfg['seconds']['train']} s, score {cfg['seconds']['score']} s); "
          f"/ 600 s goal = {wall / 600:.2f} ({'ok' if wall <= 600 else 'MISSED'})")  # fmt: skip
    print(f"front: {len(front)} archs (goal >= 5: {'ok' if len(front) >= 5 else 'MISSED'}); "
          f"{full} of {len(rows)} archs rescored on the full validation set after halving")  # fmt: skip


if __name__ == "__main__":
    main()

"""Hypervolume of the multi-trial front after N trials: NSGA-II vs random search, side by side in one run.

Both searches use the same data, epochs and seed; the hypervolume is taken in (MACs, accuracy) with
the reference point (the digits space's largest MACs, accuracy 0), MACs in millions. With --oneshot RUN,
the front of that one-shot run is scored the same way for comparison (its accuracies are supernet
scores with inherited weights, not trained ones: read it as the front's shape, not a like-for-like number).

    python benchmarks/multitrial_hv.py [--trials 64] [--epochs 3] [--oneshot results/<run>]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import seknet
from seknet import report
from seknet.pareto import hypervolume
from seknet.tune_search import MultiTrialConfig, run_multitrial


def front_hv(rows: list[dict], ref: tuple[float, float]) -> tuple[float, int]:
    front = report.front_rows(rows)
    return hypervolume([(int(r["macs"]) / 1e6, float(r["accuracy"])) for r in front], ref), len(front)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--oneshot", help="a one-shot run folder on the same space, for comparison")
    args = p.parse_args()
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    ref = (max(seknet.count(a).macs for a in space.archs()) / 1e6, 0.0)
    lines = [f"reference point: {ref[0]:.3f} MMACs, accuracy 0; {args.trials} trials x {args.epochs} epochs each"]
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in ("nsga2", "random"):
            cfg = MultiTrialConfig(out=str(Path(tmp) / sampler), sampler=sampler, trials=args.trials,
                                   epochs=args.epochs, progress=False)  # fmt: skip
            out = run_multitrial(cfg)
            rows = report.read_csv(out / "evaluations.csv")
            hv, n = front_hv(rows, ref)
            uniq = len({r["arch"] for r in rows})
            lines.append(f"{sampler:<8} HV {hv:.4f}  front {n} archs  distinct archs tried {uniq}/{len(rows)}")
    if args.oneshot:
        hv, n = front_hv(report.read_csv(Path(args.oneshot) / "evaluations.csv"), ref)
        lines.append(f"one-shot exhaustive front (supernet scores): HV {hv:.4f}, {n} archs")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

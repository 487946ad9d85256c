"""Hypervolume of the multi-trial front after N trials: Ray/Optuna NSGA-II, random, NNI evolution, in one run.

``nsga2`` and ``random`` run on Ray Tune; ``nni-evolution`` is NNI's RegularizedEvolution through
seknet's NNI backend (it optimises accuracy alone: NNI has no multi-objective strategy), with the
same per-trial training loop. All searches use the same data, epochs and seed; the hypervolume is
taken in (MACs, accuracy) with the reference point (the digits space's largest MACs, accuracy 0),
MACs in millions. With --oneshot RUN,
the front of that one-shot run is scored the same way for comparison (its accuracies are supernet
scores with inherited weights, not trained ones: read it as the front's shape, not a like-for-like number).

    python -m benchmarks.multitrial_hv [--trials 64] [--epochs 3] [--searches nsga2,random,nni-evolution]
                                       [--oneshot results/<run>]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import seknet
from seknet.core import hypervolume, read_csv
from seknet.runs import front_rows


def front_hv(rows: list[dict], ref: tuple[float, float]) -> tuple[float, int]:
    front = front_rows(rows)
    return hypervolume([(int(r["macs"]) / 1e6, float(r["accuracy"])) for r in front], ref), len(front)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--searches",
        default="nsga2,random,nni-evolution",
        help="comma-separated, run in this order",
    )
    p.add_argument("--oneshot", help="a one-shot run folder on the same space, for comparison")
    args = p.parse_args()
    space = seknet.load_space(ROOT / "search_space" / "digits.yaml")
    ref = (max(seknet.count(a).macs for a in space.archs()) / 1e6, 0.0)
    lines = [f"reference point: {ref[0]:.3f} MMACs, accuracy 0; {args.trials} trials x {args.epochs} epochs each"]
    with tempfile.TemporaryDirectory() as tmp:
        for search in args.searches.split(","):
            t0 = time.time()
            out = str(Path(tmp) / search)
            if search.startswith("nni-"):
                run = seknet.search(
                    "nni", out=out, strategy=search[4:], trials=args.trials, epochs=args.epochs, progress=False
                ).path
            else:
                run = seknet.search(
                    "multitrial", out=out, sampler=search, trials=args.trials, epochs=args.epochs, progress=False
                ).path
            rows = [r for r in read_csv(run / "evaluations.csv") if r["status"] != "over_budget"]
            hv, n = front_hv(rows, ref)
            uniq = len({r["arch"] for r in rows})
            answered = seknet.Run(run).config.get("proposals", {}).get("repeats_answered", 0)
            lines.append(
                f"{search:<14} HV {hv:.4f}  front {n} archs  distinct archs trained {uniq}/{len(rows)} "
                f"trials, {answered} repeats answered untrained  {time.time() - t0:.0f} s"
            )
            print(lines[-1], flush=True)
    if args.oneshot:
        hv, n = front_hv(read_csv(Path(args.oneshot) / "evaluations.csv"), ref)
        lines.append(f"one-shot exhaustive front (supernet scores): HV {hv:.4f}, {n} archs")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

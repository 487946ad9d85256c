"""Would a re-ranking stage fix the placement? Fine-tune the factorial archs from a run's supernet, then check.

For each run folder given, every arch of the truth table's factorial (81 on digits) is extracted from the
run's supernet.pt, trained ``--epochs`` more epochs stand-alone (SGD, ``--lr`` cosine, the run's seed), and
scored on the run's validation split: the evidence a ``--rerank`` stage would add. Rows go to
``<run>/rerank-e<E>.csv`` as they finish (a rerun keeps them). The placement answer is then the additive
model's per-stage effect vs none fitted to those scores, and the run is checked against the truth table as
``search.py check`` does (signs of the significant effects, Kendall tau over the factorial, regret).

    python -m benchmarks.truth.rerank_check RUN [RUN ...] [--epochs 1] [--lr 0.01]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

import seknet
from benchmarks.truth_remedies import finetuned
from seknet.core import OneShotConfig, factorial, load_space, truth
from seknet.data import run_data
from seknet.nn import Supernet
from seknet.runs import config_from, load_into, load_state_dict, read_run_config


def finetune(run: Path, archs: list[str], epochs: int, lr: float) -> list[dict]:
    """Rows (arch, seed, epochs, accuracy, macs) of each arch fine-tuned from ``run``'s supernet; resumable."""
    cfg = config_from(OneShotConfig, read_run_config(run / "config.yaml")["config"], run / "config.yaml")
    space = load_space(cfg.space)
    data = run_data(cfg, space.input_size)
    state = load_state_dict(run / "supernet.pt")
    net = Supernet.for_state(space, state)
    load_into(net, state, run / "supernet.pt")
    out = run / f"rerank-e{epochs}.csv"
    rows = list(csv.DictReader(out.open())) if out.exists() else []
    done = {r["arch"] for r in rows}
    with out.open("a", newline="") as f:
        w = csv.DictWriter(f, ["arch", "seed", "epochs", "accuracy", "macs"])
        if not rows:
            w.writeheader()
        for a in (a for a in archs if a not in done):
            acc = round(finetuned(net, [a], space, data, cfg, data.val, epochs, lr)[a], 6)
            row = {
                "arch": a,
                "seed": cfg.seed,
                "epochs": epochs,
                "accuracy": acc,
                "macs": seknet.count(space.parse(a)).macs,
            }
            w.writerow(row)
            f.flush()
            rows.append({k: str(v) for k, v in row.items()})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--truth", type=Path, default=ROOT / "benchmarks" / "truth" / "truth.csv")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args()
    torch.set_num_threads(1)
    table = list(csv.DictReader(args.truth.open()))
    rows_t = truth.factorial_rows(table, max(int(r["epochs"]) for r in table))
    archs = sorted({r["arch"] for r in rows_t})
    checks = {}
    for run in args.runs:
        rows = finetune(run, archs, args.epochs, args.lr)
        place = [
            {"stage": e.stage, "choice": e.a, "delta_accuracy": e.pp / 100}
            for e in factorial.main_effects(factorial.fit(rows, pairs=False))
            if e.b == "none"
        ]
        checks[f"{run} + {args.epochs} epoch(s) at lr {args.lr}"] = truth.check_run(rows_t, rows, place)
    print(truth.format_checks(checks))


if __name__ == "__main__":
    main()

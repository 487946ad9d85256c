"""What moves the supernet's rank agreement with stand-alone training: the known remedies, one run.

Takes a one-shot run on digits that has been through ``search.py retrain`` (its ``retrain.csv`` is
the truth: each arch's stand-alone accuracy, mean over seeds, on the test split) and rescores the
same archs under each variant, then prints Kendall tau and Spearman rho against that truth:

- ``as-run``      the run's supernet, 512 recalibration images, the run's validation split (sanity:
                  reproduces retrain.yaml's tau);
- ``recal-2048``  the run's supernet, 2,048 recalibration images;
- ``val-24``      the run's supernet scored on a validation split drawn 24 times per source (8,616 images);
- ``epochs-60``   a supernet trained twice as long (uniform sampling);
- ``sandwich``    a supernet trained with the sandwich rule (largest + smallest + 2 random per step);
- ``seed-1``      the run's recipe under another seed: how far two supernets agree with each other.

    python benchmarks/truth_remedies.py results/<run> [--variants as-run,recal-2048,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
import yaml

from seknet import report
from seknet.data import load_digits
from seknet.oneshot import SearchConfig, recal_batches, train_supernet
from seknet.retrain import rank_agreement
from seknet.space import load_space
from seknet.supernet import Supernet, recalibrate_bn
from seknet.train import evaluate

VARIANTS = ("as-run", "recal-2048", "val-24", "epochs-60", "sandwich", "seed-1")


def truth(run: Path) -> dict[str, float]:
    """{arch: stand-alone mean accuracy} over the archs every seed of retrain.csv completed."""
    per: dict[str, list[float]] = {}
    rows = report.read_csv(run / "retrain.csv")
    seeds = {r["seed"] for r in rows}
    for r in rows:
        if r["status"] == "complete":
            per.setdefault(r["arch"], []).append(float(r["accuracy"]))
    return {a: statistics.fmean(v) for a, v in per.items() if len(v) == len(seeds)}


def scores(net: Supernet, archs: list[str], space, data, cfg: SearchConfig, val) -> dict[str, float]:
    recal = recal_batches(data, cfg)
    return {a: evaluate(recalibrate_bn(net.extract(space.parse(a)), recal), val) / len(val) for a in archs}


def trained(space, data, cfg: SearchConfig) -> Supernet:
    return train_supernet(replace(cfg, progress=False), space, data, torch.device("cpu"))[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--variants", default=",".join(VARIANTS))
    args = p.parse_args()
    saved = yaml.safe_load((args.run / "config.yaml").read_text())
    cfg = SearchConfig(**saved["config"])
    if cfg.data != "digits" or cfg.smoke:
        raise SystemExit("error: this benchmark takes a full (non-smoke) one-shot run on digits")
    space = load_space(cfg.space)
    data = load_digits(cfg.seed)
    base = Supernet(space)
    base.load_state_dict(torch.load(args.run / "supernet.pt", weights_only=True))
    want = truth(args.run)
    archs = sorted(want)
    ceiling = yaml.safe_load((args.run / "retrain.yaml").read_text())
    print(f"{len(archs)} archs; truth = stand-alone mean on {ceiling['evaluated_on']}; "
          f"seed-vs-seed tau {ceiling['seed_vs_seed_tau']:.3f}")  # fmt: skip
    got: dict[str, dict[str, float]] = {}
    for v in args.variants.split(","):
        t0 = time.time()
        if v == "as-run":
            s = scores(base, archs, space, data, cfg, data.val)
        elif v == "recal-2048":
            s = scores(base, archs, space, data, replace(cfg, recal_images=2048), data.val)
        elif v == "val-24":
            s = scores(base, archs, space, data, cfg, load_digits(cfg.seed, eval_variants=24).val)
        elif v == "epochs-60":
            s = scores(trained(space, data, replace(cfg, epochs=2 * cfg.epochs)), archs, space, data, cfg, data.val)
        elif v == "sandwich":
            s = scores(trained(space, data, replace(cfg, sampler="sandwich")), archs, space, data, cfg, data.val)
        elif v == "seed-1":
            s = scores(trained(space, data, replace(cfg, seed=cfg.seed + 1)), archs, space, data, cfg, data.val)
        else:
            raise SystemExit(f"error: unknown variant {v!r}; valid: {','.join(VARIANTS)}")
        got[v] = s
        tau, rho = rank_agreement([s[a] for a in archs], [want[a] for a in archs])
        print(f"{v:<11} Kendall tau {tau:6.3f}  Spearman rho {rho:6.3f}  ({time.time() - t0:.0f} s)", flush=True)
    if "as-run" in got and "seed-1" in got:
        tau, _ = rank_agreement([got["as-run"][a] for a in archs], [got["seed-1"][a] for a in archs])
        print(f"supernet seed 0 vs seed 1 on these archs: Kendall tau {tau:.3f}")


if __name__ == "__main__":
    main()

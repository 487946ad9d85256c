"""Is predicted latency (sum of measured parts) good enough to search on, and is latency its own objective here?

For each space (digits at batch 1 and 128, ResNet-50 at batch 1): measure the latency table, validate it on
random archs (predicted vs measured end to end, beside the same archs measured again: goals prediction p90 <=
1.2 x re-measurement p90, and Kendall tau >= 0.9), and print per stage what SE(16) and SK(2) cost over `none`
in latency next to what they cost in MACs. Run it on an idle machine.

    python -m benchmarks.latency_model [--threads 2] [--digits 30] [--resnet 10] [--runs 30]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

import seknet
from seknet.core import latency_table
from seknet.engine import latency

ROOT = Path(__file__).resolve().parents[1]


def stage_costs(space: seknet.Space, table: dict, choices=("se16", "sk2")) -> list[str]:
    """Per stage: latency and MACs of each choice over `none`, the other stages at `none`."""
    n = len(space.stages)
    base = space.parse("-".join(["none"] * n))
    lines = []
    for i in range(n):
        parts = []
        for c in choices:
            arch = space.parse("-".join(c if j == i else "none" for j in range(n)))
            d_ms = latency_table.predict(table, arch) - latency_table.predict(table, base)
            d_macs = seknet.count(arch).macs - seknet.count(base).macs
            parts.append(
                f"{c}: {d_ms / latency_table.predict(table, base) * 100:+6.1f} % latency, "
                f"{d_macs / seknet.count(base).macs * 100:+6.2f} % MACs"
            )
        lines.append(f"  stage {i}: " + ";  ".join(parts))
    return lines


def one(space_name: str, batch: int, n_archs: int, runs: int) -> None:
    space = seknet.load_space(ROOT / "search_space" / f"{space_name}.yaml")
    table = latency.measure_table(space, "cpu", batch, None, runs)
    archs = random.Random(0).sample(space.archs(), n_archs)
    check = latency.validate(table, archs, "cpu", runs)
    p90, noise, tau = check["p90_rel_error"], check["remeasure_p90_rel_error"], check["kendall_tau"]
    ok = "ok" if p90 <= 1.2 * noise and tau >= 0.9 else "MISSED"
    print(
        f"{space_name} batch {batch}, {table['threads']} threads on CPUs {table['cpus']}, {table['device_name']}: "
        f"{check['archs']} random archs: prediction p90 {p90:.1%} (median {check['median_rel_error']:.1%}), "
        f"re-measurement p90 {noise:.1%} (median {check['remeasure_median_rel_error']:.1%}), ratio "
        f"{p90 / max(noise, 1e-9):.2f}, Kendall tau {tau:.3f} (goals ratio <= 1.2, tau >= 0.9: {ok})"
    )
    print("\n".join(stage_costs(space, table)))
    whole = [("all none", "none"), ("all se16", "se16"), ("all sk2", "sk2"), ("all sk4", "sk4")]
    n = len(space.stages)
    base = space.parse("-".join(["none"] * n))
    t_base = latency.measure_arch(base, "cpu", batch, runs)
    for label, c in whole[1:]:
        a = space.parse("-".join([c] * n))
        ratio_ms = latency.measure_arch(a, "cpu", batch, runs) / t_base
        ratio_macs = seknet.count(a).macs / seknet.count(base).macs
        print(f"  {label:<8} measured end to end: {ratio_ms:.2f}x the latency of all none, {ratio_macs:.2f}x its MACs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--digits", type=int, default=30, help="random digits archs to validate on")
    ap.add_argument(
        "--resnet",
        type=int,
        default=10,
        help="random ResNet-50-space archs to validate on (0: skip)",
    )
    ap.add_argument("--runs", type=int, default=latency.RUNS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)  # measure_table pins these threads to as many CPUs
    one("digits", 1, args.digits, args.runs)
    one("digits", 128, min(args.digits, 10), args.runs)
    if args.resnet:
        one("imagenet_resnet50", 1, args.resnet, args.runs)


if __name__ == "__main__":
    main()

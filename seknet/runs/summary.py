"""The printed report of a finished run: the front with intervals, which points cannot be told apart, placement."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seknet.runs.rows import indistinct_pairs


def summary(
    out: Path,
    rows: Sequence[dict],
    front: Sequence[dict],
    place: Sequence[dict],
    best: dict,
    secs: float,
    notes: Sequence[str] = (),
    files: str = "",
) -> str:
    """The printed report: the mode's ``notes`` (trial counts, failures, resolved effects), the front with intervals,
    which points cannot be told apart, placement (when there is one), the best arch and what was written."""
    lines = ["", *notes] if notes else [""]
    lines.append(f"Pareto front ({len(front)} of {len(rows)} archs; accuracy on {front[0]['n_eval']} images, 95 % CI):")
    width = max(len(r["arch"]) for r in front)
    ms = "latency_ms" in front[0]
    ms_head = f"  {'ms':>8}" if ms else ""
    lines.append(f"  {'arch':<{width}}  {'MACs':>12}  {'params':>10}{ms_head}  {'accuracy':>8}  95 % interval")
    for r in front:
        acc, lo, hi = (float(r[k]) * 100 for k in ("accuracy", "acc_low", "acc_high"))
        size = f"{int(r['macs']):>12,}  {int(r['params']):>10,}" + (f"  {float(r['latency_ms']):>8.3f}" if ms else "")
        lines.append(f"  {r['arch']:<{width}}  {size}  {acc:>7.2f}%  [{lo:.2f}, {hi:.2f}]")
    pairs = indistinct_pairs(front)
    if pairs:
        lines.append(f"  {len(pairs)} neighbouring pair(s) on the front cannot be told apart (intervals overlap):")
        lines.append("    " + ", ".join(f"{a} ~ {b}" for a, b in pairs))
    lines.extend(_placement_lines(place))
    lines.extend(resolved_lines(place))
    at = f", {float(best['latency_ms']):.3f} ms" if ms else ""
    lines.append(f"Best: {best['arch']}  {int(best['macs']):,} MACs{at}, {float(best['accuracy']) * 100:.2f}%")
    lines.append(f"Wrote {out}/ ({files}) in {secs:.0f} s")
    return "\n".join(lines)


def _placement_lines(place: Sequence[dict]) -> list[str]:
    """Per stage: the best choice vs none, what is free or most gain per MAC, and what cannot be told from none."""
    place = [p for p in place if p.get("vs", "none") == "none"]
    if not place:
        return []
    lines = ["Placement (accuracy vs none at the same stage, marginalised over the other stages):"]
    for i in sorted({int(p["stage"]) for p in place}):
        st = [p for p in place if int(p["stage"]) == i and p["choice"] != "none" and p["delta_accuracy"] != ""]
        if not st:
            lines.append(f"  stage {i}: no 'none' within the budget to compare with")
            continue
        top = max(st, key=lambda p: float(p["delta_accuracy"]))
        unsure = [p["choice"] for p in st if p.get("significant") == 0]
        line = (
            f"  stage {i}: best {top['choice']} ({float(top['delta_accuracy']) * 100:+.2f} pp, "
            f"{int(top['delta_macs']) / 1e6:+.3f} MMACs)"
        )
        free = [p["choice"] for p in st if float(p["delta_accuracy"]) > 0 and int(p["delta_macs"]) <= 0]
        paid = [p for p in st if float(p["delta_accuracy"]) > 0 and int(p["delta_macs"]) > 0 and p["pp_per_mmac"] != ""]
        if free:
            line += f"; better and no costlier: {', '.join(free)}"
        if paid:
            eff = max(paid, key=lambda p: float(p["pp_per_mmac"]))
            line += f"; most gain per MAC: {eff['choice']} ({float(eff['pp_per_mmac']):+.2f} pp/MMAC)"
        if unsure:
            line += f"; cannot be told from none (95 % interval holds 0): {', '.join(unsure)}"
        lines.append(line)
    return lines


def resolved_lines(place: Sequence[dict]) -> list[str]:
    """Which contrasts the run resolves (its 95 % interval excludes 0), and which it cannot tell apart."""
    sure = [p for p in place if str(p.get("significant")) == "1"]
    unsure = [p for p in place if str(p.get("significant")) == "0"]
    if not sure and not unsure:
        return []
    lines = [f"Resolved: {len(sure)} of {len(sure) + len(unsure)} contrasts (95 % interval excludes 0)"]
    for p in sure:
        d, lo, hi = (float(p[k]) * 100 for k in ("delta_accuracy", "delta_low", "delta_high"))
        word = "better" if d > 0 else "worse"
        lines.append(f"  stage {p['stage']}: {p['choice']} {word} than {p['vs']} ({d:+.2f} pp [{lo:+.2f}, {hi:+.2f}])")
    return lines

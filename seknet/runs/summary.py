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


def _resolved(p: dict) -> bool:
    """The run resolves this contrast: its claim says so (or, in files written before claims, its 95 % interval)."""
    return p.get("claim", "") == "resolved" if p.get("claim", "") != "" else str(p.get("significant")) == "1"


def _placement_lines(place: Sequence[dict]) -> list[str]:
    """Per stage: the choices resolved better than none (never a winner the evidence cannot separate), what they
    cost, and the gain per MAC where the cost is not near zero."""
    place = [p for p in place if p.get("vs", "none") == "none"]
    if not place:
        return []
    lines = ["Placement (accuracy vs none at the same stage, marginalised over the other stages):"]
    for i in sorted({int(p["stage"]) for p in place}):
        st = [p for p in place if int(p["stage"]) == i and p["choice"] != "none" and p["delta_accuracy"] != ""]
        if not st:
            lines.append(f"  stage {i}: no 'none' within the budget to compare with")
            continue
        better = sorted((p for p in st if _resolved(p) and float(p["delta_accuracy"]) > 0), key=_gain, reverse=True)
        worse = [p["choice"] for p in st if _resolved(p) and float(p["delta_accuracy"]) < 0]
        negligible = [p["choice"] for p in st if p.get("claim") == "negligible"]
        if better:
            line = f"  stage {i}: better than none: " + ", ".join(
                f"{p['choice']} ({_gain(p):+.2f} pp, {int(p['delta_macs']) / 1e6:+.3f} MMACs"
                + (f", {float(p['pp_per_mmac']):+.2f} pp/MMAC)" if p["pp_per_mmac"] != "" else ")")
                for p in better
            )
        else:
            line = f"  stage {i}: no choice resolved better than none"
        if worse:
            line += f"; worse than none: {', '.join(worse)}"
        if negligible:
            line += f"; no different from none (negligible): {', '.join(negligible)}"
        lines.append(line)
    return lines


def _gain(p: dict) -> float:
    return float(p["delta_accuracy"]) * 100


def resolved_lines(place: Sequence[dict]) -> list[str]:
    """How the run's contrasts are claimed: resolved (with the sign), negligible, or unresolved (with the trainings
    that would settle them); files written before claims count their 95 % intervals."""
    judged = [p for p in place if p.get("claim", "") != "" or str(p.get("significant")) in ("0", "1")]
    if not judged:
        return []
    sure = [p for p in judged if _resolved(p)]
    negligible = [p for p in judged if p.get("claim") == "negligible"]
    open_ = [p for p in judged if p not in sure and p not in negligible]
    lines = [
        f"Claims: {len(sure)} of {len(judged)} contrasts resolved, {len(negligible)} negligible, {len(open_)} open"
    ]
    for p in sure:
        d, lo, hi = (float(p[k]) * 100 for k in ("delta_accuracy", "delta_low", "delta_high"))
        word = "better" if d > 0 else "worse"
        lines.append(f"  stage {p['stage']}: {p['choice']} {word} than {p['vs']} ({d:+.2f} pp [{lo:+.2f}, {hi:+.2f}])")
    needs = [float(p["trainings_needed"]) for p in open_ if p.get("trainings_needed", "") not in ("", None)]
    if needs:
        lines.append(f"  the open ones need about {min(needs):.0f} to {max(needs):.0f} trainings of this design each")
    elif open_ and any(p.get("claim") == "unresolved" for p in open_):
        lines.append("  one supernet cannot measure its seed's luck: no claim without --seed-spread or --verify")
    return lines

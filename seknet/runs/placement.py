"""Placement: where attention belongs, per stage and choice, marginalised over the other stages, with intervals."""

from __future__ import annotations

from collections.abc import Sequence


def placement(rows: Sequence[dict], stages: int, choices: Sequence[str], hits: dict | None = None) -> list[dict]:
    """Per stage and choice: accuracy and MACs marginalised over the other stages, and gain per MMAC vs none.

    Uses every arch's accuracy on the same (slice) evaluation set, so all archs weigh alike. With ``hits``
    ({arch: bool tensor of the slice images it got right}), each gain vs none gets a 95 % interval from the
    run's own evidence: the gain is the mean over images of d_i = (share of the choice's archs right on image i)
    - (share of none's archs right on it), paired on the same images, so its standard error is sd(d) / sqrt(n).
    ``significant`` says whether the interval excludes 0 (blank where it cannot be computed).
    """
    import torch

    out = []
    for i in range(stages):
        stats, per_image = {}, {}
        for c in choices:
            sel = [r for r in rows if r["arch"].split("-")[i] == c]
            if sel:
                acc = sum(float(r["slice_accuracy"]) for r in sel) / len(sel)
                macs = sum(int(r["macs"]) for r in sel) / len(sel)
                stats[c] = (acc, macs, len(sel))
                if hits is not None:
                    per_image[c] = torch.stack([hits[r["arch"]] for r in sel]).float().mean(0)  # (n_images,)
        base = stats.get("none")  # a budget may leave a stage without it: deltas stay blank then
        for c, (acc, macs, n) in stats.items():
            row = {"stage": i, "choice": c, "archs": n, "mean_accuracy": round(acc, 5), "mean_macs": round(macs),
                   "delta_accuracy": "", "delta_low": "", "delta_high": "", "significant": "", "delta_macs": "",
                   "pp_per_mmac": ""}  # fmt: skip
            if base:
                d_acc, d_macs = acc - base[0], macs - base[1]
                row |= {"delta_accuracy": round(d_acc, 5), "delta_macs": round(d_macs)}
                row["pp_per_mmac"] = round(d_acc * 100 / (d_macs / 1e6), 4) if round(d_macs) else ""
                if per_image and c != "none":
                    d = per_image[c] - per_image["none"]
                    half = 1.96 * float(d.std()) / len(d) ** 0.5 if len(d) > 1 else float("nan")
                    lo, hi = float(d.mean()) - half, float(d.mean()) + half
                    row |= {"delta_low": round(lo, 5), "delta_high": round(hi, 5), "significant": int(lo > 0 or hi < 0)}
            out.append(row)
    return out

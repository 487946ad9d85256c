"""Placement: where attention belongs, per stage and choice, marginalised over the other stages, with intervals.

Each row compares a stage's ``choice`` with another choice of that stage, ``vs``: every choice vs ``none``, and each
conv-slot choice (SK) vs each attention-slot choice (SE). ``significant`` says whether the 95 % interval excludes
0: a contrast the run resolves. The contrasts are what the truth check (``search.py check``) scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from seknet.core.attention import stage_names
from seknet.core.decisions import image_interval
from seknet.core.factorial import contrasts
from seknet.core.stats import pp_per_mmac

COLUMNS = [
    "stage",
    "choice",
    "vs",
    "archs",
    "mean_accuracy",
    "mean_macs",
    "delta_accuracy",
    "delta_low",
    "delta_high",
    "significant",
    "delta_macs",
    "pp_per_mmac",
    "claim",
    "trainings_needed",
]


def placement(
    rows: Sequence[dict],
    stages: int,
    choices: Sequence[str],
    hits: dict | None = None,
    seed_spread: float | None = None,
    confidence: float = 0.9,
    margin: float = 0.25,
) -> list[dict]:
    """Per stage and contrast (:func:`seknet.core.factorial.contrasts`): accuracy and MACs marginalised over the other
    stages, the gain and its cost, and with ``hits`` a 95 % interval.

    Uses every arch's accuracy on the same (slice) evaluation set, so all archs weigh alike. With ``hits``
    ({arch: bool tensor of the slice images it got right}), the gain is the mean over images of d_i = (share of the
    choice's archs right on image i) - (share of the other's archs right on it), paired on the same images, so its
    image noise has standard error sd(d) / sqrt(n). ``seed_spread`` (pp): the standard deviation of a gain between
    supernets of other seeds, added to that in quadrature: what one supernet cannot see of its own seed's luck.
    ``claim`` (resolved, negligible, unresolved: ``seknet.core.decisions.claim`` at ``confidence`` and ``margin``)
    needs that measure: without ``seed_spread`` every contrast is ``unresolved``, whatever its image-noise interval.
    """
    import torch

    out = []
    for i in range(stages):
        stats, per_image = {}, {}
        for c in choices:
            sel = [r for r in rows if stage_names(r["arch"])[i] == c]
            if sel:
                acc = sum(float(r["slice_accuracy"]) for r in sel) / len(sel)
                macs = sum(int(r["macs"]) for r in sel) / len(sel)
                stats[c] = (acc, macs, len(sel))
                if hits is not None:
                    per_image[c] = torch.stack([hits[r["arch"]] for r in sel]).float().mean(0)  # (n_images,)
        for c, vs in contrasts(list(stats)):
            acc, macs, n = stats[c]
            row = dict.fromkeys(COLUMNS, "") | {
                "stage": i,
                "choice": c,
                "vs": vs,
                "archs": n,
                "mean_accuracy": round(acc, 5),
                "mean_macs": round(macs),
            }
            if vs in stats:  # a budget may leave a stage without it: deltas stay blank then
                d_acc, d_macs = acc - stats[vs][0], macs - stats[vs][1]
                row |= {"delta_accuracy": round(d_acc, 5), "delta_macs": round(d_macs)}
                row["pp_per_mmac"] = pp_per_mmac(d_acc * 100, d_macs, (macs + stats[vs][1]) / 2)
                if per_image and c != vs:
                    d = per_image[c] - per_image[vs]  # (n_images,): paired on the same images
                    sd = float(d.std()) if len(d) > 1 else 0.0
                    row |= image_interval(float(d.mean()), sd, len(d), seed_spread, confidence, margin)
            out.append(row)
    return out


def versus_none(place: Sequence[dict]) -> list[dict]:
    """The rows of ``place`` that compare a choice with none (placement files written before ``vs`` have only
    those)."""
    return [p for p in place if p.get("vs", "none") in ("none", None)]

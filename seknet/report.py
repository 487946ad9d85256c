"""Run results as plain files: CSVs, YAML, PNG plots, and the printed summary. Every write is atomic."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from seknet.data import wilson_interval
from seknet.pareto import knee, pareto_front

EVAL_COLUMNS = [
    "arch", "params", "macs", "attn_ops", "accuracy", "acc_low", "acc_high", "n_eval", "slice_accuracy", "on_front",
]  # fmt: skip


def accuracy_fields(correct: int, n: int) -> dict:
    """The accuracy columns of a row: accuracy, its 95 % Wilson interval (acc_low, acc_high), n_eval."""
    lo, hi = wilson_interval(correct, n)
    return {"accuracy": round(correct / n, 6), "acc_low": round(lo, 6), "acc_high": round(hi, 6), "n_eval": n}


def umask_mode() -> int:
    """The mode the user's umask gives a new file (0o644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``: never half-written.

    The file gets the mode the umask gives any new file (a temp file is created 0600, and its mode would
    survive the rename). A missing folder is a ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path}: the folder {path.parent} does not exist; create it or write elsewhere")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            os.fchmod(f.fileno(), umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_atomic(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_yaml(path: Path, data: dict) -> None:
    write_atomic(path, yaml.safe_dump(data, sort_keys=False))


def comparable_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows that may enter a front: complete (multi-trial ``status``) and scored on the full evaluation set.

    One-shot archs dropped by successive halving carry only a slice score (fewer ``n_eval``); failed,
    over-budget and early-stopped trials carry no final accuracy. Both are left out.
    """
    done = [r for r in rows if r.get("status", "complete") == "complete"]
    if not done:
        return []
    n_full = max(int(r["n_eval"]) for r in done)
    return [r for r in done if int(r["n_eval"]) == n_full]


def front_rows(rows: Sequence[dict], cost: str = "macs") -> list[dict]:
    """The non-dominated rows (lower ``cost`` column, ``macs`` or ``latency_ms``; higher accuracy) among
    :func:`comparable_rows`, by increasing cost."""
    full = comparable_rows(rows)
    idx = pareto_front([(float(r[cost]), float(r["accuracy"])) for r in full])
    return [full[i] for i in idx]


def knee_row(front: Sequence[dict], cost: str = "macs") -> dict:
    """The front's knee on the accuracy-``cost`` plane."""
    return front[knee([(float(r[cost]), float(r["accuracy"])) for r in front])]


def write_best(path: Path, space, front: Sequence[dict], budget: str | None, keys: Sequence[str],
               cost: str = "macs") -> dict:  # fmt: skip
    """Write the run's best arch as an arch YAML with its ``keys`` metrics, and return its row.

    Under a budget (``budget`` names its flag, e.g. ``--max-macs``) the best arch is the front's most accurate,
    otherwise the knee of the accuracy-``cost`` front.
    """
    best = front[-1] if budget else knee_row(front, cost)
    knee_of = "knee of the front" if cost == "macs" else f"knee of the accuracy-{cost} front"
    chosen_as = f"most accurate under {budget}" if budget else knee_of
    metrics = {k: best[k] for k in keys} | {"chosen_as": chosen_as}
    write_yaml(path, space.parse(best["arch"]).to_dict() | {"metrics": metrics})
    return best


def indistinct_pairs(front: Sequence[dict]) -> list[tuple[str, str]]:
    """Neighbouring front points whose 95 % accuracy intervals overlap: they cannot be told apart."""
    return [
        (a["arch"], b["arch"])
        for a, b in zip(front, front[1:], strict=False)
        if float(a["acc_high"]) >= float(b["acc_low"])
    ]


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


def _save_fig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_pareto(path: Path, rows: Sequence[dict], front: Sequence[dict], title: str, budget: float | None,
                cost: str = "macs") -> list[str]:  # fmt: skip
    """All archs (grey) and the front (red, with 95 % intervals) over MACs or ``latency_ms``, and beside the plot a
    table of the front, numbered. Each front point carries its number, and its arch name too where that fits
    without overlapping another label (:func:`place_labels`). Returns the archs labelled by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, side) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 1.25]})
    scale = 1e6 if cost == "macs" else 1.0
    ax.scatter([float(r[cost]) / scale for r in rows], [float(r["accuracy"]) * 100 for r in rows],
               s=6, c="0.7", label=f"all scored archs ({len(rows)})")  # fmt: skip
    fx = [float(r[cost]) / scale for r in front]
    fy = [float(r["accuracy"]) * 100 for r in front]
    err = [[y - float(r["acc_low"]) * 100 for y, r in zip(fy, front, strict=True)],
           [float(r["acc_high"]) * 100 - y for y, r in zip(fy, front, strict=True)]]  # fmt: skip
    ax.errorbar(fx, fy, yerr=err, fmt="o-", c="tab:red", ms=4, lw=1, capsize=2, label="Pareto front (95 % CI)")
    unit = "MMACs" if cost == "macs" else "ms"
    if budget:
        ax.axvline(budget / scale, ls="--", c="tab:blue", lw=1, label=f"budget {budget / scale:g} {unit}")
    ax.set_xlabel("MACs (millions, per image)" if cost == "macs" else "predicted latency (ms, batch 1)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    named = place_labels(fig, ax, list(zip(fx, fy, strict=True)), [r["arch"] for r in front])
    side.axis("off")
    lines = [f"{'#':>2}  {'arch':<22} {unit:>7} {'acc %':>6}"]
    lines += [
        f"{k:>2}  {r['arch']:<22} {x:>7.3f} {y:>6.2f}" for k, (r, x, y) in enumerate(zip(front, fx, fy, strict=True), 1)
    ]
    side.text(0, 1, "\n".join(lines), family="monospace", fontsize=7, va="top", transform=side.transAxes)
    side.set_title(f"the front ({len(front)} archs)", fontsize=9, loc="left")
    _save_fig(fig, path)
    plt.close(fig)
    return [front[i]["arch"] for i in named]


def place_labels(fig, ax, points: Sequence[tuple[float, float]], names: Sequence[str]) -> list[int]:
    """Label each point ``k`` (1-based) with ``"k name"`` where that overlaps no earlier label, else with ``"k"``;
    returns the indices labelled by name. Labels are placed left to right, so the crowded stretch keeps its first."""
    fig.canvas.draw()  # fixes the axes' limits, so label positions are final
    renderer = fig.canvas.get_renderer()
    boxes, named = [], []
    frame = ax.get_window_extent(renderer)
    for k, (x, y) in enumerate(points):
        for text in (f"{k + 1} {names[k]}", f"{k + 1}"):
            label = ax.annotate(text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
            box = label.get_window_extent(renderer).expanded(1.05, 1.15)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if text == f"{k + 1}" or (inside and not any(box.overlaps(b) for b in boxes)):
                boxes.append(box)
                named += [k] if text != f"{k + 1}" else []
                break
            label.remove()
    return named


def plot_placement(path: Path, rows: Sequence[dict], stages: int, choices: Sequence[str]) -> None:
    """Heat map: stages x choices, accuracy gained over none (pp), annotated with the MACs it costs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    unsure = {(int(r["stage"]), r["choice"]) for r in rows if r.get("significant") == 0}  # interval holds 0
    grid = np.full((stages, len(choices)), np.nan)
    cost = np.full_like(grid, np.nan)
    for r in rows:
        if r["delta_accuracy"] != "":
            j = list(choices).index(r["choice"])
            grid[int(r["stage"]), j] = float(r["delta_accuracy"]) * 100
            cost[int(r["stage"]), j] = int(r["delta_macs"]) / 1e3
    fig, ax = plt.subplots(figsize=(1.1 * len(choices) + 2, 0.8 * stages + 1.5))
    lim = float(np.nanmax(np.abs(grid), initial=0.0)) or 1.0
    im = ax.imshow(grid, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(stages):
        for j in range(len(choices)):
            if not np.isnan(grid[i, j]):
                ns = "\n(n.s.)" if (i, choices[j]) in unsure else ""
                ax.text(j, i, f"{grid[i, j]:+.2f} pp\n{cost[i, j]:+,.0f}k MACs{ns}", ha="center", va="center",
                        fontsize=7)  # fmt: skip
    ax.set_xticks(range(len(choices)), choices)
    ax.set_yticks(range(stages), [f"stage {i}" for i in range(stages)])
    ax.set_title("accuracy gained over 'none' at the same stage, marginalised over the other stages\n"
                 "(n.s.: the 95 % interval over validation images includes 0)")  # fmt: skip
    fig.colorbar(im, ax=ax, label="pp vs none")
    _save_fig(fig, path)
    plt.close(fig)


def summary(
    out: Path, rows: Sequence[dict], front: Sequence[dict], place: Sequence[dict], best: dict, secs: float
) -> str:
    """The printed report: the front with intervals, which points cannot be told apart, placement, best."""
    lines = [
        f"\nPareto front ({len(front)} of {len(rows)} scored archs; accuracy on {front[0]['n_eval']} images, 95 % CI):"
    ]
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
    lines.append("Placement (accuracy vs none at the same stage, marginalised over the other stages):")
    for i in sorted({int(p["stage"]) for p in place}):
        st = [p for p in place if int(p["stage"]) == i and p["choice"] != "none" and p["delta_accuracy"] != ""]
        if not st:
            lines.append(f"  stage {i}: no 'none' within the budget to compare with")
            continue
        top = max(st, key=lambda p: float(p["delta_accuracy"]))
        unsure = [p["choice"] for p in st if p.get("significant") == 0]
        line = (f"  stage {i}: best {top['choice']} ({float(top['delta_accuracy']) * 100:+.2f} pp, "
                f"{int(top['delta_macs']) / 1e6:+.3f} MMACs)")  # fmt: skip
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
    at = f", {float(best['latency_ms']):.3f} ms" if ms else ""
    lines.append(f"Best: {best['arch']}  {int(best['macs']):,} MACs{at}, {float(best['accuracy']) * 100:.2f}%")
    lines.append(f"Wrote {out}/ (evaluations.csv, pareto.csv/png, placement.csv/png, best.yaml, config.yaml, "
                 f"supernet.pt) in {secs:.0f} s")  # fmt: skip
    return "\n".join(lines)

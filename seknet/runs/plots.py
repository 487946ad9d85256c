"""The run's pictures: pareto.png (the front, labelled where labels fit, and its table) and placement.png."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from seknet.core.fileio import write_atomic


def _save_fig(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_pareto(
    path: Path,
    rows: Sequence[dict],
    front: Sequence[dict],
    title: str,
    budget: float | None,
    cost: str = "macs",
) -> list[str]:
    """All archs (grey) and the front (red, with 95 % intervals) over MACs or ``latency_ms``, and beside the plot a
    table of the front, numbered. Each front point carries its number, and its arch name too where that fits
    without overlapping another label (:func:`place_labels`). Returns the archs labelled by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, side) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [3, 1.25]})
    scale = 1e6 if cost == "macs" else 1.0
    xs, ys = [float(r[cost]) / scale for r in rows], [float(r["accuracy"]) * 100 for r in rows]
    ax.scatter(xs, ys, s=6, c="0.7", label=f"all scored archs ({len(rows)})")
    fx = [float(r[cost]) / scale for r in front]
    fy = [float(r["accuracy"]) * 100 for r in front]
    err = [
        [y - float(r["acc_low"]) * 100 for y, r in zip(fy, front, strict=True)],
        [float(r["acc_high"]) * 100 - y for y, r in zip(fy, front, strict=True)],
    ]
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

    rows = [r for r in rows if r.get("vs", "none") == "none"]
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
                ax.text(
                    j,
                    i,
                    f"{grid[i, j]:+.2f} pp\n{cost[i, j]:+,.0f}k MACs{ns}",
                    ha="center",
                    va="center",
                    fontsize=7,
                )
    ax.set_xticks(range(len(choices)), choices)
    ax.set_yticks(range(stages), [f"stage {i}" for i in range(stages)])
    ax.set_title(
        "accuracy gained over 'none' at the same stage, marginalised over the other stages\n"
        "(n.s.: the 95 % interval over validation images includes 0)"
    )
    fig.colorbar(im, ax=ax, label="pp vs none")
    _save_fig(fig, path)
    plt.close(fig)

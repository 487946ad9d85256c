from __future__ import annotations

import itertools

from seknet.runs import plots


def _crowded_front(n: int = 19) -> list[dict]:
    """A front like the default run's: ``n`` archs packed into 6.2-6.9 M MACs, accuracy rising with MACs."""
    names = ["-".join(c) for c in itertools.product(("sk2", "se16", "none"), repeat=4)][:n]
    return [
        {
            "arch": a,
            "macs": 6_200_000 + 700_000 * k // n,
            "accuracy": 0.80 + 0.002 * k,
            "acc_low": 0.79 + 0.002 * k,
            "acc_high": 0.81 + 0.002 * k,
        }
        for k, a in enumerate(names)
    ]


def test_pareto_labels_never_overlap_and_every_front_arch_is_in_the_table(tmp_path):
    """On a crowded front, the names drawn on the plot do not overlap one another, some are drawn, the rest carry
    their number only, and the table beside the plot lists every front arch (by its number)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front = _crowded_front()
    fig, ax = plt.subplots()
    ax.plot([float(r["macs"]) / 1e6 for r in front], [r["accuracy"] * 100 for r in front], "o")
    named = plots.place_labels(
        fig, ax, [(r["macs"] / 1e6, r["accuracy"] * 100) for r in front], [r["arch"] for r in front]
    )
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if " " in t.get_text()]  # the labels with a name
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert 3 <= len(named) < len(front) and len(texts) == len(named)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    assert sorted(int(t.get_text().split()[0]) for t in ax.texts) == list(range(1, len(front) + 1))
    plt.close(fig)

    rows = [r | {"params": 1} for r in front]
    drawn = plots.plot_pareto(tmp_path / "p.png", rows, rows, "crowded", None)
    assert drawn and set(drawn) < {r["arch"] for r in front} and (tmp_path / "p.png").stat().st_size > 10_000

"""The cost axis of a run: exact MACs (the papers' "FLOPs"), or latency predicted from a measured table.

``--objective macs`` (default) draws the front as accuracy vs MACs; ``--objective latency`` as accuracy vs
``latency_ms``, the arch's latency predicted by :func:`seknet.latency.predict` from a table measured on the
target device (``--latency-table F``, or measured when the run starts). Either budget, ``--max-macs`` or
``--max-latency``, prunes archs before anything is trained or scored. Every mode (one-shot, multi-trial,
NNI) asks this module which archs are in budget and what an arch costs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from seknet import latency, report
from seknet.arch import Arch
from seknet.count import count
from seknet.runconfig import RunConfig
from seknet.space import Space

COLUMN = {"macs": "macs", "latency": "latency_ms"}  # objective (OBJECTIVES) -> its evaluations.csv column
TABLE_FILE = "latency.yaml"  # the run's latency table, kept in its folder
SMOKE_RUNS = 3  # timed runs per part when a smoke run measures its table


def column(objective: str) -> str:
    """The evaluations.csv column an ``objective`` minimizes: ``macs`` or ``latency_ms``."""
    return COLUMN[objective]


def needs_table(cfg: RunConfig) -> bool:
    """Whether a run needs latency: it minimizes it, prunes by it, or was given a table to report it."""
    return cfg.objective == "latency" or cfg.max_latency is not None or cfg.latency_table is not None


def run_table(cfg: RunConfig, space: Space, kept: Path | None = None) -> dict | None:
    """The latency table of a run (None when it needs none): ``cfg.latency_table`` checked against the space
    and ``cfg.latency_device``, or one measured now on that device at batch 1 (the current threads).
    ``kept``: the table a resumed run kept in its folder, read instead of measuring again."""
    if not needs_table(cfg):
        return None
    if kept is not None and Path(kept).is_file():
        return latency.load_table(kept, space, cfg.latency_device)
    if cfg.latency_table is not None:
        return latency.load_table(cfg.latency_table, space, cfg.latency_device)
    if cfg.latency_device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--latency-device cuda: no CUDA device here; measure a table there and pass "
                             "--latency-table F, or use --latency-device cpu")  # fmt: skip
    return latency.measure_table(space, cfg.latency_device, runs=SMOKE_RUNS if cfg.smoke else latency.RUNS)


def latency_ms(table: dict, arch: Arch) -> float:
    """``arch``'s predicted latency in ms, rounded as evaluations.csv keeps it."""
    return round(latency.predict(table, arch), 4)


def cost_of(objective: str, table: dict | None) -> Callable[[Arch], float]:
    """What ``objective`` minimizes, as a function of the arch: its MACs or its predicted latency (ms)."""
    if objective == "latency":
        if table is None:
            raise ValueError("--objective latency needs a latency table; pass --latency-table F")
        return lambda a: latency_ms(table, a)
    return lambda a: count(a).macs


def budget_archs(space: Space, max_macs: int | None, max_latency: float | None = None,
                 table: dict | None = None) -> list[Arch]:  # fmt: skip
    """The archs of ``space`` within both budgets; ValueError naming the cheapest arch when none fits."""
    archs = space.archs()
    kept = [a for a in archs if max_macs is None or count(a).macs <= max_macs]
    if not kept:
        smallest = min(archs, key=lambda a: count(a).macs)
        raise ValueError(
            f"--max-macs {max_macs:,} is below the smallest arch of {space.name}: {smallest} with "
            f"{count(smallest).macs:,} MACs; raise the budget"
        )
    if max_latency is None:
        return kept
    if table is None:
        raise ValueError("--max-latency needs a latency table; pass --latency-table F or let the run measure one")
    fast = [a for a in kept if latency_ms(table, a) <= max_latency]
    if not fast:
        quickest = min(kept, key=lambda a: latency_ms(table, a))
        raise ValueError(
            f"--max-latency {max_latency:g} ms is below the fastest arch of {space.name}"
            f"{' within --max-macs' if max_macs else ''}: {quickest} at {latency_ms(table, quickest):g} ms "
            f"predicted on {table.get('device_name', table['device'])}; raise the budget"
        )
    return fast


def add_latency(rows: list[dict], space: Space, table: dict | None) -> list[dict]:
    """``rows`` (in place) with each arch's predicted ``latency_ms`` when there is a table; blank for a bad arch."""
    if table is not None:
        for r in rows:
            try:
                r["latency_ms"] = latency_ms(table, space.parse(r["arch"]))
            except ValueError:  # a failed trial's bad arch: its row says why
                r["latency_ms"] = ""
    return rows


def columns(base: list[str], table: dict | None) -> list[str]:
    """evaluations.csv columns: ``base`` with ``latency_ms`` after ``macs`` when the run has a latency table."""
    if table is None:
        return list(base)
    i = base.index("macs") + 1
    return [*base[:i], "latency_ms", *base[i:]]


def write_table(partial: Path, table: dict | None) -> None:
    """Keep the run's latency table in its folder (``latency.yaml``), so its latency_ms can be traced."""
    if table is not None:
        report.write_yaml(partial / TABLE_FILE, table)


def budget_flags(cfg: RunConfig) -> str | None:
    """The budget flags a run was given, as best.yaml's ``chosen_as`` names them (None without a budget)."""
    given = [f for f, v in (("--max-macs", cfg.max_macs), ("--max-latency", cfg.max_latency)) if v is not None]
    return " and ".join(given) or None


def axis_budget(cfg: RunConfig) -> float | None:
    """The budget on the front's cost axis (drawn in pareto.png): ``max_macs`` or ``max_latency``."""
    return cfg.max_latency if cfg.objective == "latency" else cfg.max_macs

"""A run's objective: what its front trades accuracy against, and the budgets that prune archs before any work.

``--objective macs`` (default) draws the front as accuracy vs exact MACs (the papers' "FLOPs"); ``--objective
latency`` as accuracy vs ``latency_ms``, each arch's latency predicted from a table measured on the target device
(``seknet.core.latency_table``). ``--max-macs`` and ``--max-latency`` prune archs before anything is trained or
scored. Every mode asks the run's :class:`Objective` which archs are in budget and what an arch costs; a resumed run
gets the objective it started with, its saved table included (``seknet.runs.spine.prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass

from seknet.core.config import RunConfig
from seknet.core.count import count
from seknet.core.latency_table import predict
from seknet.core.space import Arch, Space

COLUMN = {
    "macs": "macs",
    "latency": "latency_ms",
}  # objective (OBJECTIVES) -> its evaluations.csv column
TABLE_FILE = "latency.yaml"  # the run's latency table, kept in its folder


def column(objective: str) -> str:
    """The evaluations.csv column an ``objective`` minimizes: ``macs`` or ``latency_ms``."""
    return COLUMN[objective]


def needs_table(cfg: RunConfig) -> bool:
    """Whether a run needs latency: it minimizes it, prunes by it, or was given a table to report it."""
    return cfg.objective == "latency" or cfg.max_latency is not None or cfg.latency_table is not None


def latency_ms(table: dict, arch: Arch) -> float:
    """``arch``'s predicted latency in ms, rounded as evaluations.csv keeps it."""
    return round(predict(table, arch), 4)


@dataclass(frozen=True)
class Objective:
    """The run's cost axis (``name``: macs or latency), its budgets, and its latency table (None when the run needs
    no latency)."""

    name: str = "macs"
    table: dict | None = None
    max_macs: int | None = None
    max_latency: float | None = None

    @classmethod
    def of(cls, cfg: RunConfig, table: dict | None) -> Objective:
        """The objective ``cfg`` asks for, with the run's ``table``."""
        if cfg.objective == "latency" and table is None:
            raise ValueError("--objective latency needs a latency table; pass --latency-table F")
        return cls(cfg.objective, table, cfg.max_macs, cfg.max_latency)

    @property
    def column(self) -> str:
        """The evaluations.csv column the front minimizes: ``macs`` or ``latency_ms``."""
        return COLUMN[self.name]

    def cost(self, arch: Arch) -> float:
        """What the front minimizes for ``arch``: its MACs or its predicted latency (ms)."""
        return latency_ms(self.table, arch) if self.name == "latency" else count(arch).macs

    def in_budget(self, space: Space) -> list[Arch]:
        """The archs of ``space`` within both budgets; ValueError naming the cheapest arch when none fits."""
        archs = space.archs()
        kept = [a for a in archs if self.max_macs is None or count(a).macs <= self.max_macs]
        if not kept:
            smallest = min(archs, key=lambda a: count(a).macs)
            raise ValueError(
                f"--max-macs {self.max_macs:,} is below the smallest arch of {space.name}: {smallest} with "
                f"{count(smallest).macs:,} MACs; raise the budget"
            )
        if self.max_latency is None:
            return kept
        if self.table is None:
            raise ValueError("--max-latency needs a latency table; pass --latency-table F or let the run measure one")
        fast = [a for a in kept if latency_ms(self.table, a) <= self.max_latency]
        if not fast:
            quickest = min(kept, key=lambda a: latency_ms(self.table, a))
            within = " within --max-macs" if self.max_macs else ""
            where = self.table.get("device_name", self.table["device"])
            raise ValueError(
                f"--max-latency {self.max_latency:g} ms is below the fastest arch of {space.name}{within}: {quickest} "
                f"at {latency_ms(self.table, quickest):g} ms predicted on {where}; raise the budget"
            )
        return fast

    def columns(self, base: list[str]) -> list[str]:
        """evaluations.csv columns: ``base`` with ``latency_ms`` after ``macs`` when the run has a latency table."""
        if self.table is None:
            return list(base)
        i = base.index("macs") + 1
        return [*base[:i], "latency_ms", *base[i:]]

    def with_latency(self, rows: list[dict], space: Space) -> list[dict]:
        """``rows`` (in place) with each arch's predicted ``latency_ms`` when there is a table; blank for a bad arch."""
        if self.table is not None:
            for r in rows:
                try:
                    r["latency_ms"] = latency_ms(self.table, space.parse(r["arch"]))
                except ValueError:  # a failed trial's bad arch: its row says why
                    r["latency_ms"] = ""
        return rows

    @property
    def budget_flags(self) -> str | None:
        """The budget flags of the run, as best.yaml's ``chosen_as`` names them (None without a budget)."""
        given = [f for f, v in (("--max-macs", self.max_macs), ("--max-latency", self.max_latency)) if v is not None]
        return " and ".join(given) or None

    @property
    def axis_budget(self) -> float | None:
        """The budget on the front's cost axis (drawn in pareto.png): ``max_macs`` or ``max_latency``."""
        return self.max_latency if self.name == "latency" else self.max_macs

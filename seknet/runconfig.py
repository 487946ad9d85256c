"""What every search run is told, whatever its mode: the shared base of the one-shot, multi-trial and NNI configs.

The mode configs (:class:`seknet.oneshot.SearchConfig`, :class:`seknet.tune_search.MultiTrialConfig`,
:class:`seknet.nni_search.NniConfig`) add their own fields; the CLI flags carry the same names and take
their defaults and help from these dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass

OBJECTIVES = ("macs", "latency")


@dataclass(frozen=True)
class RunConfig:
    """The space to search, the data, the budget, where the run goes, and the seed."""

    space: str = "search_space/digits.yaml"
    data: str = "digits"
    data_root: str | None = None  # folder of CIFAR / ImageFolder files
    out: str | None = None  # run folder; default results/<time>-<space>-<data>
    max_macs: int | None = None  # budget: archs above it are never trained or scored
    objective: str = "macs"  # the front's cost axis: macs (exact) or latency (predicted from a measured table)
    latency_table: str | None = None  # a `search.py latency` table of the target device; measured at start if None
    latency_device: str = "cpu"  # the device the latency is for: the table's, or where it is measured
    max_latency: float | None = None  # budget in ms of predicted latency: archs above it are never trained or scored
    seed: int = 0
    smoke: bool = False  # tiny budgets, for CI
    progress: bool = True

    def __post_init__(self) -> None:
        if self.max_macs is not None and self.max_macs < 1:
            raise ValueError(f"--max-macs must be a positive count of MACs, not {self.max_macs}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {self.objective!r}; valid: {'|'.join(OBJECTIVES)}")
        if self.latency_device not in ("cpu", "cuda"):
            raise ValueError(f"unknown --latency-device {self.latency_device!r}; valid: cpu|cuda")
        if self.max_latency is not None and not self.max_latency > 0:
            raise ValueError(f"--max-latency must be a positive number of ms, not {self.max_latency}")

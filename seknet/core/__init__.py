"""core: the torch-free base. The space and its arch strings, counts, configs, files, and the analysis that reads
trainings: the factorial (``factorial``), its statistics (``stats``), decisions (``decisions``) and the truth tables
(``truth``). What this ``__all__`` names is public; the other modules of the folder are internal."""

from seknet.core import decisions, factorial, latency_table, stats, truth
from seknet.core.attention import ALL_CHOICES, Choice
from seknet.core.config import MultiTrialConfig, NniConfig, OneShotConfig
from seknet.core.count import Count  # count() is seknet.count: core.count stays the module
from seknet.core.fileio import read_csv, read_yaml, write_csv, write_yaml
from seknet.core.pareto import hypervolume, pareto_front
from seknet.core.space import Arch, Space, load_arch, load_space

__all__ = [
    "ALL_CHOICES",
    "Arch",
    "Choice",
    "Count",
    "MultiTrialConfig",
    "NniConfig",
    "OneShotConfig",
    "Space",
    "decisions",
    "factorial",
    "hypervolume",
    "latency_table",
    "load_arch",
    "load_space",
    "pareto_front",
    "read_csv",
    "read_yaml",
    "stats",
    "truth",
    "write_csv",
    "write_yaml",
]

"""runs: a run's folder and files (write, read back, record). What this ``__all__`` names is public; the other names
of the folder are internal."""

from seknet.runs.files import FinishedRun, config_from, load_into, load_run, load_state_dict, read_run_config
from seknet.runs.folder import git_commit
from seknet.runs.rows import front_rows

__all__ = [
    "FinishedRun",
    "config_from",
    "front_rows",
    "git_commit",
    "load_into",
    "load_run",
    "load_state_dict",
    "read_run_config",
]

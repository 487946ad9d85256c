"""The config family of a search run: a shared base and one dataclass per mode, each field with its help.

:class:`RunConfig` holds what every run is told (space, data, budget, out, seed); :class:`OneShotConfig`,
:class:`MultiTrialConfig` and :class:`NniConfig` add their mode's fields. All validation lives here, in
``__post_init__``. ``search.py run`` builds its flags from these fields (:func:`run_flags`): a flag carries
the field's name, type, choices, default and help, so the CLI and the Python API cannot drift apart.
Pure Python: no torch, Ray or NNI, so ``--help`` and a bad flag need none of them.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

OBJECTIVES = ("macs", "latency")
DATASETS = ("digits", "digits-plain", "cifar10", "cifar100", "imagefolder")  # what seknet.data loads
SAMPLERS = ("uniform", "sandwich", "fair", "balanced")  # one-shot supernet path sampling (seknet.train)
DDP_SAMPLERS = ("uniform", "balanced")  # one arch per step: data-parallel training reduces once per step
MT_SAMPLERS = ("nsga2", "tpe", "random", "grid")  # multi-trial proposal samplers (seknet.tune_search)
INITS = ("scratch", "supernet")
MULTI_TRIAL = ("random", "grid", "evolution", "tpe")  # NNI multi-trial strategies (seknet.nni_search)
ONE_SHOT = ("spos", "darts", "gumbel-darts", "proxyless")  # NNI one-shot strategies
STRATEGIES = MULTI_TRIAL + ONE_SHOT


def opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    """A config field with its CLI help (and choices)."""
    return field(default=default, metadata={"help": help, "choices": choices})


def check_sampler(sampler: str) -> None:
    """ValueError unless ``sampler`` trains one arch per step, as data-parallel training needs."""
    if sampler not in DDP_SAMPLERS:
        raise ValueError(f"--train-workers > 1 trains one arch per step: use --sampler {'|'.join(DDP_SAMPLERS)}, "
                         f"not {sampler}")  # fmt: skip


@dataclass(frozen=True)
class RunConfig:
    """The space to search, the data, the budget, where the run goes, and the seed."""

    space: str = opt("search_space/digits.yaml", "space YAML")
    data: str = opt("digits", "dataset: digits (bundled), CIFAR files or an ImageFolder under --data-root", DATASETS)
    data_root: str | None = opt(None, "folder holding CIFAR / ImageFolder files")
    out: str | None = opt(None, "run folder (default: results/<time>-<space>-<data>)")
    max_macs: int | None = opt(None, "MAC budget, e.g. 7.5M: archs above it are never trained or scored")
    objective: str = opt("macs", "the front's cost axis: macs (exact) or latency (predicted from a latency table)",
                         OBJECTIVES)  # fmt: skip
    latency_table: str | None = opt(None, "a `search.py latency` table of the target device (default: measure one "
                                    "on --latency-device when the run starts)")  # fmt: skip
    latency_device: str = opt("cpu", "the device latency is for: the table's, or where it is measured",
                              ("cpu", "cuda"))  # fmt: skip
    max_latency: float | None = opt(None, "latency budget, e.g. 2.5ms: archs predicted slower are never trained "
                                    "or scored")  # fmt: skip
    seed: int = opt(0, "seed of data order, sampling and initial weights")
    smoke: bool = opt(False, "tiny budgets (CI): 1 epoch, small data")
    progress: bool = opt(True, "progress bars")

    def __post_init__(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(f"unknown --data {self.data!r}; valid: {'|'.join(DATASETS)}")
        if self.max_macs is not None and self.max_macs < 1:
            raise ValueError(f"--max-macs must be a positive count of MACs, not {self.max_macs}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown --objective {self.objective!r}; valid: {'|'.join(OBJECTIVES)}")
        if self.latency_device not in ("cpu", "cuda"):
            raise ValueError(f"unknown --latency-device {self.latency_device!r}; valid: cpu|cuda")
        if self.max_latency is not None and not self.max_latency > 0:
            raise ValueError(f"--max-latency must be a positive number of ms, not {self.max_latency}")


@dataclass(frozen=True)
class OneShotConfig(RunConfig):
    """A one-shot run (``search.py run``): train a supernet, score every arch with inherited weights."""

    epochs: int = opt(30, "supernet training epochs")
    batch_size: int = opt(128, "training batch (the global batch under --train-workers)")
    lr: float = opt(0.1, "peak SGD learning rate (cosine schedule)")
    sampler: str = opt("uniform", "supernet path sampling: uniform (SPOS), sandwich, fair (FairNAS) or balanced "
                       "(plain and SK conv 1:1)", SAMPLERS)  # fmt: skip
    choice_affine: bool = opt(False, "per-choice affine of each block's last BN in the supernet")
    freeze_unused: bool = opt(False, "weight decay and momentum leave the sliced rows a step did not use")
    recal_images: int = opt(512, "BN recalibration images, from the training split")
    recal_batch: int = opt(128, "BN recalibration batch")
    slice: float = opt(0.25, "successive halving: first-round share of the validation set")
    workers: int | None = opt(None, "Ray scoring tasks at once (default: min(CPUs, first-stage choices))")
    gpus_per_worker: float = opt(0.0, "GPU share per scoring (and --train-workers training) worker, e.g. 0.25")
    address: str | None = opt(
        None,
        "join this Ray cluster (HOST:PORT that `ray start --head` printed; its "
        "token is sent when ~/.ray/auth_token or RAY_AUTH_TOKEN exists), not a new one",
    )
    exhaustive_limit: int = opt(10_000, "score every arch up to this many; above it NSGA-II samples the space")
    evaluations: int = opt(2_000, "NSGA-II budget of scored archs beyond --exhaustive-limit")
    train_workers: int = opt(1, "train the supernet data-parallel on N Ray Train workers (DDP; 1: in process)")
    max_failures: int = opt(2, "--train-workers: restarts of the worker group from the last epoch checkpoint")
    checkpoint_minutes: float = opt(0.0, "write the epoch checkpoint (for --resume and restarts) at most every this "
                                    "many minutes; 0: after every epoch")  # fmt: skip

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r} for oneshot; valid: {'|'.join(SAMPLERS)}")
        if self.train_workers < 1 or self.max_failures < 0 or self.checkpoint_minutes < 0:
            raise ValueError("--train-workers must be >= 1, --max-failures and --checkpoint-minutes >= 0")
        if self.train_workers > 1:
            check_sampler(self.sampler)


SearchConfig = OneShotConfig  # the name before the config family; kept for scripts that use it


@dataclass(frozen=True)
class MultiTrialConfig(RunConfig):
    """A multi-trial run (``search.py run --mode multitrial``): each trial trains one arch stand-alone on Ray Tune."""

    trials: int = opt(16, "trials to run")
    epochs: int = opt(5, "training epochs of each trial")
    init: str = opt("scratch", "train each trial from scratch, or from a one-shot run's weights (--supernet)", INITS)
    supernet: str | None = opt(None, "--init supernet: a one-shot run folder holding supernet.pt")
    sampler: str = opt("nsga2", "the proposal sampler: nsga2, tpe, random (Optuna) or grid", MT_SAMPLERS)
    asha: bool = opt(False, "ASHA early stopping")
    grace_epochs: int = opt(1, "ASHA: epochs before a trial may be stopped")
    gpus_per_trial: float = opt(0.0, "GPU share per trial, e.g. 0.25")
    cpus_per_trial: int = opt(1, "CPUs per trial")
    batch_size: int = opt(128, "training batch")
    lr: float = opt(0.1, "peak SGD learning rate (cosine schedule)")
    address: str | None = opt(None, "join this Ray cluster (HOST:PORT) instead of starting one")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sampler not in MT_SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r} for multitrial; valid: {'|'.join(MT_SAMPLERS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown --init {self.init!r}; valid: {'|'.join(INITS)}")
        if self.init == "supernet" and not self.supernet:
            raise ValueError("--init supernet needs --supernet RUN, a one-shot run folder with supernet.pt")


@dataclass(frozen=True)
class NniConfig(RunConfig):
    """A run of ``search.py run --backend nni``: an NNI 3.0 strategy over the same space."""

    strategy: str = opt("evolution", "multi-trial random | grid | evolution | tpe, or one-shot spos | darts | "
                        "gumbel-darts | proxyless", STRATEGIES)  # fmt: skip
    trials: int = opt(16, "multi-trial: archs trained; one-shot: archs exported and scored")
    epochs: int = opt(5, "training epochs of each trial, or of the one-shot supernet")
    batch_size: int = opt(128, "training batch")
    lr: float = opt(0.1, "multi-trial SGD peak rate (seknet's loop); one-shot strategies use NNI's Adam at 1e-3")
    population: int = opt(16, "evolution: population size (NNI's default 100 exceeds most budgets here)")
    recal_images: int = opt(512, "one-shot: BN recalibration images per exported arch")
    recal_batch: int = opt(128, "one-shot: BN recalibration batch")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown --strategy {self.strategy!r} for --backend nni; valid: {'|'.join(STRATEGIES)}")
        if self.trials < 1 or self.epochs < 1:
            raise ValueError("--trials and --epochs must be >= 1")


CONFIGS = {"oneshot": OneShotConfig, "multitrial": MultiTrialConfig, "nni": NniConfig}


@dataclass(frozen=True)
class Flag:
    """One ``search.py run`` flag: a field of one or more mode configs."""

    name: str  # the field name; the flag is --name-with-dashes
    type: str  # int, float, bool or str (a None default makes it optional)
    choices: tuple[str, ...] | None
    help: str  # per mode when the modes differ: "oneshot: ... (default 30); multitrial: ... (default 5)"


def _default(f: Field) -> Any:
    return None if f.default is MISSING else f.default


def run_flags() -> list[Flag]:
    """The flags of ``search.py run``: every field of every mode config, once, with help naming the modes it
    applies to and their defaults."""
    by_name: dict[str, list[tuple[str, Field]]] = {}
    for mode, cls in CONFIGS.items():
        for f in fields(cls):
            by_name.setdefault(f.name, []).append((mode, f))
    flags = []
    for name, uses in by_name.items():
        f = uses[0][1]
        choices = tuple(dict.fromkeys(c for _, g in uses for c in g.metadata["choices"] or ())) or None
        texts = {(g.metadata["help"], _default(g)) for _, g in uses}
        if len(uses) == len(CONFIGS) and len(texts) == 1:
            help = _with_default(f.metadata["help"], _default(f))
        else:
            help = "; ".join(f"{m}: {_with_default(g.metadata['help'], _default(g))}" for m, g in uses)
        flags.append(Flag(name, f.type.split(" |")[0], choices, help))
    return flags


def _with_default(help: str, default: Any) -> str:
    if default is None or isinstance(default, bool):
        return help
    return f"{help} (default {default:,})" if isinstance(default, int) else f"{help} (default {default})"

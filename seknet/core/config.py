"""The config family of a search run: a shared base and one dataclass per mode, each field with its help.

:class:`RunConfig` holds what every run is told (space, data, budget, out, seed); :class:`OneShotConfig`,
:class:`MultiTrialConfig` and :class:`NniConfig` add their mode's fields. All validation lives here, in
``__post_init__``. ``search.py run`` builds its flags from these fields (:func:`run_flags`): a flag carries
the field's name, type, choices, default and help, so the CLI and the Python API cannot drift apart.
Pure Python: no torch, Ray or NNI, so ``--help`` and a bad flag need none of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, ClassVar

from seknet.core.plugins import DATASETS, DEVICES, MODES, PROPOSERS, SAMPLERS, STRATEGIES, load_ref

OBJECTIVES = ("macs", "latency")
INITS = ("scratch", "supernet")
READS = ("plain", "ema", "swa")  # the weights a stand-alone training is read with (seknet.engine.averaging)
VERIFY_READS = ("auto", *READS)  # --verify-read: auto, or one of READS


def opt(
    default: Any,
    help: str,
    choices: Iterable[str] | None = None,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
) -> Any:
    """A config field with its CLI help, and what values it takes: ``choices``, or a number in [``low``, ``high``]
    (``open_low``: ``low`` itself excluded). :func:`check_fields` enforces it for the CLI and the API alike."""
    return field(
        default=default,
        metadata={"help": help, "choices": choices, "low": low, "high": high, "open_low": open_low},
    )


def flag(name: str) -> str:
    """The CLI flag of a config field: ``--name-with-dashes``."""
    return "--" + name.replace("_", "-")


def _rule(meta: dict) -> str:
    """The range a field's value must lie in, as a message says it: '>= 0', '> 0', 'in (0, 1]'."""
    low, high, open_low = meta["low"], meta["high"], meta["open_low"]
    if high is not None:
        return f"in {'(' if open_low else '['}{low:g}, {high:g}]"
    return f"> {low:g}" if open_low else f">= {low:g}"


def check_fields(cfg: Any, mode: str = "") -> None:
    """One ValueError naming the flag of the first field of ``cfg`` whose value has the wrong type, is not one of
    its choices, or lies outside its range; the CLI prints it as one line."""
    for f in fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        if value is None or not meta:
            continue
        kind, name = f.type.split(" |")[0], flag(f.name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {
            "int": number and isinstance(value, int),
            "float": number and math.isfinite(value),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
        }[kind]
        if not ok:
            want = {
                "int": "a whole number",
                "float": "a finite number",
                "bool": "true or false",
                "str": "text",
            }[kind]
            raise ValueError(f"{name} must be {want}, got {value!r}")
        if meta["choices"] and value not in meta["choices"]:
            runs = f" for {mode} runs" if mode else ""
            raise ValueError(f"unknown {name} {value!r}{runs}; valid: {'|'.join(meta['choices'])}")
        low, high = meta["low"], meta["high"]
        if (low is not None and (value < low or (meta["open_low"] and value == low))) or (
            high is not None and value > high
        ):
            raise ValueError(f"{name} must be {_rule(meta)}, got {value!r}")


def check_sampler(sampler: str) -> None:
    """ValueError unless ``sampler`` trains one arch per step, as data-parallel training needs."""
    ddp = SAMPLERS.names(one_per_step=True)
    if sampler not in ddp:
        raise ValueError(f"--train-workers > 1 trains one arch per step: use --sampler {'|'.join(ddp)}, not {sampler}")


@dataclass(frozen=True)
class RunConfig:
    """The space to search, the data, the budget, where the run goes, and the seed."""

    space: str = opt("search_space/digits.yaml", "space YAML")
    data: str = opt(
        "digits",
        "dataset: digits (bundled), CIFAR files or an ImageFolder under --data-root",
        DATASETS,
    )
    data_root: str | None = opt(None, "folder holding CIFAR / ImageFolder files")
    out: str | None = opt(None, "run folder (default: results/<time>-<space>-<data>)")
    max_macs: int | None = opt(None, "MAC budget, e.g. 7.5M: archs above it are never trained or scored", low=1)
    objective: str = opt(
        "macs",
        "the front's cost axis: macs (exact) or latency (predicted from a latency table)",
        OBJECTIVES,
    )
    latency_table: str | None = opt(
        None,
        "a `search.py latency` table of the target device (default: measure one "
        "on --latency-device when the run starts)",
    )
    latency_device: str = opt("cpu", "the device latency is for: the table's, or where it is measured", DEVICES)
    max_latency: float | None = opt(
        None,
        "latency budget, e.g. 2.5ms: archs predicted slower are never trained or scored",
        low=0,
        open_low=True,
    )
    confidence: float = opt(
        0.9,
        "confidence of every decision the run states (pick within epsilon, resolved, negligible)",
        low=0.5,
        high=0.999,
    )
    margin: float = opt(0.25, "an effect whose interval lies within +-this many pp is negligible (TOST)", low=0)
    seed: int = opt(0, "seed of data order, sampling and initial weights", low=0)
    smoke: bool = opt(False, "tiny budgets (CI): 1 epoch, small data")
    progress: bool = opt(True, "progress bars")

    MODE: ClassVar[str] = ""  # the mode messages name ("oneshot", ...)

    def __post_init__(self) -> None:
        check_fields(self, self.MODE)


@dataclass(frozen=True)
class OneShotConfig(RunConfig):
    """A one-shot run (``search.py run``): train a supernet, score every arch with inherited weights."""

    MODE: ClassVar[str] = "oneshot"

    epochs: int = opt(30, "supernet training epochs", low=0)
    batch_size: int = opt(128, "training batch (the global batch under --train-workers)", low=1)
    lr: float = opt(0.1, "peak SGD learning rate (cosine schedule)", low=0, open_low=True)
    sampler: str = opt(
        "uniform",
        "supernet path sampling: uniform (SPOS), sandwich, fair (FairNAS) or balanced (plain and SK conv 1:1)",
        SAMPLERS,
    )
    choice_affine: bool = opt(False, "per-choice affine of each block's last BN in the supernet")
    freeze_unused: bool = opt(False, "weight decay and momentum leave the sliced rows a step did not use")
    recal_images: int = opt(512, "BN recalibration images, from the training split", low=1)
    recal_batch: int = opt(128, "BN recalibration batch", low=1)
    slice: float = opt(
        0.25,
        "successive halving: first-round share of the validation set",
        low=0,
        high=1,
        open_low=True,
    )
    workers: int | None = opt(None, "Ray scoring tasks at once (default: min(CPUs, first-stage choices))", low=1)
    gpus_per_worker: float = opt(0.0, "GPU share per scoring (and --train-workers training) worker, e.g. 0.25", low=0)
    address: str | None = opt(
        None,
        "join this Ray cluster (HOST:PORT that `ray start --head` printed; its "
        "token is sent when ~/.ray/auth_token or RAY_AUTH_TOKEN exists), not a new one",
    )
    exhaustive_limit: int = opt(10_000, "score every arch up to this many; above it NSGA-II samples the space", low=1)
    evaluations: int = opt(2_000, "NSGA-II budget of scored archs beyond --exhaustive-limit", low=1)
    proposer: str = opt("nsga2", "the proposer that picks the archs to score beyond --exhaustive-limit", PROPOSERS)
    train_workers: int = opt(1, "train the supernet data-parallel on N Ray Train workers (DDP; 1: in process)", low=1)
    max_failures: int = opt(2, "--train-workers: restarts of the worker group from the last epoch checkpoint", low=0)
    checkpoint_minutes: float = opt(
        0.0,
        "write the epoch checkpoint (for --resume and restarts) at most every this many minutes; 0: after every epoch",
        low=0,
    )
    seed_spread: float | None = opt(
        None,
        "SD (pp) of a placement gain between supernets of other seeds, if you measured it (e.g. with "
        "benchmarks/placement_spread.py), added to every placement interval; unset, the intervals hold image noise "
        "only and the run claims no effect resolved or negligible, as one supernet cannot measure its seed's luck",
        low=0,
    )
    verify: bool = opt(
        False,
        "after the screening, train the reduced factorial stand-alone (Ray Tune trials): "
        "placement and front from stand-alone evidence (seknet.modes.verify)",
    )
    verify_epochs: int = opt(8, "--verify: epochs each stand-alone training runs (what it costs)", low=1)
    verify_schedule: int | None = opt(
        None,
        "--verify: epochs of the cosine schedule each training follows; longer than --verify-epochs, it stops there "
        "and is read with the EMA of its weights (the early read); equal, a complete schedule read with SWA "
        "(--verify-read); unset: twice --verify-epochs, the early read that needs the least compute per "
        "contrast (benchmarks/README.md, 'Noise floor')",
        low=1,
    )
    verify_read: str = opt(
        "auto",
        "--verify: the weights each training is read with: auto (the EMA where it stops early, SWA over the last "
        "quarter of a complete schedule: the reads that need the fewest trainings, benchmarks/README.md 'Noise "
        "floor'), ema, swa (a complete schedule only) or plain",
        VERIFY_READS,
    )
    verify_seeds: int = opt(1, "--verify: seeds per verified arch", low=1)
    verify_archs: int | None = opt(
        27,
        "--verify: train at most this many archs of the reduced factorial (the 3^(n-1) fraction where it fits)",
        low=1,
    )
    budget_units: float | None = opt(
        None,
        "--verify: after the first design, keep training the archs each budget's pick still hinges on, until every "
        "budget's epsilon is at most --epsilon or this many units (30-epoch trainings of the median arch) are spent",
        low=0,
        open_low=True,
    )
    epsilon: float = opt(
        0.5, "--budget-units: the target (pp) of every budget's 'pick within epsilon of the best'", low=0
    )
    verify_continue: int = opt(
        2,
        "--budget-units with an early read: at each look, continue the trainings of this many archs at the top of "
        "each unsettled budget's indifference set (the pick first) to the end of their schedule, and decide on "
        "the end's accuracy, the early read's drift from it measured (benchmarks/README.md, 'Continued "
        "contenders'); 0: none, the stated epsilon then bounds the early read only",
        low=0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.train_workers > 1:
            check_sampler(self.sampler)
        if self.verify_schedule is not None and self.verify_schedule < self.verify_epochs:
            raise ValueError(
                f"--verify-schedule {self.verify_schedule} is shorter than --verify-epochs {self.verify_epochs}: a "
                "training cannot run past its schedule; raise it, or leave it unset (twice --verify-epochs)"
            )
        if self.verify_read == "swa" and self.verify_schedule != self.verify_epochs:
            raise ValueError(
                "--verify-read swa averages the last quarter of a complete schedule: set --verify-schedule equal to "
                "--verify-epochs, or read an early stop with --verify-read ema"
            )

    @staticmethod
    def as_before(saved: dict) -> dict:
        """The settings a run saved before they existed, as that run had them (a resumed or extended run goes on as
        it began): a verification saved without ``verify_schedule`` trained complete schedules; one saved without
        ``verify_read`` read an early stop with the EMA and a complete schedule with the plain weights; one saved
        without ``verify_continue`` continued no training."""
        epochs = saved.get("verify_epochs", 8)
        before = {} if "verify_schedule" in saved else {"verify_schedule": epochs}
        if "verify_continue" not in saved:
            before["verify_continue"] = 0
        if "verify_read" not in saved:
            schedule = {**saved, **before}.get("verify_schedule") or 2 * epochs
            before["verify_read"] = "ema" if schedule > epochs else "plain"
        return before


SearchConfig = OneShotConfig  # the name before the config family; kept for scripts that use it


@dataclass(frozen=True)
class MultiTrialConfig(RunConfig):
    """A multi-trial run (``search.py run --mode multitrial``): each trial trains one arch stand-alone on Ray Tune."""

    MODE: ClassVar[str] = "multitrial"

    trials: int = opt(16, "trials to run", low=1)
    epochs: int = opt(5, "training epochs of each trial", low=1)
    init: str = opt(
        "scratch",
        "train each trial from scratch, or from a one-shot run's weights (--supernet)",
        INITS,
    )
    supernet: str | None = opt(None, "--init supernet: a one-shot run folder holding supernet.pt")
    sampler: str = opt("nsga2", "the proposal sampler: nsga2, tpe, random (Optuna) or grid", PROPOSERS)
    asha: bool = opt(False, "ASHA early stopping")
    curves: bool = opt(True, "evaluate every epoch: learning curves in study.db as trials finish (about 8 % dearer)")
    grace_epochs: int = opt(1, "ASHA: epochs before a trial may be stopped", low=1)
    gpus_per_trial: float = opt(0.0, "GPU share per trial, e.g. 0.25", low=0)
    cpus_per_trial: int = opt(1, "CPUs per trial", low=1)
    batch_size: int = opt(128, "training batch", low=1)
    lr: float = opt(0.1, "peak SGD learning rate (cosine schedule)", low=0, open_low=True)
    address: str | None = opt(None, "join this Ray cluster (HOST:PORT) instead of starting one")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.init == "supernet" and not self.supernet:
            raise ValueError("--init supernet needs --supernet RUN, a one-shot run folder with supernet.pt")


@dataclass(frozen=True)
class NniConfig(RunConfig):
    """A run of ``search.py run --backend nni``: an NNI 3.0 strategy over the same space."""

    MODE: ClassVar[str] = "nni"

    strategy: str = opt(
        "evolution",
        "multi-trial random | grid | evolution | tpe, or one-shot spos | darts | gumbel-darts | proxyless",
        STRATEGIES,
    )
    trials: int = opt(16, "multi-trial: archs trained; one-shot: archs exported and scored", low=1)
    epochs: int = opt(5, "training epochs of each trial, or of the one-shot supernet", low=1)
    batch_size: int = opt(128, "training batch", low=1)
    lr: float = opt(
        0.1,
        "multi-trial SGD peak rate (seknet's loop); one-shot strategies use NNI's Adam at 1e-3",
        low=0,
        open_low=True,
    )
    population: int = opt(16, "evolution: population size (NNI's default 100 exceeds most budgets here)", low=2)
    recal_images: int = opt(512, "one-shot: BN recalibration images per exported arch", low=1)
    recal_batch: int = opt(128, "one-shot: BN recalibration batch", low=1)


def configs() -> dict[str, type]:
    """{mode: its config class}, for every registered mode (``seknet.core.plugins.MODES``, its ``config`` info)."""
    return {name: load_ref(plugin.info["config"]) for name, plugin in MODES.items()}


def smoke(mode: str) -> dict:
    """--smoke's tiny budgets for ``mode`` (its registration's ``smoke`` info); a setting given explicitly wins."""
    return dict(MODES[mode].info.get("smoke", {}))


SMOKE_DATA = {"train_variants": 1, "eval_variants": 1}  # digits drawn once per source
SMOKE_LATENCY_RUNS = 3  # timed runs per part when a smoke run measures its latency table


@dataclass(frozen=True)
class Flag:
    """One ``search.py run`` flag: a field of one or more mode configs."""

    name: str  # the field name; the flag is --name-with-dashes
    type: str  # int, float, bool or str (a None default makes it optional)
    choices: tuple[str, ...] | None  # the registry's names when the field names a plugin
    help: str  # per mode when the modes differ: "oneshot: ... (default 30); multitrial: ... (default 5)"


def _default(f: Field) -> Any:
    return None if f.default is MISSING else f.default


def run_flags() -> list[Flag]:
    """The flags of ``search.py run``: every field of every mode config, once, with help naming the modes it
    applies to and their defaults."""
    by_name: dict[str, list[tuple[str, Field]]] = {}
    modes = configs()
    for mode, cls in modes.items():
        for f in fields(cls):
            by_name.setdefault(f.name, []).append((mode, f))
    flags = []
    for name, uses in by_name.items():
        f = uses[0][1]
        choices = tuple(dict.fromkeys(c for _, g in uses for c in g.metadata["choices"] or ())) or None
        texts = {(g.metadata["help"], _default(g)) for _, g in uses}
        if len(uses) == len(modes) and len(texts) == 1:
            help = _with_default(f.metadata["help"], _default(f))
        else:
            help = "; ".join(f"{m}: {_with_default(g.metadata['help'], _default(g))}" for m, g in uses)
        flags.append(Flag(name, f.type.split(" |")[0], choices, help))
    return flags


def _with_default(help: str, default: Any) -> str:
    if default is None or isinstance(default, bool):
        return help
    return f"{help} (default {default:,})" if isinstance(default, int) else f"{help} (default {default})"

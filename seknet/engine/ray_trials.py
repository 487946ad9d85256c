"""Stand-alone trainings as Ray Tune trials: the one trainable and the one runner of jobs with a ledger, which
multi-trial search, verification, retrain and the truth benchmarks share.

A trial's config names its job: ``arch`` (and optionally ``seed`` and ``epochs``; else the run's), either at the
top level (a searcher's suggestion) or under ``job`` (a grid of jobs). The trial trains the arch stand-alone
(``seknet.engine.standalone``: from ``build_model(arch)``'s seeded weights, or from a supernet's) and reports its
correct count on ``data.val`` after the last epoch, or after every epoch for a scheduler such as ASHA. A job may
name a longer cosine ``schedule`` than its ``epochs``: it then stops after ``epochs`` and reports the EMA of its
weights (the early read, benchmarks/README.md "Noise floor"; mid-schedule the plain weights rank nothing). A job may
also name its ``read`` (``READS``): the plain weights, their EMA, or SWA over the last quarter of a complete schedule
(benchmarks/README.md "Noise floor": the SWA read of a complete schedule needs × 0.90 the trainings). A crash or a
NaN loss fails the trial, and Tune records why (``error_line``). Ray is imported here and in the other Ray adapters
only.

:func:`train_jobs` runs a list of jobs as one grid experiment and keeps every finished one in a ledger CSV
(``LEDGER`` columns, :class:`Ledger`), so that no (arch, seed, epochs) evaluated on the same images is ever trained
twice, resumes included.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from seknet.core.config import READS
from seknet.core.fileio import read_csv, write_csv
from seknet.core.space import Space
from seknet.data.split import Data
from seknet.engine.averaging import WeightAverages
from seknet.engine.ray_session import ray_session, tune_settings
from seknet.engine.standalone import initial_model, train_standalone
from seknet.engine.train import TrainConfig, evaluate
from seknet.nn.supernet import Supernet

LEDGER = ["arch", "seed", "epochs", "correct", "n_eval", "accuracy", "status", "error", "seconds"]


def job_of(config: dict) -> dict:
    """The job a trial's config names: {"arch": ..., optionally "seed", "epochs" and "schedule"}."""
    return config.get("job", config)


def job_read(job: dict, tcfg: TrainConfig) -> str:
    """The weights a job's training is read with (``READS``): the job's ``read``, else the EMA where the training
    stops early (``tcfg`` from :func:`job_config`) and the plain weights after a complete schedule. SWA averages the
    last quarter of the schedule, so a training that stops early has none: a ValueError."""
    read = job.get("read", "ema" if tcfg.stop_epoch else "plain")
    if read not in READS:
        raise ValueError(f"job {job}: read {read!r} is not one of {', '.join(READS)}")
    if read == "swa" and tcfg.stop_epoch:
        raise ValueError(f"job {job}: SWA averages the last quarter of a complete schedule, and this one stops early")
    return read


def job_config(tcfg: TrainConfig, job: dict) -> TrainConfig:
    """The recipe of one job: ``tcfg`` with the job's seed, and its ``epochs`` trained of a cosine ``schedule``
    (default: the same epochs, a complete schedule; longer: it stops after ``epochs``, see ``stop_epoch``)."""
    epochs = int(job.get("epochs", tcfg.epochs))
    schedule = int(job.get("schedule", epochs))
    if schedule < epochs:
        raise ValueError(f"job {job}: its schedule ({schedule} epochs) is shorter than the epochs it trains")
    seed = int(job.get("seed", tcfg.seed))
    return replace(tcfg, seed=seed, epochs=schedule, stop_epoch=epochs if schedule > epochs else 0)


def standalone_trial(
    config: dict,
    space: Space,
    data: Data,
    tcfg: TrainConfig,
    init_state: dict | None = None,
    every_epoch: bool = False,
    threads: int = 1,
) -> None:
    """One Tune trial: train the job's arch stand-alone by ``tcfg`` (its seed and epochs unless the job names them),
    then report accuracy, correct, n_eval and epoch on ``data.val``, read with the job's weights (:func:`job_read`);
    with ``every_epoch``, after every epoch (a SWA read: the plain weights until SWA's first epoch)."""
    import ray
    from ray import tune

    job = job_of(config)
    arch = space.parse(job["arch"])
    tcfg = job_config(tcfg, job)
    read = job_read(job, tcfg)
    averages = None if read == "plain" else WeightAverages(tcfg.epochs)
    torch.set_num_threads(max(1, threads))
    # built before training: on_epoch evaluates it
    if init_state is None:
        model = initial_model(arch, tcfg.seed)
    else:
        model = Supernet.for_state(space, init_state).extract(arch)
    device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"

    def on_epoch(epoch: int, loss: float) -> None:
        if every_epoch or epoch == tcfg.trained_epochs:
            if read == "ema":
                weights = averages.ema_model(model)
            elif read == "swa" and averages.swa_count:
                weights = averages.swa_model(model, data.train)
            else:
                weights = model
            correct, n = evaluate(weights, data.val, device), len(data.val)
            tune.report(
                {
                    "accuracy": correct / n,
                    "correct": correct,
                    "n_eval": n,
                    "epoch": epoch,
                    "loss": loss,
                }
            )

    checkpoint = job_state(job, tcfg)
    train_standalone(arch, data.train, tcfg, device, model, on_epoch, averages, checkpoint)
    if checkpoint is not None and not tcfg.stop_epoch:  # a continuation done: its copy and the state it continued
        checkpoint.unlink(missing_ok=True)
        Path(job["state"]).unlink(missing_ok=True)


def job_state(job: dict, tcfg: TrainConfig) -> Path | None:
    """The checkpoint a job's training uses (its ``state``: a path), made ready for it. A training that stops early
    starts afresh (a file left by a killed try is removed: the averages it reads are not in it) and leaves its state
    at the epoch it stops at; a complete one whose ``state`` file exists continues from it (a continuation: it costs
    the epochs left and, on CPU, ends with exactly the weights of a training that never stopped), through a copy of
    its own, so that a retried continuation starts from the same epoch (once it is done, :func:`standalone_trial`
    removes both). None: no state (absent, or not found: the training runs its whole schedule, with the same result
    on CPU)."""
    if "state" not in job:
        return None
    state = Path(job["state"])
    if tcfg.stop_epoch:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.unlink(missing_ok=True)
        return state
    if not state.is_file():
        return None
    going = state.with_name(state.name + ".continued")
    shutil.copyfile(state, going)
    return going


def experiment(
    trainable, folder: Path, progress: bool, restore: bool = False, what: str = "", callbacks: tuple = (), **tune_config
):
    """The Ray Tune experiment ``folder``/tune: restored (its finished trials kept, the rest run) when ``restore``,
    else a new one over ``trainable`` with ``tune_config`` (``param_space``, ``tune_config``) and Tune
    ``callbacks`` (a restored experiment keeps its own); a trial that fails is recorded and the others go on. A
    saved state that cannot be restored is one ValueError naming ``what`` to do.

    A new experiment reuses its worker processes (Tune's ``reuse_actors``): one process trains trial after trial,
    where a new one per trial would import torch and load the data again, seconds per training."""
    from ray import tune

    store = Path(folder).resolve()
    if restore:
        try:
            return tune.Tuner.restore(str(store / "tune"), trainable=trainable, resume_errored=False)
        except Exception as e:  # noqa: BLE001 - Ray raises many kinds on a damaged experiment state
            raise ValueError(
                f"{folder}/tune: the saved experiment cannot be restored ({error_line(e)}); {what}"
            ) from None
    run_config = tune.RunConfig(
        name="tune",
        storage_path=str(store),
        verbose=1 if progress else 0,
        failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        callbacks=list(callbacks),
    )
    settings = replace(tune_config.pop("tune_config", None) or tune.TuneConfig(), reuse_actors=True)
    return tune.Tuner(trainable, run_config=run_config, tune_config=settings, **tune_config)


def trial_callback(on_trial):
    """A Ray Tune callback that calls ``on_trial(folder, job, metrics, curve, error)`` in the driver as each trial
    finishes: the folder that holds the experiment (where it is now: a restored run may have moved), the trial's job
    (:func:`job_of`), its last reported metrics, its accuracy per reported epoch ({epoch: accuracy}) and, for a
    failed trial, its error line (else None). Tune saves the callback with the experiment and calls the restored one
    on resume, so ``on_trial`` must pickle (a module-level function, or a ``functools.partial`` of one)."""
    from ray.tune import Callback

    class Finished(Callback):
        def __init__(self) -> None:
            self.on_trial, self.curves = on_trial, {}

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if "epoch" in result and "accuracy" in result:
                self.curves.setdefault(trial.trial_id, {})[int(result["epoch"])] = float(result["accuracy"])

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self._done(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self._done(trial, trial_error(trial))

        def _done(self, trial, error: str | None) -> None:
            metrics = dict(trial.last_result or {}) | {"trial_id": trial.trial_id}
            folder = Path(trial.storage.experiment_fs_path).parent
            self.on_trial(folder, job_of(trial.config), metrics, self.curves.pop(trial.trial_id, {}), error)

    return Finished()


def trial_error(trial) -> str:
    """Why a failed Tune trial failed: its error's last line, or "failed" when Tune kept none."""
    error = trial.get_error()
    return error_line(error) if error is not None else "failed"


def error_line(error: BaseException) -> str:
    """The last line of a trial's error (Ray wraps it in a traceback): the reason to record."""
    lines = [ln.strip() for ln in str(error).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def local_gpus(gpus_per_trial: float, address: str | None) -> int | None:
    """The GPUs a local Ray is started with: every visible CUDA device when trials take GPU shares; None (Ray counts
    them itself, or the cluster at ``address`` has its own) otherwise."""
    return torch.cuda.device_count() if gpus_per_trial > 0 and not address else None


def standalone_trainable(
    space: Space,
    data: Data,
    tcfg: TrainConfig,
    gpus_per_trial: float = 0.0,
    cpus_per_trial: int = 1,
    init_state: dict | None = None,
    every_epoch: bool = False,
):
    """:func:`standalone_trial` bound to its space, data and recipe, asking Ray for ``cpus_per_trial`` CPUs (and as
    many threads) and a ``gpus_per_trial`` share of a GPU."""
    from ray import tune

    trainable = tune.with_parameters(
        standalone_trial,
        space=space,
        data=data,
        tcfg=tcfg,
        init_state=init_state,
        every_epoch=every_epoch,
        threads=cpus_per_trial,
    )
    return tune.with_resources(trainable, trial_resources(gpus_per_trial, cpus_per_trial))


def trial_resources(gpus_per_trial: float = 0.0, cpus_per_trial: int = 1) -> dict:
    """What one stand-alone trial asks Ray for: CPUs and a share of a GPU (0.25: four trials per GPU)."""
    return {"cpu": cpus_per_trial, "gpu": gpus_per_trial}


def job_key(row: dict) -> tuple[str, int, int]:
    """(arch, seed, epochs): what a ledger row or a job is keyed by."""
    return row["arch"], int(row["seed"]), int(row["epochs"])


def ledger_row(job: dict, metrics: dict | None, error: str | None = None, epochs: int | None = None) -> dict:
    """The ledger row of one Tune trial of ``job`` from its last reported ``metrics``: complete with its correct
    count, or failed with the reason (``error``, no result, or, when ``epochs`` is given, a trial that stopped
    before it)."""
    m = metrics or {}
    row = {"arch": job["arch"], "seed": job["seed"], "epochs": job.get("epochs", epochs)}
    stopped = epochs is not None and m.get("epoch") != epochs
    if error is not None or "correct" not in m or stopped:
        why = error or (f"stopped after {m.get('epoch', 0)} epochs" if stopped else "no result")
        return row | {"correct": "", "n_eval": "", "accuracy": "", "status": "failed", "error": why, "seconds": ""}
    acc = int(m["correct"]) / int(m["n_eval"])
    return row | {
        "correct": m["correct"],
        "n_eval": m["n_eval"],
        "accuracy": round(acc, 6),
        "status": "complete",
        "error": "",
        "seconds": round(float(m.get("time_total_s", 0.0)), 1),
    }


class Ledger:
    """The ledger CSV of stand-alone trainings (``LEDGER`` columns, one row per (arch, seed, epochs)), held by the
    driver and rewritten whole (atomically) at every change, so that a kill -9 at any moment leaves the ledger as it
    was before or after one row.

    ``counted`` are the keys that count as done for an evaluation on ``n_eval`` images: complete on ``n_eval``
    images, or failed (unless ``retry_failed``). A complete row replaces any row of its key; a failed one only a row
    that does not count."""

    def __init__(self, path: Path, n_eval: int, retry_failed: bool = False) -> None:
        """The ledger at ``path`` (empty when there is none); a damaged one is a ValueError naming it."""
        self.path = Path(path)
        try:
            self.rows = {job_key(r): r for r in (read_csv(self.path) if self.path.is_file() else [])}
            self.counted = {k for k, r in self.rows.items() if _counts(r, n_eval, retry_failed)}
        except (KeyError, TypeError, ValueError, csv.Error, UnicodeDecodeError) as e:
            why = f"no {e} column" if isinstance(e, KeyError) else str(e).splitlines()[0]
            raise ValueError(
                f"{self.path}: damaged ledger of trainings ({why}); remove it and its trainings are run again"
            ) from None

    def add(self, row: dict) -> None:
        """Add ``row`` (a :func:`ledger_row`) and rewrite the file, unless it changes nothing: a trial's row comes at
        its last report, at its end and after the experiment, and the file is written once."""
        key = job_key(row)
        if self.rows.get(key) == row and key in self.counted:
            return
        if row["status"] == "complete" or key not in self.counted:
            self.rows[key] = row
            self.counted.add(key)
            write_csv(self.path, sorted(self.rows.values(), key=job_key), LEDGER)

    def done(self, jobs: list[dict]) -> list[dict]:
        """The rows of ``jobs`` that count as done, in their order."""
        return [self.rows[job_key(j)] for j in jobs if job_key(j) in self.counted]


def ledger_callback(ledger: Ledger):
    """A Ray Tune callback that adds each trial to ``ledger`` in the driver: complete as soon as its last epoch is
    reported, before Tune writes that result to the trial's result.json (Tune calls user callbacks before its
    loggers), so a run killed between the report and the trial's end does not train it again; failed (or stopped
    short) when the trial ends without it."""
    from ray.tune import Callback

    class Recorder(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            job = job_of(trial.config)
            if result.get("epoch") == int(job["epochs"]) and "correct" in result:
                ledger.add(ledger_row(job, result, None, int(job["epochs"])))

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self._ended(trial, None)

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self._ended(trial, trial_error(trial))

        def _ended(self, trial, error: str | None) -> None:
            job = job_of(trial.config)
            ledger.add(ledger_row(job, trial.last_result, error, int(job["epochs"])))

    return Recorder()


def train_jobs(
    jobs: list[dict],
    trainable,
    folder: Path,
    n_eval: int,
    progress: bool = False,
    address: str | None = None,
    gpus: int | None = None,
    retry_failed: bool = False,
    ledger: Path | None = None,
    num_cpus: int | None = None,
    callbacks: tuple = (),
) -> list[dict]:
    """Train every job ({"arch", "seed", "epochs"}, optionally "schedule") not yet in ``folder``/trainings.csv as one
    Ray Tune grid over ``trainable`` (see :func:`standalone_trainable`); returns the ledger rows of ``jobs``, in their
    order. Each trial gets its job whole; the same (arch, seed, epochs) named twice is one trial.

    A ledger row counts as done when it was evaluated on ``n_eval`` images (complete), or failed (unless
    ``retry_failed``). Each trial is added to the ledger by the driver as it reports its last epoch
    (:func:`ledger_callback`), so an interrupted run resumes by calling this again: a new experiment in
    ``folder``/tune trains only the jobs the ledger lacks (an interrupted Tune experiment is never restored, since
    Tune would train again a trial that had reported but not yet ended).
    ``gpus``: what a local Ray is started with (:func:`local_gpus`); ``address`` joins a cluster instead.
    ``ledger``: the ledger file, when several experiment folders share one (default ``folder``/trainings.csv).
    ``num_cpus``: the CPUs a local Ray is started with (trials at once, one CPU each; default all).
    ``callbacks``: more Tune callbacks (e.g. :func:`trial_callback`).
    """
    from ray import tune

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    book = Ledger(ledger if ledger is not None else folder / "trainings.csv", n_eval, retry_failed)
    first: dict[tuple[str, int, int], dict] = {}
    for j in jobs:  # a job named twice is trained once; what else it names (its schedule) goes to its trial
        first.setdefault(job_key(j), j)
    todo = [
        j | dict(zip(("arch", "seed", "epochs"), k, strict=True)) for k, j in first.items() if k not in book.counted
    ]
    if todo:
        grid = {"job": tune.grid_search(todo)}
        with tune_settings(), ray_session(address, num_cpus=num_cpus, num_gpus=gpus):
            callbacks = (ledger_callback(book), *callbacks)
            tuner = experiment(trainable, folder, progress, callbacks=callbacks, param_space=grid)
            for result in tuner.fit():  # what the callback may have missed: a trial that never started
                job = job_of(result.config)
                error = error_line(result.error) if result.error is not None else None
                book.add(ledger_row(job, result.metrics, error, int(job["epochs"])))
    return book.done(jobs)


def _counts(row: dict, n_eval: int, retry_failed: bool) -> bool:
    if row["status"] == "complete":
        return str(row["n_eval"]) == str(n_eval)
    return not retry_failed

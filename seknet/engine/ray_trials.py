"""Stand-alone trainings as Ray Tune trials: the one trainable that multi-trial search, verification and retrain run.

A trial's config names its job: ``arch`` (and optionally ``seed`` and ``epochs``; else the run's), either at the
top level (a searcher's suggestion) or under ``job`` (a grid of jobs). The trial trains the arch stand-alone
(``seknet.engine.standalone``: from ``build_model(arch)``'s seeded weights, or from a supernet's) and reports its
correct count on ``data.val`` after the last epoch, or after every epoch for a scheduler such as ASHA. A crash or a
NaN loss fails the trial, and Tune records why (``error_line``). Ray is imported here and in the other Ray adapters
only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from seknet.core.space import Space
from seknet.data.split import Data
from seknet.engine.standalone import initial_model, train_standalone
from seknet.engine.train import TrainConfig, evaluate
from seknet.nn.supernet import Supernet


def job_of(config: dict) -> dict:
    """The job a trial's config names: {"arch": ..., optionally "seed" and "epochs"}."""
    return config.get("job", config)


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
    then report accuracy, correct, n_eval and epoch on ``data.val``; with ``every_epoch``, after every epoch."""
    import ray
    from ray import tune

    job = job_of(config)
    arch = space.parse(job["arch"])
    tcfg = replace(tcfg, seed=int(job.get("seed", tcfg.seed)), epochs=int(job.get("epochs", tcfg.epochs)))
    torch.set_num_threads(max(1, threads))
    # built before training: on_epoch evaluates it
    if init_state is None:
        model = initial_model(arch, tcfg.seed)
    else:
        model = Supernet.for_state(space, init_state).extract(arch)
    device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"

    def on_epoch(epoch: int, loss: float) -> None:
        if every_epoch or epoch == tcfg.epochs:
            correct, n = evaluate(model, data.val, device), len(data.val)
            tune.report(
                {
                    "accuracy": correct / n,
                    "correct": correct,
                    "n_eval": n,
                    "epoch": epoch,
                    "loss": loss,
                }
            )

    train_standalone(arch, data.train, tcfg, device, model=model, on_epoch=on_epoch)


def experiment(trainable, folder: Path, progress: bool, restore: bool, what: str, **tune_config):
    """The Ray Tune experiment ``folder``/tune: restored (its finished trials kept, the rest run) when ``restore``,
    else a new one over ``trainable`` with ``tune_config`` (``param_space``, ``tune_config``); a trial that fails is
    recorded and the others go on. A saved state that cannot be restored is one ValueError naming ``what`` to do."""
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
    )
    return tune.Tuner(trainable, run_config=run_config, **tune_config)


def error_line(error: BaseException) -> str:
    """The last line of a trial's error (Ray wraps it in a traceback): the reason to record."""
    lines = [ln.strip() for ln in str(error).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]

"""Data-parallel supernet training on Ray Train: ``TorchTrainer`` with DDP (gloo on CPU and shared GPUs, nccl on
whole GPUs).

``run --train-workers N`` trains the one-shot supernet on N Ray Train workers (``--gpus-per-worker G`` each
on GPUs, one CPU each otherwise; ``--address`` for a cluster). Every worker runs :func:`seknet.engine.train.train`
with ``shard=(rank, N)``: the same seed gives every worker the same global batches and the same sampled
arch per step, each trains on its ``rank::N`` slice of the batch, and DDP averages the gradients, so the
global batch (``--batch-size``) and the cosine schedule over its steps mean the same for any N; the learning
rate is not rescaled. One difference remains: batch norm normalizes each worker's slice by the slice's own
statistics (B / N images, not B), as DDP without SyncBatchNorm does; the losses then differ slightly from one
worker's (tested to a tolerance). Steps train one arch each (uniform or balanced sampler): the fair and
sandwich samplers backpropagate several archs per step, which DDP cannot reduce once per step.

Rank 0 writes the per-epoch checkpoint into the run's ``.partial`` folder (a local or shared path), every
worker reads it when it starts: a worker that dies makes Ray Train restart the group
(``FailureConfig(max_failures)``), which continues after the last finished epoch; ``run --resume`` does
the same after the whole run was killed. Ray is imported here and in the other Ray adapters only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from seknet.core.config import check_sampler
from seknet.data.split import Data
from seknet.engine.samplers import Paths
from seknet.engine.train import TrainConfig, checkpoint_accuracies, checkpoint_epochs, train
from seknet.nn.supernet import Supernet


def _worker(config: dict) -> None:
    """One Ray Train worker: build the supernet, wrap it in DDP, train its shard; rank 0 checkpoints."""
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    tcfg: TrainConfig = config["tcfg"]
    torch.set_num_threads(config["threads"])
    torch.manual_seed(tcfg.seed)
    paths: Paths = config["paths"]
    net = Supernet(paths.space, choice_affine=config["choice_affine"])
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(net, parallel_strategy_kwargs={"find_unused_parameters": True})
    if rank == 0:  # one line per start of the worker group: restarts after failures are the extra lines
        with open(config["starts"], "a") as f:
            f.write("start\n")

    def report(epoch: int, loss: float) -> None:
        ray.train.report({"epoch": epoch, "loss": loss})

    train(
        model,
        config["data"].train,
        tcfg,
        device,
        paths,
        progress=False,
        on_epoch=report,
        checkpoint=config["checkpoint"],
        shard=(rank, world),
    )


def train_supernet_ddp(
    tcfg: TrainConfig,
    paths: Paths,
    data: Data,
    checkpoint: Path,
    workers: int,
    gpus_per_worker: float = 0.0,
    choice_affine: bool = False,
    max_failures: int = 2,
    storage: Path | None = None,
) -> tuple[Supernet, list[float], list[float], int]:
    """Train a supernet on ``paths`` on ``workers`` Ray Train workers (Ray must be started); see the module doc.

    Returns the trained supernet (on CPU), its per-epoch losses and training accuracies, and how many times Ray
    Train restarted the workers after a failure.
    """
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    check_sampler(paths.sampler)
    use_gpu = gpus_per_worker > 0
    resources = {"CPU": 1} | ({"GPU": gpus_per_worker} if use_gpu else {})
    trainer_dir = (storage or Path(checkpoint).parent).resolve() / "ray_train"
    starts = Path(checkpoint).resolve().with_name("ray_train_starts.txt")
    starts.unlink(missing_ok=True)
    config = {"tcfg": tcfg, "paths": paths, "data": data, "checkpoint": str(Path(checkpoint).resolve())}
    config |= {"choice_affine": choice_affine, "threads": 1, "starts": str(starts)}
    trainer = TorchTrainer(
        _worker,
        train_loop_config=config,
        # NCCL wants a whole GPU per rank; workers that share a GPU (--gpus-per-worker 0.5) reduce over gloo
        torch_config=TorchConfig(backend="nccl" if gpus_per_worker >= 1 else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name="ray_train",
            storage_path=str(trainer_dir.parent),
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    try:
        error = trainer.fit().error
    except Exception as e:  # noqa: BLE001 - Ray Train raises its own kinds once max_failures is spent
        error = e
    done = checkpoint_epochs(checkpoint)
    if error is not None or done != tcfg.epochs:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200] if error else "no error"
        raise ValueError(
            f"supernet training on Ray Train stopped after {done} of {tcfg.epochs} epochs ({reason}); "
            f"the run stays in {Path(checkpoint).parent}: continue it with --resume"
        )
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    net = Supernet(paths.space, choice_affine=choice_affine)
    net.load_state_dict(state["model"])
    restarts = _restarts(starts)
    starts.unlink(missing_ok=True)  # Ray Train's own run folder and the start log: of no use once trained
    shutil.rmtree(Path(trainer_dir), ignore_errors=True)
    return net, [float(x) for x in state["losses"]], checkpoint_accuracies(state), restarts


def _restarts(starts: Path) -> int:
    """Worker-group restarts after failures: rank 0 writes one line to ``starts`` each time the group starts."""
    return max(0, len(starts.read_text().splitlines()) - 1) if starts.is_file() else 0

"""Training loops: stand-alone models, and the supernet by single-path sampling (SPOS, arXiv 1904.00420).

Which archs a supernet step trains is its :class:`Paths` (``seknet.engine.samplers.Paths``), handed in by the
caller.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from seknet.core.fileio import write_atomic
from seknet.data.split import Split, batches


class WeightAverages(Protocol):
    """Weights averaged along a training (``seknet.engine.averaging.WeightAverages``: EMA and SWA): told after every
    optimizer step and every epoch."""

    def step(self, model: nn.Module) -> None: ...

    def epoch_end(self, model: nn.Module, epoch: int) -> None: ...


class Paths(Protocol):
    """What a supernet step trains (``seknet.engine.samplers.Paths``): ``step(rng)`` gives the step's archs, and
    ``average`` says whether their losses are averaged (else summed)."""

    average: bool

    def step(self, rng: random.Random) -> list: ...


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1  # peak SGD learning rate, cosine-annealed to 0 over all steps
    momentum: float = 0.9  # Nesterov
    weight_decay: float = 5e-4
    freeze_unused: bool = False  # supernet: weight decay and momentum leave sliced rows no arch of the step used
    seed: int = 0
    checkpoint_minutes: float = 0.0  # write the epoch checkpoint at most this often (0: after every epoch)
    stop_epoch: int = 0  # stop after this epoch of the `epochs`-epoch schedule (0: train it to the end)

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.checkpoint_minutes < 0:
            raise ValueError("epochs and checkpoint_minutes must be >= 0, and batch_size >= 1")
        if not 0 <= self.stop_epoch <= self.epochs:
            raise ValueError(f"stop_epoch must be in 0..epochs ({self.epochs}); got {self.stop_epoch}")

    @property
    def trained_epochs(self) -> int:
        """The epochs a training runs: the schedule's, or fewer when it stops early (``stop_epoch``)."""
        return self.stop_epoch or self.epochs


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing on CPU."""
    return torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


def sgd_cosine(
    model: nn.Module, cfg: TrainConfig, steps: int
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and weight decay, its rate cosine-annealed from ``cfg.lr`` to 0 over ``steps``."""
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
        weight_decay=cfg.weight_decay,
    )
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))


def train(
    model: nn.Module,
    data: Split,
    cfg: TrainConfig,
    device: torch.device | str = "cpu",
    paths: Paths | None = None,
    progress: bool = True,
    desc: str = "train",
    on_epoch: Callable[[int, float], None] | None = None,
    checkpoint: Path | None = None,
    shard: tuple[int, int] = (0, 1),
    averages: WeightAverages | None = None,
    accuracies: list[float] | None = None,
) -> list[float]:
    """Train ``model`` on ``data``: a plain model, or a supernet on the archs that ``paths`` draws each step.

    Returns the mean training loss of each epoch, repeatable on CPU for a fixed ``cfg.seed``; with ``cfg.stop_epoch``,
    of the schedule's first epochs only. ``on_epoch(epoch, loss)`` runs after each epoch (1-based). A NaN or infinite
    loss raises ``FloatingPointError`` naming the epoch. ``checkpoint``: after every epoch (at most every
    ``cfg.checkpoint_minutes``), the model, optimizer, scheduler, sampler and data-order RNG states and the losses so
    far are written there atomically; when the file exists at the start, training continues after its epoch, and on
    CPU ends with exactly the weights of an uninterrupted run.

    ``shard`` = (rank, world size) for data-parallel training (``model`` wrapped in DDP by the caller, see
    :mod:`seknet.engine.ray_train`): every rank draws the same global batches and archs (same seeds) and trains on its
    ``rank::world`` slice of each, so batch and schedule mean the same for any world size; the epoch losses are
    summed over ranks, and only rank 0 writes the checkpoint (every rank reads it).

    ``averages``: EMA and SWA weights (:class:`seknet.engine.averaging.WeightAverages`), updated after every step and
    epoch before ``on_epoch``; they change nothing of the training. ``accuracies``: when given, gets each epoch's
    training top-1 (over the paths a step trains and over ranks; NaN for restored epochs a checkpoint lacks).
    """
    device = _to_device(model, device)
    torch.manual_seed(cfg.seed)
    rng, gen = random.Random(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    steps = cfg.epochs * -(-len(data) // cfg.batch_size)
    opt, sched = sgd_cosine(model, cfg, steps)
    fresh = checkpoint is None or not Path(checkpoint).is_file()
    losses, accs = ([], []) if fresh else load_checkpoint(checkpoint, model, opt, sched, rng, gen)
    bar = progress_bar(steps, steps * len(losses) // max(cfg.epochs, 1), desc, progress and shard[0] == 0)
    saved = -math.inf  # when the checkpoint was last written (time.monotonic)
    for _ in range(len(losses), cfg.trained_epochs):
        loss, acc = _epoch(model, data, cfg, device, opt, sched, (rng, gen), paths, shard, bar, averages)
        losses.append(loss)
        accs.append(acc)
        bar.epoch_done(len(losses), cfg.epochs, losses[-1])
        if not math.isfinite(losses[-1]):
            bar.close()
            raise FloatingPointError(f"training loss is {losses[-1]} at epoch {len(losses)}")
        if checkpoint is not None and shard[0] == 0 and time.monotonic() - saved >= 60 * cfg.checkpoint_minutes:
            save_checkpoint(checkpoint, losses, model, opt, sched, rng, gen, accs)
            saved = time.monotonic()
        if averages is not None:
            averages.epoch_end(model, len(losses))
        if on_epoch is not None:
            on_epoch(len(losses), losses[-1])
    bar.close()
    if accuracies is not None:
        accuracies.extend(accs)
    return losses


def _to_device(model: nn.Module, device: torch.device | str) -> torch.device:
    """``device`` as a torch.device, ``model`` moved there (channels-last on CUDA)."""
    device = torch.device(device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return device


class _LogLines:
    """A progress bar's stand-in when stderr is not a terminal: one line per epoch instead of carriage returns."""

    def __init__(self, desc: str, show: bool) -> None:
        self.desc, self.show = desc, show

    def update(self, n: int = 1) -> None:
        pass

    def epoch_done(self, epoch: int, epochs: int, loss: float) -> None:
        if self.show:
            print(f"{self.desc}: epoch {epoch}/{epochs}, loss {loss:.4f}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _Bar(tqdm):
    """tqdm on a terminal, the epoch's loss in its postfix."""

    def epoch_done(self, epoch: int, epochs: int, loss: float) -> None:
        self.set_postfix(loss=f"{loss:.3f}")


def progress_bar(steps: int, initial: int, desc: str, show: bool):
    """A step bar (``update``, ``epoch_done``, ``close``): tqdm when stderr is a terminal, else one log line per
    epoch (a redirected run would otherwise write one line of thousands of carriage returns), nothing when not
    ``show``."""
    if show and sys.stderr.isatty():
        return _Bar(total=steps, initial=initial, desc=desc, unit="step")
    return _LogLines(desc, show)


def _epoch(
    model: nn.Module,
    data: Split,
    cfg: TrainConfig,
    device: torch.device,
    opt: torch.optim.Optimizer,
    sched,
    rngs: tuple[random.Random, torch.Generator],
    paths: Paths | None,
    shard: tuple[int, int],
    bar,
    averages: WeightAverages | None = None,
) -> tuple[float, float]:
    """One epoch of :func:`train`; returns its mean loss and its training top-1 over the global batches (summed over
    ranks)."""
    rng, gen = rngs
    model.train()
    total, n, correct = 0.0, 0, 0
    for x, y in batches(data, cfg.batch_size, gen):
        x, y = (
            x[shard[0] :: shard[1]],
            y[shard[0] :: shard[1]],
        )  # (B / world, C, H, W): this rank's slice
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        archs = [None] if paths is None else paths.step(rng)
        average = paths is not None and paths.average
        loss_sum, right = _step(model, opt, cfg, x, y, archs, device, average)
        total, n, correct = total + loss_sum, n + len(y) * len(archs), correct + right
        sched.step()
        if averages is not None:
            averages.step(model)
        bar.update()
    if shard[1] > 1:  # the epoch's loss over the global batches, not this rank's slice
        sums = torch.tensor([total, float(n), float(correct)], dtype=torch.float64)
        torch.distributed.all_reduce(sums)
        total, n, correct = float(sums[0]), int(sums[1]), int(sums[2])
    return total / max(n, 1), correct / max(n, 1)


def save_checkpoint(
    path: Path,
    losses: list[float],
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched,
    rng: random.Random,
    gen: torch.Generator,
    accuracies: list[float] = (),
) -> None:
    """Everything :func:`train` needs to continue after ``len(losses)`` epochs (and the epochs' training
    ``accuracies``), written atomically to ``path``."""
    model = getattr(model, "module", model)  # the supernet inside a DDP wrapper
    state = {
        "losses": losses,
        "accuracies": list(accuracies),
        "model": model.state_dict(),
        "opt": opt.state_dict(),
        "sched": sched.state_dict(),
        "rng": rng.getstate(),
        "gen": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(Path(path), buf.getvalue())


def checkpoint_epochs(path: Path) -> int:
    """Epochs a :func:`save_checkpoint` file at ``path`` has finished (0 when there is none)."""
    if not Path(path).is_file():
        return 0
    try:
        return len(torch.load(path, weights_only=True, map_location="cpu")["losses"])
    except Exception:  # noqa: BLE001 - train() reports the damaged file in one line when it reads it
        return 0


def checkpoint_accuracies(state: dict) -> list[float]:
    """The per-epoch training accuracies of a checkpoint's ``state``, NaN for epochs it holds none of."""
    accs = [float(x) for x in state.get("accuracies", [])]
    return accs + [math.nan] * (len(state["losses"]) - len(accs))


def load_checkpoint(
    path: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched,
    rng: random.Random,
    gen: torch.Generator,
) -> tuple[list[float], list[float]]:
    """Restore a :func:`save_checkpoint` file into the training state; returns the losses and training accuracies
    of its finished epochs (NaN accuracies from a file that lacks them). A damaged file or one of another model is
    one ValueError naming it."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
        getattr(model, "module", model).load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in state["rng"]))
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        losses = [float(x) for x in state["losses"]]
        return losses, checkpoint_accuracies(state)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on a damaged or foreign file
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise ValueError(
            f"{path}: not a training checkpoint of this run ({reason}); remove it to train from the start"
        ) from None


def _step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    x: Tensor,
    y: Tensor,
    archs: list,
    device: torch.device,
    average: bool = False,
) -> tuple[float, int]:
    """One optimizer step on batch (x, y) over ``archs`` (``[None]``: a plain model), their losses summed (or
    averaged, ``average``); returns the sum of loss x batch and the outputs' correct top-1 count, over ``archs``."""
    opt.zero_grad(set_to_none=True)
    total, correct = 0.0, 0
    for arch in archs:
        with autocast(device):
            out = model(x) if arch is None else model(x, arch)
            loss = F.cross_entropy(out.float(), y)
        (loss / len(archs) if average else loss).backward()
        total += loss.item() * len(y)
        correct += int((out.detach().argmax(1) == y).sum())
    net = getattr(model, "module", model)  # the supernet inside a DDP wrapper
    frozen = _snapshot_unused(net, opt, archs) if cfg.freeze_unused and archs[0] is not None else []
    opt.step()
    _restore(opt, frozen)
    return total, correct


@torch.no_grad()
def _snapshot_unused(model: nn.Module, opt: torch.optim.Optimizer, archs: list) -> list[tuple]:
    """(param, index, values, momentum values or None) of the supernet's rows that ``archs`` leave unused."""
    out = []
    for p, idx in model.unused_slices(archs):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        out.append((p, idx, p[idx].clone(), None if buf is None else buf[idx].clone()))
    return out


@torch.no_grad()
def _restore(opt: torch.optim.Optimizer, frozen: list[tuple]) -> None:
    """Put the snapshot rows back after ``opt.step()``: as if their gradient had been None (momentum 0 if new)."""
    for p, idx, values, buf in frozen:
        p[idx] = values
        opt.state[p]["momentum_buffer"][idx] = 0 if buf is None else buf


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, device: torch.device | str = "cpu", batch_size: int = 512) -> int:
    """Number of correctly classified images of ``data`` (model in eval mode)."""
    device = torch.device(device)
    model.eval().to(device)
    correct = 0
    for x, y in batches(data, batch_size):
        with autocast(device):
            correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
    return correct

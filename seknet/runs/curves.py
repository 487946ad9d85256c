"""TensorBoard event files of a run (``RUN/tb/``): the supernet's training curve, beside the per-trial event files Ray
Tune writes for stand-alone trainings (``RUN/tune/``, ``RUN/verify/tune/``). ``tensorboard --logdir RUN`` finds both.

Written with tensorboardX (Ray Tune's own TensorBoard writer, so no package is added); torch's SummaryWriter would
need the whole tensorboard package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

TB = "tb"  # the run folder's TensorBoard folder


def write_supernet_curves(
    folder: Path, losses: Sequence[float], accuracies: Sequence[float], lr: float, seconds: float, workers: int
) -> Path:
    """Per epoch, the supernet's mean training loss, its training top-1 accuracy (the sampled paths' outputs on the
    training batches; an epoch without one, from an older checkpoint, is left out) and its learning rate at the
    epoch's end (SGD cosine-annealed from ``lr`` to 0 over every step, as ``seknet.engine.train`` does); the
    training's seconds per epoch and its data-parallel worker count. Returns the event folder."""
    from tensorboardX import SummaryWriter

    out = Path(folder) / TB / "supernet"
    epochs = len(losses)
    with SummaryWriter(str(out)) as w:
        for epoch, loss in enumerate(losses, 1):
            w.add_scalar("supernet/train_loss", loss, epoch)
            w.add_scalar("supernet/lr", 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs)), epoch)
        for epoch, acc in enumerate(accuracies, 1):
            if math.isfinite(acc):
                w.add_scalar("supernet/train_accuracy", acc, epoch)
        w.add_scalar("supernet/seconds_per_epoch", seconds / max(epochs, 1), epochs)
        w.add_scalar("supernet/train_workers", workers, epochs)
    return out

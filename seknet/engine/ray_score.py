"""Scoring as Ray tasks: one task per subtree of the choice tree, on CPU processes or GPU shares.

Ray is imported here only, so ``import seknet`` stays fast. Each task rebuilds the supernet from
its state dict and walks its subtree (``seknet.score``); with ``gpus_per_worker`` > 0 Ray sets
``CUDA_VISIBLE_DEVICES`` per task, so each worker sees only its own device.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from seknet.core.fileio import write_atomic
from seknet.core.space import Arch, Space
from seknet.engine.score import CHUNK


def _device() -> str:
    """The device a task should use: its own GPU where Ray gave it one and CUDA exists, else CPU."""
    import ray

    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


def _score_task(space: Space, state: dict, archs: list[str], recal, val_x, val_y, threads: int, chunk: int):
    from seknet.engine.score import score_hits
    from seknet.nn.supernet import Supernet

    torch.set_num_threads(threads)
    net = Supernet.for_state(space, state)
    parsed = [space.parse(a) for a in archs]
    hits = score_hits(net, parsed, recal, val_x, val_y, chunk=chunk, device=_device())
    return {str(a): h.cpu() for a, h in hits.items()}


def visible_devices_task() -> tuple[list, str | None]:
    """What a GPU worker sees: Ray's GPU ids and CUDA_VISIBLE_DEVICES (for placement tests)."""
    import ray

    return [str(g) for g in ray.get_gpu_ids()], os.environ.get("CUDA_VISIBLE_DEVICES")


def task_resources(total_cpus: int, workers: int, gpus_per_worker: float) -> tuple[int, dict]:
    """(torch threads, Ray options) of one scoring task: CPU workers share the CPUs, GPU workers take 1 CPU."""
    if gpus_per_worker > 0:
        return 1, {"num_cpus": 1, "num_gpus": gpus_per_worker}
    threads = max(1, total_cpus // max(1, workers))
    return threads, {"num_cpus": threads, "num_gpus": 0}


def score_on_ray(
    ray,
    space: Space,
    state: dict,
    archs: Sequence[Arch],
    recal,
    val_x,
    val_y,
    workers: int,
    gpus_per_worker: float = 0.0,
    chunk: int = CHUNK,
    progress: bool = True,
    desc: str = "score",
    cache: Path | None = None,
) -> dict[str, torch.Tensor]:
    """Per arch string, the bool tensor of correctly classified images; Ray tasks grouped by first-stage choice.

    ``cache``: a folder where each finished group is saved (``<first choice>.pt``, atomically) and from which a
    group saved before is read instead of scored again: a resumed run keeps the subtrees it had scored. Only
    for the same supernet, archs and images (the caller's run folder guarantees it).
    """
    groups: dict = {}
    for a in archs:
        groups.setdefault(str(a.choices[0]), []).append(str(a))
    result: dict[str, torch.Tensor] = {}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for first in list(groups):
            saved = _read_group(cache / f"{first}.pt", groups[first])
            if saved is not None:
                result.update(saved)
                del groups[first]
    threads, opts = task_resources(int(ray.available_resources().get("CPU", 1)), workers, gpus_per_worker)
    task = ray.remote(_score_task).options(**opts)
    refs = [ray.put(x) for x in (space, state, recal, val_x, val_y)]
    pending = {task.remote(refs[0], refs[1], g, *refs[2:], threads, chunk): first for first, g in groups.items()}
    with tqdm(
        total=len(archs), initial=len(result), desc=desc, disable=not (progress and sys.stderr.isatty()), unit="arch"
    ) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            first = pending.pop(done[0])
            part = ray.get(done[0])
            if cache is not None:
                buf = io.BytesIO()
                torch.save(part, buf)
                write_atomic(cache / f"{first}.pt", buf.getvalue())
            result.update(part)
            bar.update(len(part))
    return result


def _read_group(path: Path, archs: list[str]) -> dict[str, torch.Tensor] | None:
    """A saved group's hits when the file holds exactly ``archs``; None when it is missing or does not fit."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, weights_only=True)
    except Exception:  # noqa: BLE001 - a damaged file is scored again, not trusted
        return None
    if not isinstance(saved, dict) or set(saved) != set(archs):
        return None
    return saved if all(isinstance(v, torch.Tensor) for v in saved.values()) else None

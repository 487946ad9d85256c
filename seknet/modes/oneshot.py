"""The one-shot search: train a supernet once, score every arch with inherited weights (or an NSGA-II sample).

Scoring uses successive halving: every arch on a slice of the validation set, then only the archs that may still
reach the front (no cheaper arch beats them in a paired test on the slice) on the rest. A space of more than
``--exhaustive-limit`` archs is sampled by the ``nsga2`` proposer instead (``seknet.modes.proposers``), a
generation at a time. The supernet trains in process, or data-parallel on Ray Train (``--train-workers``).
"""

from __future__ import annotations

import functools
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seknet.core.config import OneShotConfig
from seknet.core.count import count
from seknet.core.fileio import write_atomic
from seknet.core.space import Arch, Space
from seknet.data.load import recal_batches
from seknet.data.split import Data
from seknet.engine.ray_score import score_on_ray
from seknet.engine.ray_session import ray_session
from seknet.engine.ray_trials import local_gpus
from seknet.engine.supernet_training import train_supernet
from seknet.engine.train import checkpoint_epochs
from seknet.modes import proposers
from seknet.modes.base import no_check
from seknet.nn.supernet import Supernet
from seknet.runs.curves import write_supernet_curves
from seknet.runs.objective import latency_ms
from seknet.runs.rows import EVAL_COLUMNS, accuracy_fields
from seknet.runs.spine import Outcome

if TYPE_CHECKING:
    from seknet.runs.spine import RunContext

POPULATION = 32  # NSGA-II's population beyond --exhaustive-limit

CHECKPOINT = "checkpoint.pt"  # in the run's .partial folder while it trains; removed when the run is complete
SCORED = "scored"  # the subtrees scored so far (seknet.engine.ray_score), kept across an interruption; removed likewise
HALVING_Z = 2.58  # paired-test threshold; at 1.96 a true front member was dropped on digits, at 2.58 none


def halving_contenders(
    archs: list[Arch],
    hits: dict[str, torch.Tensor],
    z: float = HALVING_Z,
    cost_of: Callable[[Arch], float] = lambda a: count(a).macs,
) -> list[Arch]:
    """Archs that may still reach the front after the slice round of successive halving.

    All archs are scored on the same slice images, so a cheaper arch ``b`` beats ``a`` when the paired
    sign test (McNemar) on the images only one of them gets right gives z = (n_b - n_a) / sqrt(n_b + n_a)
    above ``z``. Each arch is tested against the slice front of archs of lower cost (``cost_of``: MACs, or
    predicted latency; the strongest challengers); one significant loss drops it.
    """
    by_macs: dict[float, list[Arch]] = {}
    for a in archs:
        by_macs.setdefault(cost_of(a), []).append(a)
    keep: list[Arch] = []
    front: list[torch.Tensor] = []  # hits of the slice front so far, by increasing MACs
    best = -1
    for macs in sorted(by_macs):
        group = by_macs[macs]
        challengers = torch.stack(front) if front else None
        for a in group:
            h = hits[str(a)]
            if challengers is not None:
                n_b = (challengers & ~h).sum(1).float()
                n_a = (~challengers & h).sum(1).float()
                if ((n_b - n_a) / (n_b + n_a).clamp(min=1).sqrt() > z).any():
                    continue
            keep.append(a)
        for a in sorted(group, key=lambda a: -int(hits[str(a)].sum())):
            if int(hits[str(a)].sum()) > best:
                best = int(hits[str(a)].sum())
                front.append(hits[str(a)])
    return keep


def _score(
    cfg: OneShotConfig,
    space: Space,
    net: Supernet,
    archs: list[Arch],
    data: Data,
    recal,
    cost_of: Callable[[Arch], float],
    cache: Path | None = None,
) -> tuple[dict, dict]:
    """({arch string: (correct, n_eval, slice_correct, slice_n)}, {arch string: hits on the slice images}).

    ``cache``: the run's folder of scored subtrees, kept across an interruption (see :func:`score_on_ray`)."""
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    num_gpus = local_gpus(cfg.gpus_per_worker, cfg.address)
    cpus = os.cpu_count() or 1
    workers = cfg.workers or min(cpus, len(space.choices))
    vx, vy = data.val.x, data.val.y
    with ray_session(cfg.address, num_cpus=None if cfg.address else cpus, num_gpus=num_gpus) as ray:

        def run(subset, x, y, desc, round_=None):
            kept = None if cache is None or round_ is None else cache / round_
            args = (ray, space, state, subset, recal, x, y, workers, cfg.gpus_per_worker)
            return score_on_ray(*args, progress=cfg.progress, desc=desc, cache=kept)

        if len(archs) > cfg.exhaustive_limit:  # NSGA-II scores new subsets each generation: nothing to keep
            score = lambda subset: run(subset, vx, vy, "score (NSGA-II)")  # noqa: E731
            return _nsga2(cfg, space, archs, score, len(vy), cost_of)
        n_slice = max(1, min(len(vy), round(len(vy) * cfg.slice)))
        first = run(archs, vx[:n_slice], vy[:n_slice], f"score {len(archs)} archs on {n_slice} images", "slice")
        if n_slice == len(vy):
            return {a: (int(h.sum()), n_slice, int(h.sum()), n_slice) for a, h in first.items()}, first
        contenders = halving_contenders(archs, first, cost_of=cost_of)
        rest = run(contenders, vx[n_slice:], vy[n_slice:], f"rescore {len(contenders)} contenders", "rest")
    scores = {}
    for a, h in first.items():
        c = int(h.sum())
        scores[a] = (c + int(rest[a].sum()), len(vy), c, n_slice) if a in rest else (c, n_slice, c, n_slice)
    return scores, first


def _nsga2(
    cfg: OneShotConfig,
    space: Space,
    archs: list[Arch],
    score,
    n_val: int,
    cost_of: Callable[[Arch], float],
) -> tuple[dict, dict]:
    """The ``--proposer`` (default NSGA-II: accuracy up, ``cost_of`` down) over the in-budget archs, a batch (an
    NSGA-II generation) of ``POPULATION`` archs scored at a time, ``cfg.evaluations`` archs in all."""
    by_name = {str(a): a for a in archs}
    cost = functools.partial(_cost_of_name, space, cost_of)
    proposer = proposers.make(cfg.proposer, list(by_name), space.choices, len(space.stages), cfg.seed, cost, POPULATION)
    scored: dict = {}
    while len(scored) < min(cfg.evaluations, len(archs)):
        batch = proposer.ask(min(POPULATION, cfg.evaluations - len(scored)))
        if not batch:
            break  # the proposer found nothing new in MAX_ASKS proposals
        hits = score([by_name[a] for a in batch])
        scored |= hits
        proposer.tell({a: (int(hits[a].sum()) / n_val, cost(a)) for a in batch})
    return {a: (int(h.sum()), n_val, int(h.sum()), n_val) for a, h in scored.items()}, scored


def _cost_of_name(space: Space, cost_of: Callable[[Arch], float], arch: str) -> float:
    """What the arch named ``arch`` costs, in budget or not (the proposer answers an over-budget proposal unscored)."""
    return cost_of(space.parse(arch))


def score_rows(archs: list[Arch], scores: dict, table: dict | None = None) -> list[dict]:
    """evaluations.csv rows of the scored ``archs`` (in their order): counts, predicted latency when there is a
    latency ``table``, accuracy with its interval, slice."""
    rows = []
    for a in archs:
        if str(a) not in scores:
            continue
        correct, n, s_correct, s_n = scores[str(a)]
        c = count(a)
        ms = {"latency_ms": latency_ms(table, a)} if table is not None else {}
        rows.append(
            {"arch": str(a), "params": c.params, "macs": c.macs, "attn_ops": c.attn_ops}
            | ms
            | accuracy_fields(correct, n)
            | {"slice_accuracy": round(s_correct / s_n, 6), "on_front": 0}
        )
    return rows


check = no_check  # nothing to check before the run folder exists (seknet.modes.base.Mode)


def run(ctx: RunContext) -> Outcome:
    """Train the supernet (continuing from its epoch checkpoint on resume), save it, and score the in-budget archs;
    one row per scored arch, with the slice hits placement's intervals come from."""
    cfg, partial = ctx.cfg, ctx.partial
    checkpoint = partial / CHECKPOINT
    resumed = {"resumed_from_epoch": checkpoint_epochs(checkpoint)} if ctx.resumed else {}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net, losses, accuracies, trained = train_supernet(cfg, ctx.space, ctx.data, device, checkpoint=checkpoint)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    write_atomic(partial / "supernet.pt", buf.getvalue())
    t1 = time.time()
    write_supernet_curves(partial, losses, accuracies, cfg.lr, t1 - ctx.started, trained["workers"])
    recal = recal_batches(ctx.data, cfg.recal_images, cfg.recal_batch, cfg.seed)
    scores, hits = _score(cfg, ctx.space, net, ctx.archs, ctx.data, recal, ctx.objective.cost, partial / SCORED)
    t2 = time.time()
    rows = score_rows(ctx.archs, scores, ctx.objective.table)
    config = {
        "train_loss": [round(x, 4) for x in losses],
        "train_accuracy": [round(x, 4) for x in accuracies],
        "device": str(device),
        "training": trained,
        "seconds": {"train": round(t1 - ctx.started, 1), "score": round(t2 - t1, 1)},
        "archs_in_budget": len(ctx.archs),
        "archs_scored": len(rows),
        **resumed,
    }
    title = f"space {ctx.space.name}, data {ctx.data.name}: {len(rows)} archs"
    files = "evaluations.csv, pareto.csv/png, placement.csv/png, decisions.csv, best.yaml, study.db, tb/, config.yaml"
    files += ", supernet.pt"
    # the checkpoint and scored subtrees stay until the run is recorded: a stage after this one (--verify) may be
    # interrupted, and its resume then finds the screening done
    return Outcome(rows, EVAL_COLUMNS, config, title, hits=hits, files=files, scratch=[CHECKPOINT, SCORED])

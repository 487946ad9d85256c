"""The one-shot search: train a supernet once, score every arch (or an NSGA-II sample), write the front.

Scoring uses successive halving: every arch on a slice of the validation set, then only the archs
that may still reach the front (no cheaper arch beats them in a paired test on the slice) on the rest.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from seknet import cost, report, rundir
from seknet.arch import Arch
from seknet.count import count
from seknet.data import Data, load_data
from seknet.runconfig import OneShotConfig
from seknet.space import Space, load_space
from seknet.supernet import Supernet
from seknet.train import TrainConfig, checkpoint_epochs, train


def run_data(cfg: OneShotConfig, test_variants: int | None = None) -> Data:
    """The dataset a run uses (smoke runs draw each digit once); ``test_variants`` sizes digits' test split."""
    kw = {"train_variants": 1, "eval_variants": 1} if cfg.smoke and cfg.data == "digits" else {}
    if test_variants is not None and cfg.data == "digits":
        kw["test_variants"] = test_variants
    return load_data(cfg.data, cfg.data_root, cfg.seed, load_space(cfg.space).input_size, **kw)


def recal_batches(data: Data, cfg: OneShotConfig) -> list[torch.Tensor]:
    """The BN recalibration batches of a run: ``recal_images`` training images drawn by the seed."""
    gen = torch.Generator().manual_seed(cfg.seed)
    x = data.train.x[torch.randperm(len(data.train), generator=gen)[: cfg.recal_images]]
    return list(x.split(cfg.recal_batch))


def check_data(space: Space, data: Data) -> None:
    c, h, w = data.shape
    if (c, h, w) != (space.in_channels, space.input_size, space.input_size) or data.num_classes != space.num_classes:
        raise ValueError(
            f"data {data.name} is {c}x{h}x{w} with {data.num_classes} classes but space {space.name} expects "
            f"{space.in_channels}x{space.input_size}x{space.input_size} with {space.num_classes}; "
            "pick a matching --space"
        )


CHECKPOINT = "checkpoint.pt"  # in the run's .partial folder while it trains; removed when the run is complete
SCORED = "scored"  # the subtrees scored so far (seknet.ray_score), kept across an interruption; removed likewise
HALVING_Z = 2.58  # paired-test threshold; at 1.96 a true front member was dropped on digits, at 2.58 none


def halving_contenders(archs: list[Arch], hits: dict[str, torch.Tensor], z: float = HALVING_Z,
                       cost_of: Callable[[Arch], float] = lambda a: count(a).macs) -> list[Arch]:  # fmt: skip
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


def data_summary(data: Data) -> dict:
    """The data section of config.yaml: dataset name and split sizes."""
    return {"name": data.name, "train": len(data.train), "val": len(data.val), "test": len(data.test)}


def _score(cfg: OneShotConfig, space: Space, net: Supernet, archs: list[Arch], data: Data, recal,
           cost_of: Callable[[Arch], float], cache: Path | None = None) -> tuple[dict, dict]:  # fmt: skip
    """({arch string: (correct, n_eval, slice_correct, slice_n)}, {arch string: hits on the slice images}).

    ``cache``: the run's folder of scored subtrees, kept across an interruption (see :func:`score_on_ray`)."""
    from seknet.ray_score import score_on_ray
    from seknet.ray_session import ray_session

    state = {k: v.cpu() for k, v in net.state_dict().items()}
    num_gpus = torch.cuda.device_count() if cfg.gpus_per_worker > 0 and not cfg.address else None
    cpus = os.cpu_count() or 1
    workers = cfg.workers or min(cpus, len(space.choices))
    vx, vy = data.val.x, data.val.y
    with ray_session(cfg.address, num_cpus=None if cfg.address else cpus, num_gpus=num_gpus) as ray:

        def run(subset, x, y, desc, round_=None):
            return score_on_ray(ray, space, state, subset, recal, x, y, workers, cfg.gpus_per_worker,
                                progress=cfg.progress, desc=desc,
                                cache=None if cache is None or round_ is None else cache / round_)  # fmt: skip

        if len(archs) > cfg.exhaustive_limit:  # NSGA-II scores new subsets each generation: nothing to keep
            return _nsga2(cfg, space, archs, lambda subset: run(subset, vx, vy, "score (NSGA-II)"), len(vy), cost_of)
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


def _nsga2(cfg: OneShotConfig, space: Space, archs: list[Arch], score, n_val: int,
           cost_of: Callable[[Arch], float]) -> dict:  # fmt: skip
    """Multi-objective NSGA-II (Optuna: accuracy up, ``cost_of`` down) over the budget-pruned space,
    ``cfg.evaluations`` archs scored."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pop = 32
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.NSGAIISampler(population_size=pop, seed=cfg.seed)
    )
    allowed, scored = {str(a) for a in archs}, {}
    stale = 0
    while len(scored) < min(cfg.evaluations, len(allowed)) and stale < 20:
        trials = [study.ask() for _ in range(pop)]
        picked = [
            space.parse(
                "-".join(t.suggest_categorical(f"stage{i}", list(space.choices)) for i in range(len(space.stages)))
            )
            for t in trials
        ]
        new = list({str(a): a for a in picked if str(a) in allowed and str(a) not in scored}.values())
        new = new[: cfg.evaluations - len(scored)]
        stale = 0 if new else stale + 1
        scored.update(score(new) if new else {})
        for t, a in zip(trials, picked, strict=True):
            if str(a) in scored:
                study.tell(t, [int(scored[str(a)].sum()) / n_val, cost_of(a)])
            else:  # over the budget, or past the evaluation budget
                study.tell(t, state=optuna.trial.TrialState.FAIL)
    return {a: (int(h.sum()), n_val, int(h.sum()), n_val) for a, h in scored.items()}, scored


def train_supernet(
    cfg: OneShotConfig, space: Space, data: Data, device: torch.device, sharing: str = "sliced",
    checkpoint: Path | None = None,
) -> tuple[Supernet, list[float], dict]:  # fmt: skip
    """A supernet of ``space`` trained as ``cfg`` says (epochs, sampler, seed, ...), on CPU at the end.

    In this process on ``device``, or with ``cfg.train_workers`` > 1 on that many Ray Train workers (DDP; see
    :mod:`seknet.ray_train`). ``sharing`` is the supernet's (see :class:`Supernet`). ``checkpoint``: saved after
    every epoch, and continued from when it exists (see :func:`seknet.train.train`). Returns the supernet, its
    per-epoch training losses, and what config.yaml records about the training (workers, restarts).
    """
    tcfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, sampler=cfg.sampler, seed=cfg.seed,
                       freeze_unused=cfg.freeze_unused, checkpoint_minutes=cfg.checkpoint_minutes)  # fmt: skip
    if cfg.train_workers > 1:
        if checkpoint is None or sharing != "sliced":
            raise ValueError("data-parallel training needs a checkpoint path and the sliced supernet")
        from seknet.ray_session import ray_session
        from seknet.ray_train import train_supernet_ddp

        num_gpus = torch.cuda.device_count() if cfg.gpus_per_worker > 0 and not cfg.address else None
        with ray_session(cfg.address, num_cpus=None if cfg.address else max(os.cpu_count() or 1, cfg.train_workers),
                         num_gpus=num_gpus):  # fmt: skip
            net, losses, restarts = train_supernet_ddp(
                tcfg, space, data, checkpoint, cfg.train_workers, cfg.gpus_per_worker, cfg.choice_affine,
                cfg.max_failures)  # fmt: skip
        return net, losses, {"workers": cfg.train_workers, "restarts": restarts}
    torch.manual_seed(cfg.seed)
    net = Supernet(space, sharing, choice_affine=cfg.choice_affine)
    losses = train(net, data.train, tcfg, device, space=space, progress=cfg.progress, desc="train supernet",
                   checkpoint=checkpoint)  # fmt: skip
    return net.cpu().to(memory_format=torch.contiguous_format), losses, {"workers": 1}


def score_rows(archs: list[Arch], scores: dict, table: dict | None = None) -> list[dict]:
    """evaluations.csv rows of the scored ``archs`` (in their order): counts, predicted latency when there is a
    latency ``table``, accuracy with its interval, slice."""
    rows = []
    for a in archs:
        if str(a) not in scores:
            continue
        correct, n, s_correct, s_n = scores[str(a)]
        c = count(a)
        ms = {"latency_ms": cost.latency_ms(table, a)} if table is not None else {}
        rows.append({"arch": str(a), "params": c.params, "macs": c.macs, "attn_ops": c.attn_ops} | ms
                    | report.accuracy_fields(correct, n)
                    | {"slice_accuracy": round(s_correct / s_n, 6), "on_front": 0})  # fmt: skip
    return rows


def write_results(partial: Path, cfg: OneShotConfig, space: Space, data_name: str, rows: list[dict],
                  hits: dict, table: dict | None) -> tuple[list[dict], list[dict], dict]:  # fmt: skip
    """evaluations.csv, pareto.csv/png, placement.csv/png and best.yaml of a one-shot run into ``partial``;
    returns (front, placement rows, best). Marks the front's rows ``on_front``."""
    col = cost.column(cfg.objective)
    front = report.front_rows(rows, col)
    for r in front:
        r["on_front"] = 1
    columns = cost.columns(report.EVAL_COLUMNS, table)
    report.write_csv(partial / "evaluations.csv", rows, columns)
    report.write_csv(partial / "pareto.csv", front, columns)
    pl = report.placement(rows, len(space.stages), space.choices, hits)
    report.write_csv(partial / "placement.csv", pl, list(pl[0]))
    keys = cost.columns(["params", "macs", "attn_ops", "accuracy", "acc_low", "acc_high", "n_eval"], table)
    best = report.write_best(partial / "best.yaml", space, front, cost.budget_flags(cfg), keys, col)
    title = f"space {space.name}, data {data_name}: {len(rows)} archs, {len(front)} on the front"
    report.plot_pareto(partial / "pareto.png", rows, front, title, cost.axis_budget(cfg), col)
    report.plot_placement(partial / "placement.png", pl, len(space.stages), space.choices)
    return front, pl, best


def run(cfg: OneShotConfig, resume: Path | None = None) -> Path:
    """Run a one-shot search, or with ``resume`` continue an interrupted one from its last epoch checkpoint;
    returns the run folder, complete (it is renamed into place at the end)."""
    t0 = time.time()
    space = load_space(cfg.space)
    if resume is None:
        folder, kept = rundir.check_new(cfg.out, space.name, cfg.data, "oneshot"), None
    else:
        folder = rundir.resumable(resume)[0]
        kept = folder.partial / cost.TABLE_FILE
    table = cost.run_table(cfg, space, kept)
    archs = cost.budget_archs(space, cfg.max_macs, cfg.max_latency, table)
    data = run_data(cfg)
    check_data(space, data)
    if cfg.address:
        from seknet.ray_session import probe

        probe(cfg.address)  # before hours of training, not after
    if resume is None:
        rundir.create(folder, "oneshot", cfg)
        cost.write_table(folder.partial, table)
    partial, checkpoint = folder.partial, folder.partial / CHECKPOINT
    resumed = {"resumed_from_epoch": checkpoint_epochs(checkpoint)} if resume is not None else {}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net, losses, trained = train_supernet(cfg, space, data, device, checkpoint=checkpoint)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    report.write_atomic(partial / "supernet.pt", buf.getvalue())
    recal = recal_batches(data, cfg)
    t1 = time.time()
    scores, hits = _score(cfg, space, net, archs, data, recal, cost.cost_of(cfg.objective, table), partial / SCORED)
    t2 = time.time()

    rows = score_rows(archs, scores, table)
    front, pl, best = write_results(partial, cfg, space, data.name, rows, hits, table)
    rundir.write_config(
        folder, "oneshot", cfg, space=space.to_dict(), data=data_summary(data),
        train_loss=[round(x, 4) for x in losses], device=str(device), training=trained,
        seconds={"train": round(t1 - t0, 1), "score": round(t2 - t1, 1), "total": round(time.time() - t0, 1)},
        archs_in_budget=len(archs), archs_scored=len(rows), **resumed,
    )  # fmt: skip
    # optimizer state, RNGs and scored subtrees: of no use once complete (a 0-epoch run wrote no checkpoint)
    checkpoint.unlink(missing_ok=True)
    shutil.rmtree(partial / SCORED, ignore_errors=True)
    out = rundir.finish(folder)
    print(report.summary(out, rows, front, pl, best, time.time() - t0))
    return out

"""Multi-trial search on Ray Tune: every trial trains one arch stand-alone and reports accuracy and its cost.

Samplers: ``nsga2``, ``tpe`` and ``random`` (Optuna through ``OptunaSearch``, two objectives: accuracy up,
MACs or predicted latency down, as ``--objective`` says; metric and mode sit on the searcher, as Ray requires
for several objectives; no arch is trained twice, :mod:`seknet.distinct`) and ``grid`` (every in-budget arch).
Archs over ``--max-macs`` or ``--max-latency`` are reported without being trained.
Early stopping (``--asha``) stops weak trials on accuracy; such a trial keeps status
``stopped_early`` and its truncated accuracy never enters the front, which holds complete trials only.
A crashing or NaN trial is recorded as ``failed`` with its reason and the search goes on.
Ray is imported here only.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import torch

from seknet import cost, report, rundir
from seknet.count import count
from seknet.data import Data
from seknet.oneshot import check_data, data_summary, run_data
from seknet.runconfig import MultiTrialConfig
from seknet.runfiles import load_into, load_state_dict
from seknet.space import Space, load_space
from seknet.standalone import initial_model, train_standalone
from seknet.supernet import Supernet
from seknet.train import TrainConfig, evaluate

MT_COLUMNS = ["arch", "params", "macs", "attn_ops", "accuracy", "acc_low", "acc_high", "n_eval", "epochs_trained",
              "status", "error", "trial_id", "on_front"]  # fmt: skip


def trial_resources(cfg: MultiTrialConfig) -> dict:
    """What one trial asks Ray for: ``cpus_per_trial`` CPUs and a ``gpus_per_trial`` share of a GPU."""
    return {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial}


def _arch_of(config: dict, space: Space) -> str:
    return config["arch"] if "arch" in config else "-".join(config[f"stage{i}"] for i in range(len(space.stages)))


def _trial(config: dict, space: Space, data: Data, cfg: MultiTrialConfig, init_state: dict | None,
           table: dict | None = None, in_budget: frozenset[str] | None = None) -> None:  # fmt: skip
    """One Tune trial: train ``config``'s arch, report accuracy and its cost (MACs, and predicted latency with a
    latency ``table``) after every epoch. An arch not ``in_budget`` (None: no budget) is never trained."""
    import ray
    from ray import tune

    arch = space.parse(_arch_of(config, space))
    c = count(arch)
    base = {"macs": c.macs, "params": c.params, "attn_ops": c.attn_ops}
    if table is not None:
        base["latency_ms"] = cost.latency_ms(table, arch)
    if in_budget is not None and str(arch) not in in_budget:  # never trained
        tune.report(base | {"accuracy": 0.0, "correct": 0, "n_eval": 0, "epoch": 0, "over_budget": 1})
        return
    seed = int(config.get("seed", cfg.seed))  # retrain runs each arch under several seeds
    torch.set_num_threads(max(1, cfg.cpus_per_trial))
    # built before training: on_epoch evaluates it
    model = initial_model(arch, seed) if init_state is None else Supernet.for_state(space, init_state).extract(arch)
    device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"

    def on_epoch(epoch: int, loss: float) -> None:
        if not cfg.asha and epoch < cfg.epochs:  # only ASHA reads intermediate accuracy
            return
        correct = evaluate(model, data.val, device)
        n = len(data.val)
        tune.report(base | {"accuracy": correct / n, "correct": correct, "n_eval": n, "epoch": epoch, "loss": loss,
                            "over_budget": 0})  # fmt: skip

    tcfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, seed=seed)
    train_standalone(arch, data.train, tcfg, device, model=model, on_epoch=on_epoch)


def _search_setup(cfg: MultiTrialConfig, space: Space, archs: list[str], table: dict | None = None):
    """(param_space, search_alg, num_samples) for the sampler; ``archs``: the grid, and the archs in budget."""
    from ray import tune

    if cfg.sampler == "grid":
        return {"arch": tune.grid_search(archs)}, None, 1
    stages = {f"stage{i}": list(space.choices) for i in range(len(space.stages))}
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from seknet.distinct import DistinctArchs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from seknet.optuna_samplers import optuna_sampler

    sampler = optuna_sampler(cfg.sampler, cfg.seed, population=max(4, min(50, cfg.trials // 4)))
    if cfg.sampler == "random":  # uniform over the archs in budget: none is drawn only to be refused
        stages = {"arch": list(archs)}
    dists = {k: optuna.distributions.CategoricalDistribution(v) for k, v in stages.items()}
    metric = ["accuracy", cost.column(cfg.objective)]
    searcher = OptunaSearch(space=dists, metric=metric, mode=["max", "min"], sampler=sampler)
    refuse = functools.partial(_over_budget, space=space, in_budget=frozenset(archs), table=table)
    return None, DistinctArchs(searcher, functools.partial(_arch_of, space=space), refuse), cfg.trials


def _over_budget(arch: str, space: Space, in_budget: frozenset[str], table: dict | None) -> dict | None:
    """What the sampler is told for an arch over the budget (accuracy 0 at its cost), None for one in budget."""
    if arch in in_budget:
        return None
    parsed = space.parse(arch)
    ms = {"latency_ms": cost.latency_ms(table, parsed)} if table is not None else {}
    return {"accuracy": 0.0, "macs": count(parsed).macs} | ms


def error_line(error: BaseException) -> str:
    """The last line of a trial's error (Ray wraps it in a traceback): the reason to record."""
    lines = [ln.strip() for ln in str(error).strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def _rows(results, space: Space, cfg: MultiTrialConfig) -> list[dict]:
    rows = []
    for r in results:
        m, arch = r.metrics or {}, _arch_of(r.config, space)
        try:
            c = count(space.parse(arch))
        except ValueError:  # a bad arch: its trial failed for that reason, recorded below
            c = None
        row = {"arch": arch, "trial_id": m.get("trial_id", ""), "epochs_trained": m.get("epoch", 0), "error": "",
               "params": c.params if c else "", "macs": c.macs if c else "", "attn_ops": c.attn_ops if c else "",
               "accuracy": "", "acc_low": "", "acc_high": "", "n_eval": "", "on_front": 0}  # fmt: skip
        if r.error is not None:
            row |= {"status": "failed", "error": error_line(r.error)}
        elif m.get("over_budget"):
            row["status"] = "over_budget"
        else:
            row |= report.accuracy_fields(int(m["correct"]), int(m["n_eval"]))
            row["status"] = "complete" if m.get("epoch") == cfg.epochs else "stopped_early"
        rows.append(row)
    return rows


def run_multitrial(cfg: MultiTrialConfig, archs: list[str] | None = None, resume: Path | None = None) -> Path:
    """Run (or with ``resume``, continue) a multi-trial search; returns the finished run folder.

    ``archs`` fixes the grid (default: every in-budget arch of the space).
    """
    from ray import tune

    from seknet.ray_session import ray_session, tune_settings

    t0 = time.time()
    space = load_space(cfg.space)
    kept = None if resume is None else rundir.resumable(resume)[0].partial / cost.TABLE_FILE
    table = cost.run_table(cfg, space, kept)  # a resumed run goes on with the table it started with
    in_budget = [str(a) for a in cost.budget_archs(space, cfg.max_macs, cfg.max_latency, table)]
    if cfg.address:
        from seknet.ray_session import probe

        probe(cfg.address)  # every check comes before any folder is made
    grid = archs or in_budget
    if cfg.sampler == "grid" and resume is None and len(grid) > cfg.trials:
        raise ValueError(
            f"grid needs one trial per arch: {len(grid)} archs in budget but --trials {cfg.trials}; "
            "raise --trials, prune with --max-macs, or use another --sampler"
        )
    data = run_data(cfg)
    check_data(space, data)
    init_state = _init_state(cfg, space)
    if resume is None:
        folder = rundir.create(rundir.check_new(cfg.out, space.name, cfg.data, "multitrial"), "multitrial", cfg)
        cost.write_table(folder.partial, table)
    else:
        folder, _ = rundir.resumable(resume)
    partial = folder.partial
    budgeted = cfg.max_macs is not None or cfg.max_latency is not None
    trainable = tune.with_resources(
        tune.with_parameters(_trial, space=space, data=data, cfg=cfg, init_state=init_state, table=table,
                             in_budget=frozenset(in_budget) if budgeted else None),
        trial_resources(cfg),
    )  # fmt: skip
    num_gpus = torch.cuda.device_count() if cfg.gpus_per_trial > 0 and not cfg.address else None
    with tune_settings(), ray_session(cfg.address, num_gpus=num_gpus):
        tuner = _tuner(cfg, space, grid, trainable, partial, resume is not None, table)
        results = tuner.fit()
    rows = _rows(results, space, cfg)
    from seknet.distinct import saved_counts

    answered = saved_counts(partial / "tune")
    return write_trials(cfg, space, data, rows, folder, time.time() - t0, "multitrial", cfg.sampler, table, answered)


def _init_state(cfg: MultiTrialConfig, space: Space) -> dict | None:
    """The supernet state every trial starts from (``--init supernet``), checked against ``space``; else None."""
    if cfg.init != "supernet":
        return None
    sn = Path(cfg.supernet) / "supernet.pt"
    if not sn.is_file():
        raise ValueError(f"--supernet {cfg.supernet}: no supernet.pt there; pass a one-shot run folder")
    state = load_state_dict(sn)
    load_into(Supernet(space, choice_affine=Supernet.has_choice_affine(state)), state, sn)
    return state


def _tuner(cfg: MultiTrialConfig, space: Space, grid: list[str], trainable, partial: Path, resume: bool,
           table: dict | None = None):  # fmt: skip
    """The Tune experiment in ``partial``/tune: restored from its saved state (``resume``), or a new one."""
    from ray import tune

    store = partial.resolve()
    if resume:
        try:
            return tune.Tuner.restore(str(store / "tune"), trainable=trainable, resume_errored=False)
        except Exception as e:  # noqa: BLE001 - Ray raises many kinds on a damaged experiment state
            raise ValueError(f"{partial}/tune: the saved search cannot be restored ({error_line(e)}); remove "
                             f"{partial} and run the search again") from None  # fmt: skip
    param_space, search_alg, samples = _search_setup(cfg, space, grid, table)
    scheduler = None
    if cfg.asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="epoch", metric="accuracy", mode="max", max_t=cfg.epochs,
                                  grace_period=min(cfg.grace_epochs, cfg.epochs))  # fmt: skip
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=samples),
        run_config=tune.RunConfig(
            name="tune",
            storage_path=str(store),
            verbose=1 if cfg.progress else 0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )


def write_trials(cfg, space: Space, data: Data, rows: list[dict], folder: rundir.RunFolder, secs: float, mode: str,
                 search: str, table: dict | None = None, answered: dict | None = None) -> Path:  # fmt: skip
    """Write a trial-based run (Ray Tune or NNI; ``mode`` goes to config.yaml) into its ``.partial``, then finish it.

    ``rows`` carry MT_COLUMNS (and gain ``latency_ms`` from a latency ``table``); the front, on the run's
    objective, is drawn from the complete ones only. ``answered``: proposals answered without a trial (repeats
    and over-budget archs, :func:`seknet.distinct.saved_counts`), recorded with the count of distinct archs trained.
    """
    partial = folder.partial
    col = cost.column(cfg.objective)
    columns = cost.columns(MT_COLUMNS, table)
    front = report.front_rows(cost.add_latency(rows, space, table), col)
    for r in front:
        r["on_front"] = 1
    report.write_csv(partial / "evaluations.csv", rows, columns)
    report.write_csv(partial / "pareto.csv", front, columns)
    statuses = {s: sum(r["status"] == s for r in rows) for s in ("complete", "stopped_early", "failed", "over_budget")}
    trained = {r["arch"] for r in rows if r["status"] != "over_budget"}
    proposals = {"distinct_archs_trained": len(trained)} | (answered or {})
    rundir.write_config(folder, mode, cfg, space=space.to_dict(), data=data_summary(data), trials=statuses,
                        proposals=proposals, seconds={"total": round(secs, 1)})  # fmt: skip
    if not front:
        out = rundir.finish(folder)
        raise ValueError(f"no trial completed ({statuses}); the reasons are in {out}/evaluations.csv")
    keys = cost.columns(["params", "macs", "accuracy", "acc_low", "acc_high", "n_eval"], table)
    best = report.write_best(partial / "best.yaml", space, front, cost.budget_flags(cfg), keys, col)
    done = [r for r in rows if r["status"] == "complete"]
    title = f"{mode} ({search}) on {data.name}: {len(done)} complete trials, {len(front)} on the front"
    report.plot_pareto(partial / "pareto.png", done, front, title, cost.axis_budget(cfg), col)
    out = rundir.finish(folder)
    lines = [f"\n{len(rows)} trials: " + ", ".join(f"{v} {k}" for k, v in statuses.items() if v)
             + f"; {len(trained)} distinct archs trained"
             + "".join(f", {v} {k.replace('_', ' ')}" for k, v in (answered or {}).items() if v)]  # fmt: skip
    for r in rows:
        if r["status"] == "failed":
            lines.append(f"  failed {r['arch'] or '?'}: {r['error']}")
    lines.append(f"Pareto front of the complete trials ({len(front)}):")
    for r in front:
        acc, lo, hi = (float(r[k]) * 100 for k in ("accuracy", "acc_low", "acc_high"))
        ms = f" {float(r['latency_ms']):8.3f} ms" if table is not None else ""
        lines.append(f"  {r['arch']:<22} {int(r['macs']):>12,} MACs{ms}  {acc:6.2f}%  [{lo:.2f}, {hi:.2f}]")
    lines.append(f"Best: {best['arch']}. Wrote {out}/ in {secs:.0f} s")
    print("\n".join(lines))
    return out

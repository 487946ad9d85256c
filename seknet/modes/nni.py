"""NNI backend: a space searched by NNI 3.0's strategies (``nni.nas``), written in seknet's run layout.

The space becomes an NNI ``ModelSpace`` with one ``LayerChoice`` per stage, labelled ``stage0``,
``stage1``, ..., whose candidates are the stage built with each of the space's choices.

- Multi-trial strategies (``random``, ``grid``, ``evolution`` = RegularizedEvolution, ``tpe``) run in
  NNI's in-process sequential engine, one trial at a time, in the "simplified" model format (which
  GridSearch needs). Each trial trains its arch with seknet's own loop (as the Ray backend does) and
  reports accuracy as NNI's ``default`` metric; MACs come from ``seknet.count`` beside it. NNI has no
  multi-objective strategies: seknet computes the front.
- One-shot strategies (``spos`` = RandomOneShot, ``darts``, ``gumbel-darts``, ``proxyless``) train
  NNI's supernet through a Lightning evaluator; the exported arch(s) inherit its weights, get their
  BN statistics re-estimated and are scored on the validation split.
- ``--max-macs``: multi-trial archs over it are refused by NNI's ``Filter`` middleware before training
  (recorded as ``over_budget``); ``spos`` samples only in-budget paths (its ``filter``); the
  differentiable strategies export the most probable arch *within* the budget.

The engine is driven directly (``strategy.initialize(space, engine); strategy.run()``), as
``NasExperiment`` does minus its manifest under the home folder and its Node.js manager: nothing is
written outside the run folder and no port is opened. ENAS is left out (it needs tianshou).
NNI is imported here only.
"""

from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from seknet.data.files import torchvision_or_none

torchvision_or_none()  # NNI imports Lightning -> torchmetrics -> torchvision, which may be a mismatched CUDA build

with warnings.catch_warnings():  # NNI 3.0 warns about every torch class newer than itself
    warnings.simplefilter("ignore", RuntimeWarning)
    import nni
    from nni.nas.evaluator import FunctionalEvaluator
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace
    from nni.nas.space import ModelStatus, current_model
    from nni.nas.strategy import RandomOneShot
from torch import Tensor, nn

from seknet.core.attention import Choice
from seknet.core.config import NniConfig
from seknet.core.count import count
from seknet.core.plugins import STRATEGIES
from seknet.core.space import Space, load_space
from seknet.data.load import recal_batches
from seknet.data.split import Data
from seknet.engine.ray_trials import error_line
from seknet.engine.standalone import initial_model, train_standalone
from seknet.engine.train import TrainConfig, evaluate
from seknet.modes.base import no_check
from seknet.nn.backbone import head, init_weights, plain_slots, stage_blocks, stem
from seknet.nn.supernet import recalibrate_bn
from seknet.runs.rows import MT_COLUMNS, accuracy_fields, trial_row
from seknet.runs.spine import Outcome

if TYPE_CHECKING:
    from seknet.runs.spine import RunContext


class AttentionSpace(ModelSpace):
    """The space as an NNI model space: stem -> one LayerChoice per stage (``stage<i>``) -> pool -> FC.

    Candidate ``c`` of ``stage<i>`` is stage i built with choice ``c`` in every block, exactly as
    ``seknet.build_model`` builds it: a frozen sample is the stand-alone model of its arch, which it
    keeps as ``arch`` when NNI instantiates it (multi-trial); ``arch`` is None on the supernet.
    """

    def __init__(self, space_file: str) -> None:
        super().__init__()
        space = load_space(space_file)
        n, plans = len(space.stages), space.plan()
        self.stem, self.fc = init_weights(stem(space)), head(plans[-1].attn.out_channels, space.num_classes)

        def candidates(i: int) -> dict[str, nn.Module]:
            blocks = [b for b in plans if b.stage == i]
            return {
                c: init_weights(stage_blocks(blocks, plain_slots(space, (Choice.parse(c),) * n))) for c in space.choices
            }

        self.stages = nn.ModuleList(LayerChoice(candidates(i), label=f"stage{i}") for i in range(n))
        sample = current_model()  # set while NNI instantiates a frozen sample (simplified format)
        self.arch = None if sample is None else space.parse(arch_of(sample, n))

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(x.mean((2, 3)))


def arch_of(sample: dict, n_stages: int) -> str:
    """The arch string of an NNI sample ``{"stage0": "se16", ...}``."""
    return "-".join(str(sample[f"stage{i}"]) for i in range(n_stages))


def _train_trial(model: AttentionSpace, data: Data, cfg: NniConfig) -> None:
    """NNI's evaluator function: train one frozen arch with seknet's loop, report val accuracy as ``default``.

    The initial weights are drawn again as ``build_model(arch)`` draws them under ``cfg.seed`` (a Ray trial's
    start): NNI instantiates the sample from the global RNG as it stands after every model built before, so
    without this an arch's accuracy would depend on the search's history.
    """
    if model.arch is not None:
        model.load_state_dict(initial_model(model.arch, cfg.seed).state_dict())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tcfg = TrainConfig(cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    train_standalone(model.arch, data.train, tcfg, device, model=model)
    correct = evaluate(model, data.val, device)
    macs = count(model.arch).macs if model.arch is not None else None
    nni.report_final_result({"default": correct / len(data.val), "macs": macs})  # NNI keeps "default" only


class _Engine(SequentialExecutionEngine):
    """NNI's sequential engine, keeping each failed trial's reason (NNI only logs the traceback)."""

    def __init__(self, max_model_count: int) -> None:
        super().__init__(max_model_count=max_model_count, continue_on_failure=False)
        self.errors: dict[int, str] = {}

    def _run_single_model(self, model) -> None:
        try:
            super()._run_single_model(model)  # marks the model failed, then re-raises
        except Exception as e:  # noqa: BLE001 - recorded; the search goes on
            self.errors[id(model)] = error_line(e)


class _BudgetFilter:
    """NNI ``Filter`` predicate: True for archs ``in_budget``; the refused ones are kept in ``refused``."""

    def __init__(self, space: Space, in_budget: set[str]) -> None:
        self.space, self.in_budget, self.refused = space, in_budget, []

    def __call__(self, model) -> bool:
        arch = arch_of(model.sample, len(self.space.stages))
        ok = arch in self.in_budget
        if not ok:
            self.refused.append(arch)
        return ok


class _BudgetSPOS(RandomOneShot):
    """RandomOneShot (SPOS) sampling in-budget paths only, by rejection, trying as long as the budget needs.

    NNI gives up after 100 rejected samples; under a tight budget (1.4 % of digits' archs under 6.2 M
    MACs) that fails. ``patience`` = 50 / (in-budget fraction) fails with probability about e^-50.
    """

    def __init__(self, allowed: set[str], n_stages: int, fraction: float) -> None:
        super().__init__(filter=lambda sample: arch_of(sample, n_stages) in allowed)
        self.patience = max(100, math.ceil(50 / fraction))

    def configure_oneshot_module(self, training_module):
        module = super().configure_oneshot_module(training_module)
        module._sampling_patience = self.patience
        return module


def _strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """The NNI strategy ``cfg.strategy`` names (``seknet.core.plugins.STRATEGIES``)."""
    return STRATEGIES.load(cfg.strategy)(cfg, space, in_budget)


# The registered strategy builders: (cfg, space, archs in budget) -> an NNI strategy.


def random_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """NNI's random search, without repeats."""
    from nni.nas import strategy as S

    return S.Random(dedup=True, seed=cfg.seed)


def grid_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """NNI's grid search."""
    from nni.nas import strategy as S

    return S.GridSearch(seed=cfg.seed)


def evolution_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """NNI's regularized evolution (Real et al., arXiv 1802.01548), ``--population`` at most ``--trials``."""
    from nni.nas import strategy as S

    population = min(cfg.population, cfg.trials)
    return S.RegularizedEvolution(
        population_size=population, sample_size=max(2, population // 4), dedup=True, seed=cfg.seed
    )


def tpe_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """NNI's TPE, maximising accuracy (NNI's TPE minimises by default)."""
    from nni.nas import strategy as S

    return S.TPE(optimize_mode="maximize", seed=cfg.seed)


def spos_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """SPOS (arXiv 1904.00420) sampling the in-budget paths only."""
    n = len(space.stages)
    return _BudgetSPOS(in_budget, n, len(in_budget) / len(space.choices) ** n)


def darts_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """DARTS (arXiv 1806.09055)."""
    from nni.nas import strategy as S

    return S.DARTS()


def gumbel_darts_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """GumbelDARTS (SNAS-style sampling, arXiv 1812.09926)."""
    from nni.nas import strategy as S

    return S.GumbelDARTS()


def proxyless_strategy(cfg: NniConfig, space: Space, in_budget: set[str]):
    """ProxylessNAS (arXiv 1812.00332)."""
    from nni.nas import strategy as S

    return S.Proxyless()


def _run_multi_trial(cfg: NniConfig, space: Space, data: Data, in_budget: set[str]) -> list[dict]:
    from nni.nas.space import SimplifiedModelSpace
    from nni.nas.strategy.middleware import Chain, Deduplication, Filter

    budget = _BudgetFilter(space, in_budget)
    # NNI gives up after `patience` refusals in a row: as for SPOS, long enough for a tight budget, but for TPE,
    # whose NNI loop sleeps 1 s per proposal, NNI's 100 (a tight budget may end a TPE search early)
    fraction = len(in_budget) / len(space.choices) ** len(space.stages)
    patience = 100 if cfg.strategy == "tpe" else max(100, math.ceil(50 / fraction))
    middleware = [Filter(budget, metric_for_invalid=0.0, patience=patience)]
    if cfg.strategy == "tpe":  # random, grid and evolution deduplicate themselves (dedup=True); TPE does not
        middleware.insert(0, Deduplication("replay", retain_history=False))
    strategy = Chain(_strategy(cfg, space, in_budget), *middleware)
    evaluator = FunctionalEvaluator(_train_trial, data=data, cfg=cfg)
    engine = _Engine(cfg.trials)
    strategy.initialize(SimplifiedModelSpace.from_model(AttentionSpace(cfg.space), evaluator), engine)
    strategy.run()
    rows = []
    for k, m in enumerate(engine.list_models()):
        arch = arch_of(m.sample, len(space.stages))
        row = _row(space, arch, trial_id=f"nni_{k:05d}")
        if m.status == ModelStatus.Trained and m.metrics.final is not None:
            n = len(data.val)
            row |= accuracy_fields(round(m.metrics.final * n), n)
            row |= {"epochs_trained": cfg.epochs, "status": "complete"}
        else:
            row |= {
                "status": "failed",
                "error": engine.errors.get(id(m), f"NNI status {m.status.value}"),
            }
        rows.append(row)
    for arch in dict.fromkeys(budget.refused):  # refused by the filter: never trained
        rows.append(_row(space, arch, trial_id="") | {"status": "over_budget"})
    return rows


def _row(space: Space, arch: str, trial_id: str) -> dict:
    return trial_row(space, arch, trial_id=trial_id)


def _run_one_shot(cfg: NniConfig, space: Space, data: Data, workdir: Path, in_budget: set[str]) -> list[dict]:
    import pytorch_lightning as pl
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.space import RawFormatModelSpace
    from torch.utils.data import TensorDataset

    pl.seed_everything(cfg.seed, verbose=False)
    n = len(space.stages)
    train_dl = DataLoader(TensorDataset(data.train.x, data.train.y), batch_size=cfg.batch_size, shuffle=True)
    val_dl = DataLoader(TensorDataset(data.val.x, data.val.y), batch_size=512)
    evaluator = Classification(
        train_dataloaders=train_dl,
        val_dataloaders=val_dl,
        num_classes=space.num_classes,
        max_epochs=cfg.epochs,
        accelerator="auto",
        devices=1,
        default_root_dir=str(workdir),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=cfg.progress,
        enable_model_summary=False,
    )
    strategy = _strategy(cfg, space, in_budget)
    model_space = AttentionSpace(cfg.space)
    strategy.initialize(RawFormatModelSpace.from_model(model_space, evaluator), SequentialExecutionEngine())
    strategy.run()
    module = strategy.oneshot_module
    if cfg.strategy == "spos":  # SPOS's export is a uniform sample of the (budget-filtered) paths: draw several
        archs = list(dict.fromkeys(arch_of(module.resample(), n) for _ in range(8 * cfg.trials)))[: cfg.trials]
    else:
        archs = most_probable(space, module.export_probs(), in_budget, cfg.trials)
    supernet, rows = strategy.supernet, []
    recal = recal_batches(data, cfg.recal_images, cfg.recal_batch, cfg.seed)
    for arch in archs:
        sample = {f"stage{i}": c for i, c in enumerate(arch.split("-"))}
        net = supernet.freeze(sample)  # weight-preserving: the sub-net inherits the supernet's weights
        recalibrate_bn(net.cpu(), recal)
        correct = evaluate(net, data.val, "cpu")
        rows.append(
            _row(space, arch, trial_id=f"export_{len(rows)}")
            | accuracy_fields(correct, len(data.val))
            | {"epochs_trained": cfg.epochs, "status": "complete"}
        )
    return rows


def most_probable(space: Space, probs: dict, allowed: set[str], k: int) -> list[str]:
    """The ``k`` archs in ``allowed`` of highest joint probability under per-stage ``probs``.

    ``probs`` is NNI's ``export_probs()``: ``{"stage<i>": {choice: p}}``; stages are independent, so an
    arch's log-probability is the sum of its choices'. The first is the strategy's own export (the
    per-stage argmax) whenever that fits the budget.
    """

    def logp(arch: str) -> float:
        return sum(math.log(max(float(probs[f"stage{i}"][c]), 1e-12)) for i, c in enumerate(arch.split("-")))

    return sorted(allowed, key=lambda a: (-logp(a), count(space.parse(a)).macs))[:k]


check = no_check  # nothing to check before the run folder exists (seknet.modes.base.Mode)


def run(ctx: RunContext) -> Outcome:
    """Search the space with NNI strategy ``--strategy``; one row per NNI trial or exported arch."""
    cfg = ctx.cfg
    in_budget = {str(a) for a in ctx.archs}
    torch.manual_seed(cfg.seed)
    for name in ("nni", "pytorch_lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.INFO if cfg.progress else logging.WARNING)
    if not STRATEGIES[cfg.strategy].info["one_shot"]:
        rows = _run_multi_trial(cfg, ctx.space, ctx.data, in_budget)
    else:
        rows = _run_one_shot(cfg, ctx.space, ctx.data, ctx.partial / "lightning", in_budget)
    statuses = {s: sum(r["status"] == s for r in rows) for s in ("complete", "failed", "over_budget")}
    notes = [f"{len(rows)} trials: " + ", ".join(f"{v} {k}" for k, v in statuses.items() if v)]
    notes += [f"  failed {r['arch'] or '?'}: {r['error']}" for r in rows if r["status"] == "failed"]
    trained = len({r["arch"] for r in rows if r["status"] != "over_budget"})
    title = f"nni ({cfg.strategy}) on {ctx.data.name}: {statuses['complete']} complete trials"
    return Outcome(
        rows,
        MT_COLUMNS,
        {"trials": statuses, "proposals": {"distinct_archs_trained": trained}},
        title,
        notes=notes,
    )

"""The plugin registries: every kind of plugin found by name, and the one list of those names.

A registry maps a name to where its implementation lives, ``"package.module:attribute"`` (or ``"package.module"``
for a whole module), imported when first used, so that this module, the configs and the CLI's ``--help`` import no
torch, Ray or NNI. The CLI's choices, the configs' validation and the docs read the names from here; nothing else
keeps a list of them. Adding a plugin is one new module and one :meth:`Registry.register` call (or one line in the
built-in table below); ``tests/test_plugins.py`` adds a toy one of each kind.

- DATASETS: ``load(name, root, seed, size, **kw) -> Data``; digits, digits-plain, cifar10, cifar100, imagefolder.
- SAMPLERS: a ``seknet.engine.samplers.Sampler`` (the archs of one supernet step), with ``one_per_step``.
- PROPOSERS: ``(allowed, choices, stages, seed, cost, population) -> Proposer``; nsga2, tpe, random, grid.
- STRATEGIES: ``(cfg, space, in_budget) -> an NNI strategy``, with ``one_shot``.
- FORMATS: ``(model, example, path, check) -> outputs`` of the written model, with its ``suffix``.
- MODES: a module with ``check(ctx)`` and ``run(ctx) -> Outcome`` (``seknet.modes.base.Mode``), with its ``config``
  class, ``smoke`` presets and whether ``--resume`` continues it (``resumable``).
- STAGES: a module with ``run(ctx, outcome) -> Outcome``, run after a mode (``verify``).
- COMMANDS: what runs on a finished run folder rather than as a search (``retrain``): a function of the run.
- DEVICES: where latency is measured, ``(space, batch, threads, runs) -> latency table``; cpu, cuda.

Attention kinds have their own registry, ``seknet.core.attention.KINDS``, as their entries carry more than a path.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class UnknownName(ValueError, KeyError):
    """A name no plugin of a registry has: a ValueError whose message lists the valid names (and a KeyError, as
    a mapping raises)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Plugin:
    """One registered plugin: its name, where it lives, and facts about it that callers read without importing it
    (``info``, e.g. a sampler's ``one_per_step``, a format's ``suffix``, the pip extra it needs)."""

    name: str
    ref: str
    info: dict = field(default_factory=dict)

    def load(self) -> Any:
        """The implementation, imported on first use."""
        return load_ref(self.ref)


def load_ref(ref: str) -> Any:
    """What ``"package.module:attribute"`` (or ``"package.module"``) names, imported."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


class Registry(Mapping[str, Plugin]):
    """The plugins of one kind, by name, in registration order. Iterating gives the names (the CLI's choices)."""

    def __init__(self, kind: str, flag: str, builtin: dict[str, str | tuple[str, dict]]) -> None:
        self.kind, self.flag = kind, flag  # e.g. "dataset", "--data": what error messages name
        self._plugins: dict[str, Plugin] = {}
        for name, entry in builtin.items():
            ref, info = entry if isinstance(entry, tuple) else (entry, {})
            self.register(name, ref, **info)
        self.builtin = tuple(self._plugins)

    def register(self, name: str, ref: str, **info: Any) -> Plugin:
        """Make ``name`` known (``ref``: ``"package.module:attribute"``); returns the plugin. A name taken by
        another plugin is a ValueError."""
        plugin = Plugin(name, ref, info)
        if not name or name != name.strip() or "|" in name:
            raise ValueError(f"{self.kind} name {name!r}: a non-empty name without spaces at its ends or '|'")
        if name in self._plugins and self._plugins[name] != plugin:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._plugins[name] = plugin
        return plugin

    def unregister(self, name: str) -> None:
        """Forget a plugin that :meth:`register` added (the built-in ones stay)."""
        if name in self.builtin:
            raise ValueError(f"{name!r} is a built-in {self.kind}")
        self._plugins.pop(name, None)

    def __getitem__(self, name: str) -> Plugin:
        if name not in self._plugins:
            raise UnknownName(f"unknown {self.kind} {name!r}; valid: {'|'.join(self._plugins)}")
        return self._plugins[name]

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._plugins))

    def __len__(self) -> int:
        return len(self._plugins)

    def names(self, **info: Any) -> tuple[str, ...]:
        """The names whose ``info`` has every given value, e.g. ``SAMPLERS.names(one_per_step=True)``."""
        return tuple(n for n, p in self._plugins.items() if all(p.info.get(k) == v for k, v in info.items()))

    def load(self, name: str) -> Any:
        """The implementation of ``name``: ValueError naming the valid names for an unknown one, or the pip extra to
        install when its packages are missing."""
        plugin = self[name]
        try:
            return plugin.load()
        except ImportError as e:
            extra = plugin.info.get("extra")
            if extra is None:
                raise
            raise ValueError(
                f"{self.flag} {name} needs {extra} ({e}); install it with: pip install -e '.[{extra}]'"
            ) from None


DATASETS = Registry(
    "dataset",
    "--data",
    {
        "digits": "seknet.data.digits:dataset",
        "digits-plain": "seknet.data.digits:dataset",
        "cifar10": "seknet.data.files:load",
        "cifar100": "seknet.data.files:load",
        "imagefolder": "seknet.data.files:load",
    },
)
SAMPLERS = Registry(  # one-shot supernet path sampling; one_per_step: data-parallel training can run it
    "sampler",
    "--sampler",
    {
        "uniform": ("seknet.engine.samplers:UNIFORM", {"one_per_step": True}),
        "sandwich": ("seknet.engine.samplers:SANDWICH", {"one_per_step": False}),
        "fair": ("seknet.engine.samplers:FAIR", {"one_per_step": False}),
        "balanced": ("seknet.engine.samplers:BALANCED", {"one_per_step": True}),
    },
)
PROPOSERS = Registry(  # multi-trial proposal samplers, and one-shot's NSGA-II beyond the exhaustive limit
    "proposer",
    "--sampler",
    {
        "nsga2": "seknet.modes.proposers:nsga2",
        "tpe": "seknet.modes.proposers:tpe",
        "random": "seknet.modes.proposers:shuffled",
        "grid": "seknet.modes.proposers:exhaustive",
    },
)
STRATEGIES = Registry(  # NNI's strategies (seknet.modes.nni)
    "strategy",
    "--strategy",
    {
        "random": ("seknet.modes.nni:random_strategy", {"one_shot": False, "extra": "nni"}),
        "grid": ("seknet.modes.nni:grid_strategy", {"one_shot": False, "extra": "nni"}),
        "evolution": ("seknet.modes.nni:evolution_strategy", {"one_shot": False, "extra": "nni"}),
        "tpe": ("seknet.modes.nni:tpe_strategy", {"one_shot": False, "extra": "nni"}),
        "spos": ("seknet.modes.nni:spos_strategy", {"one_shot": True, "extra": "nni"}),
        "darts": ("seknet.modes.nni:darts_strategy", {"one_shot": True, "extra": "nni"}),
        "gumbel-darts": ("seknet.modes.nni:gumbel_darts_strategy", {"one_shot": True, "extra": "nni"}),
        "proxyless": ("seknet.modes.nni:proxyless_strategy", {"one_shot": True, "extra": "nni"}),
    },
)
FORMATS = Registry(  # deployable exports (seknet.engine.deploy)
    "format",
    "--format",
    {
        "onnx": ("seknet.engine.deploy:onnx", {"suffix": ".onnx", "extra": "onnx"}),
        "pt2": ("seknet.engine.deploy:pt2", {"suffix": ".pt2"}),
        "torchscript": ("seknet.engine.deploy:torchscript", {"suffix": ".torchscript"}),
    },
)
MODES = Registry(  # search modes: run(ctx) -> Outcome (seknet.modes.base.Mode); config: its settings; smoke: --smoke
    "mode",
    "--mode",
    {
        "oneshot": (
            "seknet.modes.oneshot",
            {
                "config": "seknet.core.config:OneShotConfig",
                "resumable": True,
                "smoke": {"epochs": 1, "recal_images": 64, "slice": 0.5, "verify_epochs": 1},
            },
        ),
        "multitrial": (
            "seknet.modes.multitrial",
            {"config": "seknet.core.config:MultiTrialConfig", "smoke": {"epochs": 1, "trials": 4}, "resumable": True},
        ),
        "nni": (
            "seknet.modes.nni",
            {
                "config": "seknet.core.config:NniConfig",
                "smoke": {"epochs": 1, "trials": 3, "recal_images": 64},
                "extra": "nni",
            },
        ),
    },
)
STAGES = Registry(  # stages after a mode's run: run(ctx, outcome) -> Outcome
    "stage",
    "stage",
    {"verify": "seknet.modes.verify"},
)
DEVICES = Registry(  # where latency tables are measured (seknet.engine.latency); --latency-device, latency --device
    "latency device",
    "--latency-device",
    {"cpu": "seknet.engine.latency:on_cpu", "cuda": "seknet.engine.latency:on_cuda"},
)
COMMANDS = Registry(  # commands on a finished run folder (search.py retrain RUN, ...)
    "command",
    "command",
    {"retrain": "seknet.runs.retrain:retrain", "dashboard": "seknet.runs.dashboard:serve"},
)

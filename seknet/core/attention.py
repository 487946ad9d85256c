"""Attention choices: what a stage's choice such as ``se16`` or ``sk3`` means, its kind found by the prefix.

A :class:`Choice` is ``none``, or a registered attention kind's name and its value (``se16``: SE with r = 16). It
fills one of two slots of every block in its stage (see ``seknet.nn.blocks``): ``none`` leaves both plain, an
``attn`` kind goes after the block's last BN, a ``conv`` kind replaces the block's 3x3 conv.

A kind names the paper, the block slot it fills (see ``seknet.nn.blocks``), its knob and the values the knob may
take, and where its parts live: the stand-alone module, the supernet's shared module, its exact count and the
space check. The parts are named as ``"package.module:attribute"`` and imported when first used, so this registry,
and the core that parses and counts archs, import no torch. Built in:

- ``se`` Squeeze-and-Excitation (Hu et al., arXiv 1709.01507): the attention slot, after the block's last BN;
  knob ``reduction`` r in {4, 8, 16, 32}.
- ``sk`` Selective Kernel (Li et al., arXiv 1903.06586): the conv slot, replacing the block's 3x3 conv;
  knob ``num_paths`` M in {2, 3, 4}.

A new kind (CBAM, ECA, ...) is one new module holding its parts and one :func:`register` call (or one entry in
``BUILTIN``), as timm's ``create_attn`` maps a name to a class.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SLOTS = (
    "attn",
    "conv",
)  # attn: after the block's last BN, before the residual add; conv: replaces the 3x3 conv


@dataclass(frozen=True)
class SlotShape:
    """Where a slot sits in its block: the conv slot's in/out channels, stride and groups; the attention slot has
    ``in_channels == out_channels``, the block's output width."""

    in_channels: int
    out_channels: int
    stride: int = 1
    groups: int = 1


@dataclass(frozen=True)
class AttentionKind:
    """One attention kind. ``module``, ``shared``, ``count`` and ``check`` are ``"package.module:attribute"`` paths
    (or the objects themselves):

    - ``module``: the stand-alone nn.Module class; ``Class.for_slot(space, value, shape)`` builds it;
    - ``count``: ``count(space, value, shape, hw) -> Count``, exact params, MACs and attention ops;
    - ``shared``: the supernet's module holding every value (``Class.for_slot(space, values, shape)``), called as
      ``shared(x, value)`` and slicing its widest tensors (see ``seknet.nn.supernet``); None: one module per value;
    - ``check``: ``check(space, stage, value) -> str | None``, why the space's stage cannot take the value.
    """

    name: str  # the choice prefix: se -> se4, se8, ...
    slot: str  # one of SLOTS
    knob: str  # the paper's name of the value: reduction (r), num_paths (M)
    values: tuple[int, ...]
    paper: str
    module: Any
    count: Any
    shared: Any = None  # None: the supernet keeps one module per value (no slicing)
    check: Any = None

    def __post_init__(self) -> None:
        if not self.name.isalpha() or self.name == "none" or self.slot not in SLOTS or not self.values:
            raise ValueError(
                f"attention kind {self.name!r}: a lower-case name other than 'none', slot in "
                f"{'|'.join(SLOTS)} and at least one value"
            )

    def part(self, field: str) -> Any:
        """The part named by ``field`` (module, shared, count, check), imported on first use; None if absent."""
        ref = getattr(self, field)
        if not isinstance(ref, str):
            return ref
        module, _, attr = ref.partition(":")
        return getattr(importlib.import_module(module), attr)

    def choices(self) -> tuple[str, ...]:
        """The choice strings of this kind, e.g. ('se4', 'se8', 'se16', 'se32')."""
        return tuple(f"{self.name}{v}" for v in self.values)


BUILTIN = (
    AttentionKind(
        "se",
        "attn",
        "reduction",
        (4, 8, 16, 32),
        "Squeeze-and-Excitation Networks, arXiv 1709.01507",
        module="seknet.nn.se:SqueezeExcite",
        count="seknet.core.count:se_slot_count",
        shared="seknet.nn.se:SharedSqueezeExcite",
        check="seknet.core.space:check_se",
    ),
    AttentionKind(
        "sk",
        "conv",
        "num_paths",
        (2, 3, 4),
        "Selective Kernel Networks, arXiv 1903.06586",
        module="seknet.nn.sk:SelectiveKernel",
        count="seknet.core.count:sk_slot_count",
        shared="seknet.nn.sk:SharedSelectiveKernel",
        check="seknet.core.space:check_sk",
    ),
)
KINDS: dict[str, AttentionKind] = {k.name: k for k in BUILTIN}
BUILTIN_CHOICES = ("none", *(c for k in BUILTIN for c in k.choices()))  # a space's default choices


def register(kind: AttentionKind) -> AttentionKind:
    """Make ``kind`` known by its name (its choices parse, build, count and share from then on); returns it."""
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"attention kind {kind.name!r} is registered already")
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forget a kind :func:`register` added (the built-in ones stay)."""
    if name in {k.name for k in BUILTIN}:
        raise ValueError(f"{name!r} is a built-in attention kind")
    KINDS.pop(name, None)


def kind(name: str) -> AttentionKind:
    """The registered kind called ``name``."""
    return KINDS[name]


def all_choices() -> tuple[str, ...]:
    """'none' and every choice of every registered kind."""
    return ("none", *(c for k in KINDS.values() for c in k.choices()))


def parts(name: str, field: str) -> Callable:
    """Shorthand for ``kind(name).part(field)``."""
    return KINDS[name].part(field)


ALL_CHOICES = BUILTIN_CHOICES  # none|se4|se8|se16|se32|sk2|sk3|sk4: the default choices of a space
_CHOICE = re.compile(r"^(none|([a-z]+)(\d+))$")


@dataclass(frozen=True)
class Choice:
    """One stage's attention: ``kind`` a registered kind's name (or ``none``); ``value`` its knob (r for SE, M for
    SK; 0 for none)."""

    kind: str = "none"
    value: int = 0

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}{self.value}"

    @property
    def slot(self) -> str | None:
        """The block slot this choice fills: ``attn``, ``conv``, or None for ``none``."""
        return None if self.kind == "none" else KINDS[self.kind].slot

    @staticmethod
    def parse(text: object, where: str = "arch") -> Choice:
        """``"se16"`` -> ``Choice("se", 16)``; ``ValueError`` lists the valid choices otherwise."""
        m = _CHOICE.match(text) if isinstance(text, str) else None
        if m and m.group(1) == "none":
            return Choice()
        if m and m.group(2) in KINDS and int(m.group(3)) in KINDS[m.group(2)].values:
            return Choice(m.group(2), int(m.group(3)))
        raise ValueError(f"{where}: unknown choice {text!r}; valid: {'|'.join(all_choices())}")


SEPARATOR = "-"  # between the stage choices of an arch string: se16-none-sk3-se4


@functools.lru_cache(maxsize=1 << 16)
def stage_choices(arch: str) -> tuple[Choice, ...]:
    """The choices of an arch string, one per stage, without a space to check them against (analysis of tables):
    ``"se16-none"`` -> ``(Choice("se", 16), Choice())``. ``Space.parse`` also checks the stage count and the space."""
    return tuple(Choice.parse(p, f"arch {arch!r}") for p in arch.strip().split(SEPARATOR))


@functools.lru_cache(maxsize=1 << 16)
def stage_names(arch: str) -> tuple[str, ...]:
    """The choice strings of an arch string, one per stage, each checked by :meth:`Choice.parse`."""
    return tuple(str(c) for c in stage_choices(arch))


def with_choice(arch: str, stage: int, choice: str) -> str:
    """``arch`` with ``stage`` set to ``choice``."""
    names = list(stage_names(arch))
    names[stage] = choice
    return SEPARATOR.join(names)

"""Arch configs: one attention choice per stage, e.g. ``se16-none-sk3-se4``.

A stage choice fills one of two slots of every block in the stage (see ``seknet.blocks``):
``none`` leaves both plain, ``se<r>`` puts SE(r) in the attention slot (Hu et al., arXiv 1709.01507),
``sk<M>`` puts an M-path Selective Kernel conv in the conv slot (Li et al., arXiv 1903.06586).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from seknet.space import Space

SE_REDUCTIONS = (4, 8, 16, 32)  # r
SK_PATHS = (2, 3, 4)  # M
ALL_CHOICES = ("none", *(f"se{r}" for r in SE_REDUCTIONS), *(f"sk{m}" for m in SK_PATHS))
_CHOICE = re.compile(r"^(none|se(\d+)|sk(\d+))$")


@dataclass(frozen=True)
class Choice:
    """One stage's attention: ``kind`` in {none, se, sk}; ``value`` is r for SE, M for SK, 0 for none."""

    kind: str = "none"
    value: int = 0

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}{self.value}"

    @staticmethod
    def parse(text: object, where: str = "arch") -> Choice:
        """``"se16"`` -> ``Choice("se", 16)``; ``ValueError`` lists the valid choices otherwise."""
        m = _CHOICE.match(text) if isinstance(text, str) else None
        choice = None
        if m and m.group(1) == "none":
            choice = Choice()
        elif m and m.group(2) and int(m.group(2)) in SE_REDUCTIONS:
            choice = Choice("se", int(m.group(2)))
        elif m and m.group(3) and int(m.group(3)) in SK_PATHS:
            choice = Choice("sk", int(m.group(3)))
        if choice is None:
            raise ValueError(f"{where}: unknown choice {text!r}; valid: {'|'.join(ALL_CHOICES)}")
        return choice


@dataclass(frozen=True)
class Arch:
    """A point of a space: the space itself plus one :class:`Choice` per stage."""

    space: Space
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if len(self.choices) != len(self.space.stages):
            raise ValueError(
                f"arch has {len(self.choices)} choices but space {self.space.name!r} "
                f"has {len(self.space.stages)} stages"
            )
        for i, c in enumerate(self.choices):
            self.space.validate_choice(i, c)

    def __str__(self) -> str:
        return "-".join(str(c) for c in self.choices)

    def to_dict(self) -> dict:
        """Plain data: the short string and the resolved space, enough to rebuild the model."""
        return {"arch": str(self), "space": self.space.to_dict()}

    def to_yaml(self) -> str:
        """YAML text that ``seknet.load_arch`` / ``seknet.space.arch_from_yaml`` read back to an equal arch."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

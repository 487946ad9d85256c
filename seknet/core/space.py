"""Search spaces and their archs: a declarative ResNet backbone, the attention choices each stage may take, and an
arch as one choice per stage (``se16-none-sk3-se4``).

A space is read from YAML (``search_space/*.yaml``) into frozen dataclasses. All validation of a
space lives here and raises ``ValueError`` naming the file, the field and the valid values; each attention kind
adds its own check of a stage (``check_se``, ``check_sk``; see :mod:`seknet.core.attention`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seknet.core.attention import ALL_CHOICES, KINDS, Choice, SlotShape
from seknet.core.fileio import parse_yaml, read_yaml

BLOCKS = ("basic", "bottleneck")
STEMS = ("cifar", "imagenet")


@dataclass(frozen=True)
class Stage:
    """One ResNet stage: ``depth`` blocks of ``block`` kind, the first one strided."""

    depth: int  # number of residual blocks
    width: int  # torchvision's `planes`; a bottleneck outputs 4 * width channels
    stride: int = 1  # stride of the stage's first block, carried by its 3x3 conv (torchvision v1.5)
    block: str = "basic"  # "basic" or "bottleneck"
    groups: int = 1  # ResNeXt cardinality of the bottleneck 3x3 conv
    base_width: int = 64  # ResNeXt base width: inner width = width * base_width / 64 * groups


@dataclass(frozen=True)
class SE:
    """Space-level knobs of Squeeze-and-Excitation (arXiv 1709.01507). r is chosen per stage."""

    bias: bool = True  # FC bias, as in the released SENet models and timm
    gain: float = 1.0  # the excitation is gain * sigmoid(.); 2 starts SE near identity (NF-Nets' attn_gain)


@dataclass(frozen=True)
class SK:
    """Space-level knobs of Selective Kernel convs (arXiv 1903.06586). M is chosen per stage."""

    groups: int = 32  # G: groups of each path's 3x3 conv, used as min(G, C)
    reduction: int = 16  # r: the fuse FC has d = max(C // r, L) units
    min_attn_channels: int = 32  # L


@dataclass(frozen=True)
class Space:
    """A backbone and the attention choices open to each of its stages."""

    name: str
    in_channels: int  # image channels
    input_size: int  # square input side, pixels
    num_classes: int
    stem: str  # "cifar": 3x3 s1 conv; "imagenet": 7x7 s2 conv + 3x3 s2 max-pool
    stem_width: int
    stages: tuple[Stage, ...]
    choices: tuple[str, ...] = ALL_CHOICES  # what every stage may take
    se: SE = SE()
    sk: SK = SK()
    path: str = field(default="", compare=False)  # file it was read from, for messages only

    def to_dict(self) -> dict[str, Any]:
        """The resolved space as plain YAML-able data (every default filled in)."""
        d = dataclasses.asdict(self)
        d.pop("path")
        d["stages"] = [dict(s) for s in d["stages"]]
        d["choices"] = list(d["choices"])
        return d

    def parse(self, text: str) -> Arch:
        """``"se16-none-sk3-se4"`` -> :class:`Arch`; raises ``ValueError`` naming the bad part."""
        if not isinstance(text, str):
            raise ValueError(f"arch must be a string like 'se16-none-sk3-se4', got {text!r}")
        parts = text.strip().split("-")
        if len(parts) != len(self.stages):
            raise ValueError(
                f"arch {text!r} has {len(parts)} stage choice(s) but space {self.name!r} has "
                f"{len(self.stages)} stages; give one of {'|'.join(self.choices)} per stage, joined by '-'"
            )
        return Arch(self, tuple(Choice.parse(p, f"arch {text!r}, stage {i}") for i, p in enumerate(parts)))

    def channels(self, i: int) -> tuple[int, int]:
        """(conv-slot width, attention-slot width) of stage ``i``: where SK and SE act."""
        s = self.stages[i]
        if s.block == "basic":
            return s.width, s.width
        return s.width * s.base_width // 64 * s.groups, s.width * 4

    def in_channels_of(self, i: int) -> int:
        """Channels entering stage ``i``: the stem's width, or the previous stage's output."""
        return self.stem_width if i == 0 else self.channels(i - 1)[1]

    def sk_groups(self, channels: int) -> int:
        """Groups of an SK path's conv on ``channels``: min(G, C), as narrow stages need."""
        return min(self.sk.groups, channels)

    def sk_attn_channels(self, channels: int) -> int:
        """d = max(C // r, L) of the SK fuse FC (Li et al., eq. 4)."""
        return max(channels // self.sk.reduction, self.sk.min_attn_channels)

    def archs(self) -> list[Arch]:
        """Every arch of the space, in lexicographic order of choices."""
        import itertools

        opts = [Choice.parse(c) for c in self.choices]
        return [Arch(self, combo) for combo in itertools.product(opts, repeat=len(self.stages))]

    def validate_choice(self, i: int, choice: Choice) -> None:
        """Raise ``ValueError`` if stage ``i`` cannot take ``choice`` (its kind's own check says why)."""
        where = f"{self.path or self.name}: stage {i}"
        if str(choice) not in self.choices:
            raise ValueError(f"{where}: choice {choice} is not in this space; valid: {'|'.join(self.choices)}")
        check = None if choice.kind == "none" else KINDS[choice.kind].part("check")
        why = check(self, i, choice.value) if check is not None else None
        if why:
            raise ValueError(f"{where}: {choice} {why}")

    def stem_side(self) -> int:
        """Side of the stem's output, the first stage's input (the ImageNet stem's conv and pool each halve it)."""
        return conv_side(conv_side(self.input_size, 2), 2) if self.stem == "imagenet" else self.input_size

    def plan(self) -> tuple[BlockPlan, ...]:
        """Every residual block as it is built, in order: the one place a block's widths, strides and sides are
        worked out (the builders in ``seknet.nn``, the counts and the latency tables read them from here)."""
        plans, in_c, side = [], self.stem_width, self.stem_side()
        for i, s in enumerate(self.stages):
            conv_c, out_c = self.channels(i)
            for j in range(s.depth):
                stride = s.stride if j == 0 else 1
                conv_in = in_c if s.block == "basic" else conv_c
                conv = SlotShape(conv_in, conv_c, stride, 1 if s.block == "basic" else s.groups)
                out_side = conv_side(side, stride)
                plans.append(BlockPlan(i, s.block, in_c, s.width, conv, SlotShape(out_c, out_c), side, out_side))
                in_c, side = out_c, out_side
        return tuple(plans)


@dataclass(frozen=True)
class BlockPlan:
    """One residual block where it sits: its stage, block kind, input channels and torchvision's ``planes``
    (``width``), the shapes of its conv slot (which carries the stride) and attention slot, and the side of its
    input and output feature maps."""

    stage: int
    block: str  # "basic" or "bottleneck"
    in_channels: int
    width: int
    conv: SlotShape
    attn: SlotShape  # in == out == the block's output channels
    side_in: int
    side: int


def conv_side(size: int, stride: int) -> int:
    """Output side of every conv and pool of these backbones: padding keeps 'same' size, the stride rounds up."""
    return (size - 1) // stride + 1


def check_se(space: Space, i: int, r: int) -> str | None:
    """Why stage ``i`` cannot take SE(r): r leaves no hidden unit on the stage's channels (None when it can)."""
    attn_c = space.channels(i)[1]
    if attn_c // r < 1:
        return (
            f"leaves no hidden unit on {attn_c} channels ({attn_c} // {r} = 0); use a reduction r <= {attn_c} or "
            "a wider stage"
        )
    return None


def check_sk(space: Space, i: int, m: int) -> str | None:
    """Why stage ``i`` cannot take SK(M): its groups do not divide the SK conv's widths (None when it can)."""
    conv_c = space.channels(i)[0]
    g = space.sk_groups(conv_c)
    # a basic block's SK conv also reads the previous stage's width
    widths = {conv_c, space.in_channels_of(i)} if space.stages[i].block == "basic" else {conv_c}
    bad = sorted(w for w in widths if w % g)
    if bad:
        dividing = " and ".join(map(str, sorted(widths)))
        return (
            f"cannot be built: sk.groups={space.sk.groups} gives {g} groups that do not divide the "
            f"{bad[0]}-channel SK conv; choose sk.groups dividing {dividing}"
        )
    return None


@dataclass(frozen=True)
class Arch:
    """A point of a space: the space itself plus one :class:`Choice` per stage."""

    space: Space
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if len(self.choices) != len(self.space.stages):
            raise ValueError(
                f"arch has {len(self.choices)} choices but space {self.space.name!r} has {len(self.space.stages)} "
                "stages"
            )
        for i, c in enumerate(self.choices):
            self.space.validate_choice(i, c)

    def __str__(self) -> str:
        return "-".join(str(c) for c in self.choices)

    def to_dict(self) -> dict:
        """Plain data: the short string and the resolved space, enough to rebuild the model."""
        return {"arch": str(self), "space": self.space.to_dict()}

    def to_yaml(self) -> str:
        """YAML text that ``seknet.load_arch`` / :func:`arch_from_yaml` read back to an equal arch."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate a dataclass from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of {', '.join(f.name for f in dataclasses.fields(cls))}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        valid = ", ".join(n for n in names if n != "path")
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; valid keys: {valid}")
    for k, v in data.items():
        want = names[k].type
        ok = {
            "int": isinstance(v, int) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "str": isinstance(v, str),
            "float": isinstance(v, (int, float)) and not isinstance(v, bool),
        }
        if want in ok and not ok[want]:
            raise ValueError(f"{where}.{k}: expected {want}, got {v!r}")
        if want == "int" and v < 1:
            raise ValueError(f"{where}.{k}: must be a positive integer, got {v}")
        if want == "float" and not v > 0:
            raise ValueError(f"{where}.{k}: must be a positive number, got {v}")
    try:
        return cls(**data)
    except TypeError as e:  # a required key is missing
        missing = str(e).split("argument")[-1].strip(": ")
        raise ValueError(f"{where}: missing required key {missing}") from None


def space_from_dict(data: Any, path: str = "") -> Space:
    """Validate plain data (as read from YAML) into a :class:`Space`."""
    where = path or "space"
    if not isinstance(data, dict):
        raise ValueError(f"{where}: a space file must be a YAML mapping with keys name, stages, ...")
    data = dict(data)
    try:
        stages = data.pop("stages")
    except KeyError:
        raise ValueError(f"{where}: missing required key 'stages'") from None
    if not isinstance(stages, list) or not stages:
        raise ValueError(f"{where}.stages: expected a non-empty list of stages")
    data["stages"] = tuple(_build(Stage, s, f"{where}.stages[{i}]") for i, s in enumerate(stages))
    data["se"] = _build(SE, data.get("se") or {}, f"{where}.se")
    data["sk"] = _build(SK, data.get("sk") or {}, f"{where}.sk")
    if "choices" in data:
        ch = data["choices"]
        if not isinstance(ch, list) or not ch:
            raise ValueError(f"{where}.choices: expected a list drawn from {'|'.join(ALL_CHOICES)}")
        for c in ch:
            Choice.parse(c, where=f"{where}.choices")
        data["choices"] = tuple(str(Choice.parse(c)) for c in ch)
    space = _build(Space, data | {"path": path}, where)
    for i, s in enumerate(space.stages):
        w = f"{where}.stages[{i}]"
        if s.block not in BLOCKS:
            raise ValueError(f"{w}.block: unknown block {s.block!r}; valid: {'|'.join(BLOCKS)}")
        if s.block == "basic" and (s.groups != 1 or s.base_width != 64):
            raise ValueError(f"{w}: groups and base_width apply to bottleneck blocks only; remove them")
        if space.channels(i)[0] < 1:  # inner = width * base_width // 64 * groups, a multiple of groups
            raise ValueError(f"{w}: width * base_width = {s.width * s.base_width} < 64 leaves the 3x3 conv no channels")
    if space.stem not in STEMS:
        raise ValueError(f"{where}.stem: unknown stem {space.stem!r}; valid: {'|'.join(STEMS)}")
    for i in range(len(space.stages)):
        for c in space.choices:
            space.validate_choice(i, Choice.parse(c))
    return space


BUNDLED = Path(__file__).resolve().parents[2] / "search_space"  # the shipped spaces, beside the package


def load_space(path: str | Path) -> Space:
    """Read and validate a search-space YAML file; ``ValueError`` names the file and field on bad input.

    A relative path that does not exist from here but names a shipped space (``search_space/digits.yaml``) reads
    the shipped one, so ``seknet run`` works from any folder."""
    p = Path(path)
    if not p.exists() and not p.is_absolute() and p.parts[:1] == ("search_space",) and (BUNDLED / p.name).is_file():
        p = BUNDLED / p.name
    data = read_yaml(p, "no such space file; the shipped ones are in search_space/")
    return space_from_dict(data, str(path))


def arch_from_dict(data: object, where: str = "arch") -> Arch:
    """Inverse of :meth:`Arch.to_dict`."""
    if not isinstance(data, dict) or not {"arch", "space"} <= set(data) <= {
        "arch",
        "space",
        "metrics",
        "deploy",
    }:
        raise ValueError(
            f"{where}: an arch file is a mapping with the keys 'arch' and 'space' (and optional 'metrics', 'deploy')"
        )
    return space_from_dict(data["space"], f"{where}: space").parse(data["arch"])


def arch_from_yaml(text: str, where: str = "arch") -> Arch:
    """Inverse of :meth:`Arch.to_yaml`."""
    return arch_from_dict(parse_yaml(text, where), where)


def load_arch(path: str | Path) -> Arch:
    """Read an arch YAML file (as written by ``search.py export``)."""
    return arch_from_dict(read_yaml(path, "no such arch file; pass a YAML written by 'search.py export'"), str(path))

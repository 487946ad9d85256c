"""Weight-sharing supernet over a space's attention choices (SPOS, Guo et al., arXiv 1904.00420).

Every stage holds all its choices at once, sharing the trunk (stem, 1x1 convs, shortcuts, head). Per block, the
conv slot keeps the plain 3x3 conv (for none and the attention-slot kinds) and one shared module per conv-slot kind
of the space (SK); the attention slot keeps one shared module per attention-slot kind (SE). Each kind's shared
module slices its widest tensors for a smaller choice (Once-for-All), as its class draws it::

    SE fc1.weight (C/4, C): rows [:C/r] are SE(r)          SK select (4*C, d): rows [:M*C] are SK(M)

(``seknet.nn.se.SharedSqueezeExcite``, ``seknet.nn.sk.SharedSelectiveKernel``; the widest is the space's smallest r
and largest M.) A shared module whose values share the first part of their computation says so with ``common(x,
values)`` and ``finish(common, value)`` (``forward(x, v)`` is ``finish(common(x, [v]), v)``; SK: the paths), and
scoring computes that part once for all the values it needs.

``sharing="separate"`` is the less-shared variant ("How to Train Your Super-Net", arXiv 2003.04276,
on reducing interference): the trunk and the plain 3x3 conv stay shared, but every value of a kind keeps weights of
its own::

    attn.se.<r>   one SqueezeExcite(C, r) per r        conv.sk.<M>   one SelectiveKernel(M) per M

``choice_affine=True`` gives each choice of each block its own affine correction of the block's last BN
output, before the attention slot (per-choice BN affine, as Shadow BN in MixPath, arXiv 2001.05887, and
the per-arch BN of Sandwich BN, arXiv 2102.11382)::

    attn.scale[c] (C,), attn.shift[c] (C,):  x -> scale[c] * x + shift[c], c = the stage's choice string

A shared BN gamma cannot be right for ``none`` and SE(r) at once: SE's sigmoid gate starts at 0.5 and halves
its branch, so the shared scale settles between them. Extraction folds the correction into the stand-alone
BN (gamma' = scale * gamma, beta' = scale * beta + shift), so the sub-net is still ``build_model(arch)``.

The arch is always explicit: ``supernet(x, arch)`` and ``supernet.extract(arch)``; no module keeps
an "active" choice.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seknet.core.attention import KINDS, Choice, SlotShape
from seknet.core.space import Arch, Space
from seknet.nn.backbone import ResNet, build_model
from seknet.nn.layers import ConvBnAct, recalibrate_bn  # noqa: F401 - recalibrate_bn: its old home

SHARING = ("sliced", "separate")


def kind_values(space: Space, slot: str) -> dict[str, tuple[int, ...]]:
    """{kind name: the values the space offers} for the kinds of ``space.choices`` that fill ``slot``."""
    out: dict[str, list[int]] = {}
    for c in map(Choice.parse, space.choices):
        if c.slot == slot:
            out.setdefault(c.kind, []).append(c.value)
    return {k: tuple(sorted(v)) for k, v in out.items()}


class Separate(nn.ModuleDict):
    """One stand-alone module per value of a kind (``sharing="separate"``), called as ``module(x, value)``."""

    def __init__(self, space: Space, kind: str, values: tuple[int, ...], shape: SlotShape) -> None:
        build = KINDS[kind].part("module").for_slot
        super().__init__({str(v): build(space, v, shape) for v in values})

    def forward(self, x: Tensor, value: int) -> Tensor:
        return self[str(value)](x)


def _shared(space: Space, kind: str, values: tuple[int, ...], shape: SlotShape, sharing: str) -> nn.Module:
    """The supernet's module for every value of ``kind`` in one slot: the kind's sliced one, or :class:`Separate`
    (with ``sharing="separate"``, or for a kind that has no sliced module)."""
    shared = KINDS[kind].part("shared")
    if sharing == "separate" or shared is None:
        return Separate(space, kind, values, shape)
    return shared.for_slot(space, values, shape)


class SuperConvSlot(nn.Module):
    """The conv slot with every choice: ``conv`` (3x3) for none and attention-slot kinds, and one module per conv-slot
    kind, named by the kind (``sk``), for that kind's choices."""

    def __init__(self, space: Space, shape: SlotShape, sharing: str) -> None:
        super().__init__()
        self.conv = ConvBnAct(shape.in_channels, shape.out_channels, 3, shape.stride, shape.groups)
        for kind, values in kind_values(space, "conv").items():
            self.add_module(kind, _shared(space, kind, values, shape, sharing))

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        return self.source(choice)(x, choice.value) if choice.slot == "conv" else self.conv(x)

    def source(self, choice: Choice) -> nn.Module:
        """The module that computes this slot for ``choice``: the 3x3 ``conv`` for none and the attention-slot kinds
        (one output for all of them), else the choice's kind's module, called with the choice's value."""
        return self.get_submodule(choice.kind) if choice.slot == "conv" else self.conv


class ChoiceAffine(nn.Module):
    """Per-choice scale and shift of a block's last BN output: ``scale[c] * x + shift[c]`` (identity at init)."""

    def __init__(self, channels: int, choices: list[str]) -> None:
        super().__init__()
        self.scale = nn.ParameterDict({c: nn.Parameter(torch.ones(channels)) for c in choices})
        self.shift = nn.ParameterDict({c: nn.Parameter(torch.zeros(channels)) for c in choices})

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        c = str(choice)
        return x * self.scale[c][:, None, None] + self.shift[c][:, None, None]  # (B, C, H, W)


class SuperAttnSlot(nn.Module):
    """The attention slot with every choice: identity, or one module per attention-slot kind, named by the kind
    (``se``). With ``choice_affine``, a :class:`ChoiceAffine` over the space's choices comes first (``affine``)."""

    def __init__(self, space: Space, channels: int, sharing: str, choice_affine: bool = False) -> None:
        super().__init__()
        for kind, values in kind_values(space, "attn").items():
            self.add_module(kind, _shared(space, kind, values, SlotShape(channels, channels), sharing))
        self.affine = ChoiceAffine(channels, list(space.choices)) if choice_affine else None

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        if self.affine is not None:
            x = self.affine(x, choice)
        return self.get_submodule(choice.kind)(x, choice.value) if choice.slot == "attn" else x


class Supernet(ResNet):
    """All archs of ``space`` in one network; call it as ``supernet(x, arch)``.

    ``sharing`` is ``sliced`` (SE(r) and SK(M) slice one widest tensor, Once-for-All) or ``separate``
    (one module per r and per M; see the module docstring).
    """

    def __init__(self, space: Space, sharing: str = "sliced", choice_affine: bool = False) -> None:
        if sharing not in SHARING:
            raise ValueError(f"unknown sharing {sharing!r}; valid: {'|'.join(SHARING)}")
        if choice_affine and sharing != "sliced":
            raise ValueError("choice_affine needs sharing='sliced'")

        def slots(i: int, shape: SlotShape, attn_shape: SlotShape) -> tuple[nn.Module, nn.Module]:
            c = attn_shape.out_channels
            if sharing == "separate":
                conv = SuperConvSlot(space, shape, sharing)
                return conv, SuperAttnSlot(space, c, sharing)
            # the sliced supernet builds the attention slot first: the order its weights were always drawn in
            attn = SuperAttnSlot(space, c, sharing, choice_affine)
            return SuperConvSlot(space, shape, sharing), attn

        super().__init__(space, slots)
        self.sharing, self.choice_affine = sharing, choice_affine

    @staticmethod
    def has_choice_affine(state: dict) -> bool:
        """Whether a saved state dict holds per-choice affines (a supernet built with ``choice_affine=True``)."""
        return any(".attn.affine." in k for k in state)

    @classmethod
    def for_state(cls, space: Space, state: dict, sharing: str = "sliced") -> Supernet:
        """The supernet whose layout ``state`` (a saved state dict) has, with those weights loaded."""
        net = cls(space, sharing, choice_affine=cls.has_choice_affine(state))
        net.load_state_dict(state)
        return net

    def forward(self, x: Tensor, arch: Arch) -> Tensor:  # the arch is required here
        return super().forward(x, arch)

    def source_key(self, name: str, arch: Arch) -> str:
        """The supernet state-dict key that holds stand-alone key ``name`` of ``build_model(arch)``."""
        parts = name.split(".")
        if parts[0] != "stages":
            return name
        i, choice = int(parts[1]), arch.choices[int(parts[1])]
        if parts[3] not in (self._conv_slot_name(i), "attn"):
            return name
        if parts[3] != "attn" and choice.slot != "conv":
            parts[4:4] = ["conv"]
        else:
            slot = self.stages[i][int(parts[2])].get_submodule(parts[3])
            own = isinstance(slot.get_submodule(choice.kind), Separate)  # one module per value: the value's own
            parts[4:4] = [choice.kind, str(choice.value)] if own else [choice.kind]
        return ".".join(parts)

    def unused_slices(self, archs: list[Arch]) -> list[tuple[nn.Parameter, tuple]]:
        """(parameter, index) of the sliced rows/columns that none of ``archs`` uses though its tensor is used.

        Such rows get a zero gradient, not None, so weight decay and momentum would still move them; the
        training loop restores them after the step (SPOS's reference code sets their gradients to None).
        """
        out = []
        for i, stage in enumerate(self.stages):
            chosen = [a.choices[i] for a in archs if a.choices[i].kind != "none"]
            for kind in sorted({c.kind for c in chosen}):
                values = [c.value for c in chosen if c.kind == kind]
                for block in stage:
                    slot = getattr(block, "attn" if KINDS[kind].slot == "attn" else self._conv_slot_name(i))
                    shared = slot.get_submodule(kind)
                    out += shared.unused(values) if hasattr(shared, "unused") else []
        return out

    def _conv_slot_name(self, i: int) -> str:
        return "conv1" if self.space.stages[i].block == "basic" else "conv2"

    def _fold_affine(self, state: dict, arch: Arch) -> None:
        """Fold each block's per-choice affine into its last BN: gamma' = scale gamma, beta' = scale beta + shift."""
        for i, stage in enumerate(self.stages):
            c = str(arch.choices[i])
            for j, block in enumerate(stage):
                g, b = block.attn.affine.scale[c].detach(), block.attn.affine.shift[c].detach()
                bn = f"stages.{i}.{j}.{_last_bn(self.space, i)}"
                state[f"{bn}.bias"] = g * state[f"{bn}.bias"] + b
                state[f"{bn}.weight"] = g * state[f"{bn}.weight"]

    @torch.no_grad()
    def extract(self, arch: Arch) -> ResNet:
        """``build_model(arch)`` carrying this supernet's weights and BN statistics for ``arch``, in its mode."""
        if arch.space != self.space:
            raise ValueError(f"arch {arch} belongs to space {arch.space.name!r}, not {self.space.name!r}")
        model = build_model(arch)
        src = self.state_dict()
        state = {}
        for name, t in model.state_dict().items():
            s = src[self.source_key(name, arch)]
            state[name] = s[tuple(slice(0, n) for n in t.shape)].clone()  # first rows/columns
        if self.choice_affine:
            self._fold_affine(state, arch)
        model.load_state_dict(state)
        return model.to(next(self.parameters()).device).train(self.training)


def _last_bn(space: Space, i: int) -> str:
    """The name, inside a block of stage ``i``, of the BN that the attention slot follows."""
    return "conv2.bn" if space.stages[i].block == "basic" else "conv3.bn"

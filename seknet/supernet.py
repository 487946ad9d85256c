"""Weight-sharing supernet over a space's attention choices (SPOS, Guo et al., arXiv 1904.00420).

Every stage holds all 8 choices at once, sharing the trunk (stem, 1x1 convs, shortcuts, head).
Per block, the conv slot keeps one plain 3x3 conv (for none and SE) and one 4-path SK conv; the
attention slot keeps one SE at the widest hidden size (r = 4). A smaller choice uses the first
rows/columns of the shared tensors (Once-for-All's slicing)::

    SE fc1.weight (C/4, C), fc1.bias (C/4,): rows [:C/r] are SE(r)
    SE fc2.weight (C, C/4):                  columns [:C/r] are SE(r); fc2.bias is shared whole
    SK paths[0..3] (dilation 1..4):          paths [:M] are SK(M)
    SK select.weight (4*C, d), path-major:   rows [:M*C] are SK(M); fc (d, C) and its BN are shared

``sharing="separate"`` is the less-shared variant ("How to Train Your Super-Net", arXiv 2003.04276,
on reducing interference): the trunk and the plain 3x3 conv stay shared, but every SE(r) and every
SK(M) keeps weights of its own::

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

from seknet.arch import Arch, Choice
from seknet.backbone import ResNet, build_model
from seknet.layers import ConvBnAct
from seknet.se import SqueezeExcite, squeeze_excite
from seknet.sk import SelectiveKernel, select_kernel
from seknet.space import Space

MAX_PATHS = 4  # widest SK(M)
MIN_REDUCTION = 4  # widest SE(r)
SHARING = ("sliced", "separate")


class SuperConvSlot(nn.Module):
    """The conv slot with every choice: ``conv`` (3x3) for none/SE, the first M of ``sk``'s paths for SK(M)."""

    def __init__(self, in_c: int, out_c: int, stride: int, groups: int, sk_groups: int, attn_channels: int) -> None:
        super().__init__()
        self.conv = ConvBnAct(in_c, out_c, 3, stride, groups)
        self.sk = SelectiveKernel(in_c, out_c, stride, MAX_PATHS, sk_groups, attn_channels)

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        if choice.kind != "sk":
            return self.conv(x)
        m, sk = choice.value, self.sk
        c = sk.select.out_features // MAX_PATHS
        return select_kernel([p(x) for p in sk.paths[:m]], sk.fc, sk.bn, sk.select.weight[: m * c])


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
    """The attention slot with every choice: identity, or SE(r) as the first C // r units of SE(4).

    With ``choices``, a :class:`ChoiceAffine` over them comes first (``affine``; see the module docstring).
    """

    def __init__(self, channels: int, bias: bool, choices: list[str] | None = None, gain: float = 1.0) -> None:
        super().__init__()
        self.se = SqueezeExcite(channels, MIN_REDUCTION, bias, gain)
        self.affine = ChoiceAffine(channels, choices) if choices else None

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        if self.affine is not None:
            x = self.affine(x, choice)
        if choice.kind != "se":
            return x
        h, se = x.shape[1] // choice.value, self.se
        b1 = None if se.fc1.bias is None else se.fc1.bias[:h]
        return squeeze_excite(x, se.fc1.weight[:h], b1, se.fc2.weight[:, :h], se.fc2.bias, se.gain)


class SeparateConvSlot(nn.Module):
    """The conv slot without sharing between SK choices: ``conv`` (3x3) for none/SE, ``sk[str(M)]`` for SK(M)."""

    def __init__(
        self, in_c: int, out_c: int, stride: int, groups: int, sk_groups: int, attn_channels: int, paths: list[int]
    ) -> None:
        super().__init__()
        self.conv = ConvBnAct(in_c, out_c, 3, stride, groups)
        sk = {str(m): SelectiveKernel(in_c, out_c, stride, m, sk_groups, attn_channels) for m in paths}
        self.sk = nn.ModuleDict(sk)

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        return self.sk[str(choice.value)](x) if choice.kind == "sk" else self.conv(x)


class SeparateAttnSlot(nn.Module):
    """The attention slot without sharing between SE choices: identity, or ``se[str(r)]`` for SE(r)."""

    def __init__(self, channels: int, bias: bool, reductions: list[int], gain: float = 1.0) -> None:
        super().__init__()
        self.se = nn.ModuleDict({str(r): SqueezeExcite(channels, r, bias, gain) for r in reductions})

    def forward(self, x: Tensor, choice: Choice) -> Tensor:
        return self.se[str(choice.value)](x) if choice.kind == "se" else x


class Supernet(ResNet):
    """All archs of ``space`` in one network; call it as ``supernet(x, arch)``.

    ``sharing`` is ``sliced`` (SE(r) and SK(M) slice one widest tensor, Once-for-All) or ``separate``
    (one module per r and per M; see the module docstring).
    """

    def __init__(self, space: Space, sharing: str = "sliced", choice_affine: bool = False) -> None:
        if sharing not in SHARING:
            raise ValueError(f"unknown sharing {sharing!r}; valid: {'|'.join(SHARING)}")
        chosen = [Choice.parse(c) for c in space.choices]
        values = {k: sorted({c.value for c in chosen if c.kind == k}) for k in ("se", "sk")}

        def slots(i: int, in_c: int, out_c: int, stride: int, groups: int) -> tuple[nn.Module, nn.Module]:
            sk_g, sk_d, c = space.sk_groups(out_c), space.sk_attn_channels(out_c), space.channels(i)[1]
            if sharing == "separate":
                conv = SeparateConvSlot(in_c, out_c, stride, groups, sk_g, sk_d, values["sk"])
                return conv, SeparateAttnSlot(c, space.se.bias, values["se"], space.se.gain)
            attn = SuperAttnSlot(c, space.se.bias, list(space.choices) if choice_affine else None, space.se.gain)
            return SuperConvSlot(in_c, out_c, stride, groups, sk_g, sk_d), attn

        if choice_affine and sharing != "sliced":
            raise ValueError("choice_affine needs sharing='sliced'")
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
        i = int(parts[1])
        conv_slot = "conv1" if self.space.stages[i].block == "basic" else "conv2"
        choice = arch.choices[i]
        own = [str(choice.value)] if self.sharing == "separate" else []  # the choice's own module
        if parts[3] == conv_slot:
            parts[4:4] = ["sk", *own] if choice.kind == "sk" else ["conv"]
        elif parts[3] == "attn":
            parts[4:4] = ["se", *own]
        return ".".join(parts)

    def unused_slices(self, archs: list[Arch]) -> list[tuple[nn.Parameter, tuple]]:
        """(parameter, index) of the sliced rows/columns that none of ``archs`` uses though its tensor is used.

        Such rows get a zero gradient, not None, so weight decay and momentum would still move them; the
        training loop restores them after the step (SPOS's reference code sets their gradients to None).
        """
        if self.sharing != "sliced":
            return []
        out = []
        for i, stage in enumerate(self.stages):
            chosen = [a.choices[i] for a in archs]
            se = [c.value for c in chosen if c.kind == "se"]
            sk = [c.value for c in chosen if c.kind == "sk"]
            for block in stage:
                attn, conv = block.attn, getattr(block, "conv1" if self.space.stages[i].block == "basic" else "conv2")
                if se:
                    h = attn.se.fc1.out_features * MIN_REDUCTION // min(se)  # widest hidden size in use
                    out += [
                        (attn.se.fc1.weight, (slice(h, None),)),
                        (attn.se.fc2.weight, (slice(None), slice(h, None))),
                    ]
                    if attn.se.fc1.bias is not None:
                        out.append((attn.se.fc1.bias, (slice(h, None),)))
                if sk:
                    c = conv.sk.select.out_features // MAX_PATHS
                    out.append((conv.sk.select.weight, (slice(max(sk) * c, None),)))
        return out

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


def recalibrate_bn(model: nn.Module, batches, arch: Arch | None = None) -> nn.Module:
    """Re-estimate every BN's running statistics as the plain average over ``batches`` of images.

    Inherited statistics are wrong for any one sub-net (SPOS); run this before scoring. ``arch`` is
    passed on for a supernet. Leaves the model in eval mode.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for x in batches:
            model(x) if arch is None else model(x, arch)
    return model.eval()

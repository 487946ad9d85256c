"""seknet: find where attention (SE, SK) belongs in a convolutional network."""

from seknet.api import Run, configure, resume, search
from seknet.arch import Arch, Choice
from seknet.backbone import build_model
from seknet.count import Count, count
from seknet.space import Space, load_arch, load_space
from seknet.supernet import Supernet, recalibrate_bn

__all__ = [
    "Arch", "Choice", "Count", "Run", "Space", "Supernet", "build_model", "configure", "count", "load_arch",
    "load_space", "recalibrate_bn", "resume", "search",
]  # fmt: skip

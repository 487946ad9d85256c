"""seknet: find where attention (SE, SK) belongs in a convolutional network."""

from seknet.api.python import Run, configure, resume, search
from seknet.core.attention import Choice
from seknet.core.count import Count, count
from seknet.core.space import Arch, Space, load_arch, load_space
from seknet.nn.backbone import build_model
from seknet.nn.supernet import Supernet, recalibrate_bn

__all__ = [
    "Arch",
    "Choice",
    "Count",
    "Run",
    "Space",
    "Supernet",
    "build_model",
    "configure",
    "count",
    "load_arch",
    "load_space",
    "recalibrate_bn",
    "resume",
    "search",
]

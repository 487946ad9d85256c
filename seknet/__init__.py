"""seknet: find where attention (SE, SK) belongs in a convolutional network."""

from seknet.arch import Arch, Choice
from seknet.backbone import build_model
from seknet.count import Count, count
from seknet.space import Space, load_arch, load_space

__all__ = ["Arch", "Choice", "Count", "Space", "build_model", "count", "load_arch", "load_space"]

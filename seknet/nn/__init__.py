"""nn: the blocks (SE, SK), the backbone and the weight-sharing supernet. What this ``__all__`` names is public; the
other names of the folder are internal."""

from seknet.nn.backbone import build_model
from seknet.nn.supernet import Supernet, recalibrate_bn

__all__ = ["Supernet", "build_model", "recalibrate_bn"]

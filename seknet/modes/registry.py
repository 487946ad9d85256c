"""The search modes, found by name: each is a module of this folder with ``run(ctx) -> Outcome`` (and optionally
``check(ctx)``, run before the run folder is created), named here by its import path.

A mode is imported only when it runs (:func:`load`), so the API and the CLI import none of them at start (NNI's
adapter needs NNI installed, for instance) and no mode imports another. Adding a mode is one new module and one
line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODES = {
    "oneshot": "seknet.modes.oneshot",
    "multitrial": "seknet.modes.multitrial",
    "nni": "seknet.modes.nni",
    "retrain": "seknet.modes.retrain",  # runs on a finished run: retrain(run, ...) instead of run(ctx)
    "verify": "seknet.modes.verify",  # a stage after a screening mode: run(ctx, screening) (run --verify)
}
EXTRAS = {"nni": "nni"}  # modes that need an optional extra: pip install -e '.[<extra>]'


def load(mode: str) -> ModuleType:
    """The module of ``mode`` (``run``, and ``check`` where it has one); ValueError naming the valid modes for an
    unknown one, or the extra to install for one whose packages are missing."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {'|'.join(MODES)}")
    try:
        return importlib.import_module(MODES[mode])
    except ImportError as e:
        if mode not in EXTRAS:
            raise
        raise ValueError(
            f"--backend {mode} needs {EXTRAS[mode]} ({e}); install it with: pip install -e '.[{EXTRAS[mode]}]'"
        ) from None

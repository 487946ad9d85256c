"""A toy dataset plugin: the smoke digits (each source drawn once) under another name."""

from __future__ import annotations

from dataclasses import replace

from seknet.data.digits import load_digits


def load(name, root, seed, size, **kw):
    """(name, root, seed, size, **kw) -> Data, as ``seknet.core.plugins.DATASETS`` calls it."""
    return replace(load_digits(seed, train_variants=1, eval_variants=1), name=name)

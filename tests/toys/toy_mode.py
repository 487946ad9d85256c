"""A toy search mode plugin: no training, each in-budget arch scored by how many stages carry attention."""

from __future__ import annotations

from seknet.modes.base import no_check
from seknet.runs.rows import MT_COLUMNS, accuracy_fields, trial_row
from seknet.runs.spine import Outcome

check = no_check


def run(ctx):
    """``run(ctx) -> Outcome``: one complete row per in-budget arch, accuracy = attention stages / 10."""
    rows = []
    for arch in ctx.archs:
        attention = sum(c.kind != "none" for c in arch.choices)
        row = trial_row(ctx.space, str(arch)) | accuracy_fields(attention, 10)
        rows.append(row | {"status": "complete"})
    return Outcome(rows, MT_COLUMNS, title=f"toy on {ctx.data.name}")

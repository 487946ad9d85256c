"""The contract every search mode keeps, found by name in ``seknet.core.plugins.MODES``: ``check(ctx)`` before the
run folder exists, then ``run(ctx) -> Outcome``. A stage after a mode (``seknet.core.plugins.STAGES``, e.g.
``verify``) keeps :class:`Stage`. ``seknet.api.python.execute`` is their one caller: ``prepare`` -> ``check`` ->
``run`` -> each stage -> ``record`` (``seknet.runs.spine``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from seknet.runs.spine import Outcome, RunContext


class Mode(Protocol):
    """A search mode: a module with these two functions."""

    def check(self, ctx: RunContext) -> None:
        """Args: ctx, the prepared run (nothing is written yet). Raises: ValueError with the fix, in one line, when
        the run cannot go ahead (a grid larger than its trials, a missing supernet, ...)."""

    def run(self, ctx: RunContext) -> Outcome:
        """Args: ctx, the prepared run, its folder open. Returns: the rows of every arch or trial and what else
        ``record`` writes. Writes its own artefacts (supernet.pt, Tune state) into ``ctx.partial``."""


class Stage(Protocol):
    """A stage after a mode's run, on the same run folder."""

    def run(self, ctx: RunContext, outcome: Outcome) -> Outcome:
        """Args: ctx, the run; outcome, what the mode gave. Returns: the outcome that ``record`` writes instead."""


class Extensible(Stage, Protocol):
    """A stage that can add evidence to a finished run (``run --resume RUN --budget-units U2``: verify)."""

    def check_extension(self, saved: dict, budget_units: float) -> None:
        """Args: saved, the finished run's config.yaml; budget_units, the new total. Raises: ValueError with the fix,
        in one line, when the run cannot be extended so (before anything moves)."""

    def extend(self, ctx: RunContext, saved: dict) -> Outcome:
        """Args: ctx, the run reopened into its ``.partial`` folder with the new settings; saved, its config.yaml.
        Returns: the outcome that ``record`` writes, the earlier evidence included."""


def no_check(ctx: RunContext) -> None:
    """A mode's ``check`` when it has nothing to check before the run folder exists."""

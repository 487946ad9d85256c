"""A toy latency device for tests/test_plugins.py: a table priced by counting, not timing (1 ms for the stem and
the head, and per stage 1 ms plus 0.5 ms for attention), so a run's latency_ms is known in advance."""

from __future__ import annotations

from seknet.core.space import Space


def measure(space: Space, batch: int = 1, threads: int | None = None, runs: int = 1) -> dict:
    """The toy device's latency table of ``space``: what ``seknet.core.plugins.DEVICES`` entries return."""
    stages = [{c: 1.0 + 0.5 * (c != "none") for c in space.choices} for _ in space.stages]
    return {
        "space": space.name,
        "device": "toy",
        "device_name": "toy",
        "batch": batch,
        "stem_ms": 1.0,
        "head_ms": 1.0,
        "stages": stages,
    }

from __future__ import annotations

from pathlib import Path

import pytest

import seknet

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_space").glob("*.yaml"))


@pytest.fixture(scope="session")
def digits() -> seknet.Space:
    return seknet.load_space(ROOT / "search_space" / "digits.yaml")


def space_named(name: str) -> seknet.Space:
    return seknet.load_space(ROOT / "search_space" / f"{name}.yaml")

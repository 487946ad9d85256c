from __future__ import annotations

from pathlib import Path

import pytest

import seknet

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_space").glob("*.yaml"))


@pytest.fixture(scope="session")
def digits() -> seknet.Space:
    return seknet.load_space(ROOT / "search_space" / "digits.yaml")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One finished one-shot smoke run (digits, archs under 6.3 M MACs), shared by the tests that only read it."""
    import search

    out = tmp_path_factory.mktemp("runs") / "smoke"
    assert search.main(["--smoke", "--no-progress", "--out", str(out), "--max-macs", "6.3M"]) == 0
    return out


def space_named(name: str) -> seknet.Space:
    return seknet.load_space(ROOT / "search_space" / f"{name}.yaml")


def run_flag_actions() -> dict:
    """The argparse actions of `search.py run`, by destination."""
    import search

    run = search.build_parser()._subparsers._group_actions[0].choices["run"]
    return {a.dest: a for a in run._actions}

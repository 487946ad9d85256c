from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

import seknet

ROOT = Path(__file__).resolve().parents[1]
SPACES = sorted((ROOT / "search_space").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _log_handlers_outlive_captured_streams():
    """A log handler made during one test (Ray's, at its first ``ray.init``) keeps that test's captured stderr, which
    pytest closes after it; its next record would print "--- Logging error ---" into a later test's stderr. After
    each test, such a handler is pointed at the stderr of the session (pytest-dev/pytest#5743)."""
    yield
    loggers = [
        logging.getLogger(),
        *(v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for handler in (h for lg in loggers for h in lg.handlers):
        if not isinstance(handler, logging.FileHandler) and getattr(getattr(handler, "stream", None), "closed", False):
            handler.stream = sys.stderr  # not setStream(): it would flush the closed stream


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

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from seknet.core import fileio
from seknet.engine.ray_session import (
    RayJoinError,
    probe,
    ray_session,
    split_address,
    token_available,
)
from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_split_address_refuses_what_is_not_host_port():
    """HOST:PORT splits; anything else is a RayJoinError (a ValueError: one line, exit 2) saying the form."""
    assert split_address("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert split_address("[::1]:6379") == ("::1", 6379)
    for bad in ("nohost", ":6379", "host:", "host:port"):
        with pytest.raises(RayJoinError, match="expected HOST:PORT"):
            split_address(bad)


def test_probe_fails_fast_where_nothing_listens():
    """Joining an address where no head listens fails in well under the probe timeout, with one line."""
    t0 = time.time()
    with pytest.raises(RayJoinError, match="no Ray head answers there"):
        probe(f"127.0.0.1:{_free_port()}", timeout=5)
    assert time.time() - t0 < 5


def test_token_is_found_in_the_environment_or_the_default_file(tmp_path, monkeypatch):
    """A token counts as available from RAY_AUTH_TOKEN, from RAY_AUTH_TOKEN_PATH, or from ~/.ray/auth_token."""
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert not token_available()
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("x" * 32)
    assert token_available()
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert not token_available()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret")
    assert token_available()


@pytest.fixture
def short_tmp():
    """A short temp folder: Ray's socket paths under it must stay below the 107-character limit."""
    path = Path(tempfile.mkdtemp(prefix="sk", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_a_stale_cluster_address_file_does_not_touch_a_local_run(short_tmp, monkeypatch):
    """ray_current_cluster naming a dead head (a killed `ray start` leaves it): a local session starts its own Ray."""
    monkeypatch.setenv("RAY_TMPDIR", str(short_tmp))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (short_tmp / "ray").mkdir()
    (short_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_free_port()}")
    t0 = time.time()
    with ray_session(num_cpus=1) as ray:
        assert ray.get(ray.remote(lambda: 41 + 1).remote()) == 42
    assert time.time() - t0 < 120


def _kill_cluster(temp_dir: Path) -> None:
    """Stop the Ray processes of the head whose temp folder is ``temp_dir`` (never another cluster on this machine)."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        if str(temp_dir) in " ".join(p.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                p.kill()


@pytest.mark.slow
def test_run_joins_a_head_with_token_authentication(short_tmp, tmp_path, smoke_run):
    """As a user meets it: a token in ~/.ray/auth_token, `ray start --head` (token auth on), then `search.py run
    --address` in a new process with no RAY_AUTH_MODE set by hand: the smoke run joins, finishes and scores
    exactly what a local run scores. The same join with authentication switched off is refused: the head does
    check tokens, so the test would catch a driver that sends none (Ray reads RAY_AUTH_MODE when it is imported)."""
    home = short_tmp / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("a" * 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | {"HOME": str(home)}
    port = _free_port()
    start = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--include-dashboard=false",
        f"--temp-dir={short_tmp}/ray",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        argv = ["--smoke", "--no-progress", "--max-macs", "6.3M", "--address", f"127.0.0.1:{port}"]
        refused = subprocess.run(
            [sys.executable, "search.py", *argv, "--out", str(tmp_path / "no")],
            cwd=ROOT,
            env=env | {"RAY_AUTH_MODE": "disabled"},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert refused.returncode == 2 and "could not join the Ray cluster" in refused.stderr
        out = tmp_path / "joined"
        joined = subprocess.run(
            [sys.executable, "search.py", *argv, "--out", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert joined.returncode == 0, joined.stderr[-2000:]
        ours, local = (
            fileio.read_csv(out / "evaluations.csv"),
            fileio.read_csv(smoke_run / "evaluations.csv"),
        )
        assert ours == local
    finally:
        _kill_cluster(short_tmp)

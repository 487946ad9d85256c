"""One Ray session per run: a fresh local Ray by default, or a cluster joined with its token and a bounded wait.

Ray 2.60 pitfalls this module answers (each has a test):
- ``ray.init()`` with no address attaches to whatever ``ray_current_cluster`` in Ray's temp folder names,
  even a cluster that was killed: a run without ``--address`` passes ``address="local"`` and so always
  starts its own Ray.
- Once ``~/.ray/auth_token`` exists (any local ``ray.init`` writes it), ``ray start --head`` turns token
  authentication on, but a driver that joins by address sends no token unless ``RAY_AUTH_MODE=token``:
  when a token is available (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or the default file) and the mode
  is unset, joining sets it (a head without authentication accepts a driver that sends one). Ray reads the
  variable when it is imported, so setting it is followed by reloading Ray's config (:func:`_reload_auth_mode`).
- Joining an address where nothing listens retries for minutes: the port is probed first, with a timeout.
- Ray rewrites a loopback address to the node's IP, so a head started with ``--node-ip-address=127.0.0.1``
  cannot be joined; start heads without it.
Ray is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

JOIN_TIMEOUT_S = 10.0  # how long the probe of a cluster's port may wait


class RayJoinError(ValueError):
    """A cluster that cannot be joined: reported as one line (exit code 2)."""


def token_available() -> bool:
    """True when Ray would find an auth token: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); a ValueError with the expected form otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayJoinError(f"--address {address!r}: expected HOST:PORT, the address `ray start --head` printed")
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = JOIN_TIMEOUT_S) -> None:
    """Raise :class:`RayJoinError` unless something accepts a TCP connection at ``address`` within ``timeout``."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        raise RayJoinError(
            f"--address {address}: no Ray head answers there ({e.strerror or e}); check that `ray start --head "
            f"--port {port}` runs on {host} (`ray status`), or drop --address to run on a local Ray"
        ) from None


@contextlib.contextmanager
def ray_session(
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    timeout: float = JOIN_TIMEOUT_S,
) -> Iterator:
    """Start a fresh local Ray (or join ``address``) and always shut it down afterwards; yields the ``ray`` module."""
    import ray

    set_mode = bool(address) and "RAY_AUTH_MODE" not in os.environ and token_available()
    if address:
        probe(address, timeout)
        if set_mode:
            os.environ["RAY_AUTH_MODE"] = "token"  # send the token; a head without auth accepts it too
            _reload_auth_mode()
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError) as e:
            _restore_mode(set_mode)
            raise RayJoinError(
                f"--address {address}: could not join the Ray cluster ({str(e).splitlines()[0][:160]}); if its "
                "head uses token authentication, make its token available here (~/.ray/auth_token or RAY_AUTH_TOKEN)"
            ) from None
    else:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=False,
            log_to_driver=False,
        )
    try:
        yield ray
    finally:
        ray.shutdown()
        _restore_mode(set_mode)


@contextlib.contextmanager
def tune_settings() -> Iterator[None]:
    """Ray Tune settings of every seknet search, for the ``with`` block only.

    - ``TUNE_DISABLE_SIGINT_HANDLER=1``: on Ctrl+C Tune would stop the experiment and *return* its unfinished
      trials as results, which a caller would write up as a finished run; with its handler off, SIGINT raises
      KeyboardInterrupt, the run stays ``.partial`` and ``--resume`` continues it.
    - ``TUNE_GLOBAL_CHECKPOINT_S=0``: snapshot the experiment state on every loop, so a kill -9 loses no finished
      trial (trials take seconds).
    """
    wanted = {"TUNE_DISABLE_SIGINT_HANDLER": "1", "TUNE_GLOBAL_CHECKPOINT_S": "0"}
    before = {k: os.environ.get(k) for k in wanted}
    os.environ.update({k: v for k, v in wanted.items() if before[k] is None})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


def _reload_auth_mode() -> None:
    """Make an imported Ray read ``RAY_AUTH_MODE`` again.

    Ray reads the variable into its config when it is imported; setting it later changes nothing until the
    config is initialised again, which is what Ray itself does when a local ``ray.init`` turns token
    authentication on (``Config.initialize("")``, then a fresh token cache).
    """
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication: nothing to reload
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _restore_mode(was_set: bool) -> None:
    if was_set:
        os.environ.pop("RAY_AUTH_MODE", None)
        _reload_auth_mode()

"""``seknet dashboard RUN [RUN ...]``: the runs in optuna-dashboard, each run a study, served on 127.0.0.1.

A run made before study.db existed gets one built from its files (nothing else is written into the run); several
runs are served from one temporary storage holding a study per run. A run that is still going (only its
``.RUN.partial`` folder exists) is served live from the study.db its trials are written into as they finish, and
from the finished run's study.db from the first request after it is recorded (:class:`Follow`: same port, same
URL). A missing or damaged run, a port in use, or optuna-dashboard not installed is one line (exit 2), and nothing
is written.
"""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from seknet.runs.folder import RunFolder
from seknet.runs.study import STUDY_FILE, run_study, sqlite_storage, write_study


def live_study(run: Path) -> Path | None:
    """The study.db that a run still going writes into (in its ``.partial`` folder), or None when ``run`` is
    finished or never wrote one."""
    path = RunFolder(Path(run)).partial / STUDY_FILE
    return path if not Path(run).exists() and path.is_file() else None


class Follow:
    """The WSGI app of a run still going: ``make_app(study.db path)`` over its live study.db, rebuilt once over the
    finished run's study.db at the first request after the run is recorded (its folder renamed into place)."""

    def __init__(self, run: Path, make_app: Callable[[Path], Callable]) -> None:
        live = live_study(run)
        if live is None:
            raise ValueError(f"{run}: not a run still going (no .{Path(run).name}.partial/{STUDY_FILE})")
        self.run, self.make_app, self.live = Path(run), make_app, True
        self.app = make_app(live.resolve())

    def __call__(self, environ: dict, start_response: Callable):
        final = self.run / STUDY_FILE
        if self.live and final.is_file() and live_study(self.run) is None:
            self.app, self.live = self.make_app(final.resolve()), False
            print(f"{self.run} finished: serving its recorded {final}", flush=True)
        return self.app(environ, start_response)


def viewer(path: Path):
    """optuna-dashboard's WSGI app over the SQLite storage ``path``, as a viewer: it creates no tables, and it waits
    for a running run's write instead of failing, and so never makes that write fail."""
    import optuna_dashboard

    return optuna_dashboard.wsgi(sqlite_storage(path, skip_table_creation=True, skip_compatibility_check=True))


def check_port(host: str, port: int) -> None:
    """ValueError when ``host:port`` cannot be listened on (in use, say)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise ValueError(
                f"--port {port}: {host}:{port} cannot be used ({e.strerror}); pass another --port"
            ) from None


def storage_for(runs: Sequence[Path], scratch: Path) -> Path:
    """The SQLite storage that holds the ``runs``: a single run's study.db (built from its files when missing; the live
    one of a run still going), or a storage in ``scratch`` with one study per run. Every run is read (and refused in
    one line) before anything is written."""
    if len(runs) == 1 and (live := live_study(Path(runs[0]))) is not None:
        return live.resolve()
    studies = {Path(r).resolve().name: run_study(Path(r)) for r in runs}
    if len(runs) == 1:
        path = Path(runs[0]) / STUDY_FILE
        if not path.is_file():
            write_study(path, studies)
        return path.resolve()
    if len(studies) < len(runs):
        raise ValueError("two runs share a folder name; a study is named after its run folder")
    return write_study(scratch / "runs.db", studies).resolve()


def serve(runs: Sequence[Path], port: int = 8080, host: str = "127.0.0.1") -> None:
    """Serve ``runs`` in optuna-dashboard on ``host:port`` until Ctrl-C (or SIGTERM), which stops it cleanly."""
    try:
        import optuna_dashboard  # noqa: F401 - checked here, used by viewer()
    except ImportError as e:
        fix = "install it with: pip install -e '.[dashboard]'"
        raise ValueError(f"dashboard needs optuna-dashboard ({e}); {fix}") from None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    check_port(host, port)
    with tempfile.TemporaryDirectory(prefix="seknet-dashboard-") as scratch:
        storage = storage_for(runs, Path(scratch))
        going = len(runs) == 1 and live_study(Path(runs[0])) is not None
        app = Follow(Path(runs[0]), viewer) if going else viewer(storage)

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args) -> None:  # one line per request would bury the URL
                pass

        with make_server(host, port, app, handler_class=Quiet) as server:
            # A signal only asks the server to stop: raised inside a request, wsgiref would swallow it.
            def stop(signum, frame) -> None:
                threading.Thread(target=server.shutdown, daemon=True).start()

            signal.signal(signal.SIGINT, stop)
            signal.signal(signal.SIGTERM, stop)
            print(
                f"optuna-dashboard: http://{host}:{port}/dashboard/  ({len(runs)} run(s); Ctrl-C stops it)", flush=True
            )
            server.serve_forever()
    print("stopped", flush=True)

"""Runs seen the way a user sees them: `seknet dashboard RUN [RUN ...]` on a free loopback port, its JSON API checked
against each run's files, and the first run's study page loaded in headless Chromium (Debian's `chromium`), its
rendered DOM checked for the study's name and trial count, and a screenshot saved.

    python -m benchmarks.dashboard_browser RUN [RUN ...] [--screenshot benchmarks/dashboard.png]

A run still going (only its ``.RUN.partial`` folder exists) is checked against the study.db its trials are written
into as they finish: at least the trials found there a moment before, its best trials, and the learning curves
(intermediate values) of its finished trials.

Without Chromium the browser part is skipped with a message; the JSON part always runs. Exit code 1 when a check
fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import optuna

from seknet.core import read_csv

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [  # as the machine notes say: headless, no sandbox as root, no calls to the outside
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",  # let the page's scripts fetch the study before the DOM is taken
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def expected(run: Path) -> tuple[int, set[tuple[float, float]] | None, bool]:
    """(trials, best points, live) the dashboard must show of ``run``: from its files when it is finished; from the
    study.db of a run still going (its trials so far; its best trials may change as more finish: not compared)."""
    if run.is_dir():
        pareto = {(float(r["accuracy"]), float(r["macs"])) for r in read_csv(run / "pareto.csv")}
        return len(read_csv(run / "evaluations.csv")), pareto, False
    live = run.with_name(f".{run.name}.partial") / "study.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return len(optuna.load_study(study_name=run.name, storage=f"sqlite:///{live.resolve()}").trials), None, True


def json_checks(base: str, runs: list[Path]) -> tuple[list[str], dict[str, int]]:
    """(failed checks, {run name: study id}): one study per run, named after it; each study's trials and best trials
    match its run's evaluations.csv and pareto.csv (a run still going: at least its trials so far, and every finished
    one with its learning curve)."""
    deadline, failed = time.time() + 60, []
    want = {run.name: expected(run) for run in runs}
    studies = json.loads(get(f"{base}/api/studies", deadline))["study_summaries"]
    ids = {s["study_name"]: s["study_id"] for s in studies}
    if sorted(ids) != sorted(r.name for r in runs):
        failed.append(f"studies {sorted(ids)}, want {sorted(r.name for r in runs)}")
    for run in (r for r in runs if r.name in ids):
        detail = json.loads(get(f"{base}/api/studies/{ids[run.name]}", deadline))
        trials, pareto, live = want[run.name]
        best = {tuple(t["values"]) for t in detail["best_trials"]}
        done = [t for t in detail["trials"] if t["state"] == "Complete"]
        curves = sum(len(t["intermediate_values"]) > 0 for t in done)
        what = "live, " if live else ""
        print(f"JSON: study {run.name}, {what}{len(detail['trials'])} trials, {len(best)} best, {curves} with curves")
        if len(detail["trials"]) < trials or (not live and len(detail["trials"]) != trials):
            failed.append(f"{run.name}: {len(detail['trials'])} trials, its files say {trials}")
        if pareto is not None and best != pareto:
            failed.append(f"{run.name}: best trials {sorted(best)} != pareto.csv {sorted(pareto)}")
        if live and curves < len(done):
            failed.append(f"{run.name}: {len(done) - curves} finished trials without a learning curve")
    return failed, ids


def browser_checks(url: str, run: Path, trials: int | None, screenshot: Path | None) -> list[str]:
    """The rendered study page holds the study's name and its trial count (``None``: a run still going, whose count
    may grow meanwhile: not checked); a screenshot is saved."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("browser: skipped, no chromium on this machine (apt-get install chromium)")
        return []
    with tempfile.TemporaryDirectory() as profile:
        flags = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            shot = [*flags, f"--screenshot={screenshot.resolve()}", "--window-size=1280,900", url]
            subprocess.run(shot, capture_output=True, timeout=120)
    failed = []
    if run.name not in dom:
        failed.append(f"the page does not name the study {run.name!r}")
    if trials is not None and str(trials) not in dom:
        failed.append(f"the page does not show the trial count {trials}")
    shown = f"study name shown: {run.name in dom}" + (f"; {trials} shown: {str(trials) in dom}" if trials else "")
    print(f"browser: {len(dom):,} characters of DOM; {shown}")
    if screenshot is not None:
        print(f"browser: screenshot {screenshot} ({screenshot.stat().st_size if screenshot.is_file() else 0:,} bytes)")
    return failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "runs", type=Path, nargs="+", help="run folders (one still going: live); the browser loads the first"
    )
    p.add_argument("--screenshot", type=Path, default=None)
    args = p.parse_args(argv)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, str(ROOT / "search.py"), "dashboard", *map(str, args.runs), "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        failed, ids = json_checks(base, args.runs)
        first = args.runs[0]
        if first.name in ids:
            trials, _, live = expected(first)
            trials = None if live else trials
            failed += browser_checks(f"{base}/dashboard/studies/{ids[first.name]}", first, trials, args.screenshot)
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    print(f"server: exit {server.returncode} after Ctrl-C; {out.strip().splitlines()[-1] if out.strip() else ''}")
    if "Traceback" in out:
        failed.append("the server printed a traceback")
    for f in failed:
        print(f"FAILED: {f}")
    return 1 if failed or server.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())

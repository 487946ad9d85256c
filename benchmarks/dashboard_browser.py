"""Runs seen the way a user sees them: `seknet dashboard RUN [RUN ...]` on a free loopback port, its JSON API checked
against each run's files, and the first run's study page loaded in headless Chromium (Debian's `chromium`), its
rendered DOM checked for the study's name and trial count, and a screenshot saved.

    python -m benchmarks.dashboard_browser RUN [RUN ...] [--screenshot benchmarks/dashboard.png]

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


def json_checks(base: str, runs: list[Path]) -> tuple[list[str], dict[str, int]]:
    """(failed checks, {run name: study id}): one study per run, named after it; each study's trials and best trials
    match its run's evaluations.csv and pareto.csv."""
    deadline, failed = time.time() + 60, []
    studies = json.loads(get(f"{base}/api/studies", deadline))["study_summaries"]
    ids = {s["study_name"]: s["study_id"] for s in studies}
    if sorted(ids) != sorted(r.name for r in runs):
        failed.append(f"studies {sorted(ids)}, want {sorted(r.name for r in runs)}")
    for run in (r for r in runs if r.name in ids):
        detail = json.loads(get(f"{base}/api/studies/{ids[run.name]}", deadline))
        rows = read_csv(run / "evaluations.csv")
        pareto = {(float(r["accuracy"]), float(r["macs"])) for r in read_csv(run / "pareto.csv")}
        best = {tuple(t["values"]) for t in detail["best_trials"]}
        print(f"JSON: study {run.name}, {len(detail['trials'])} trials, {len(best)} best trials")
        if len(detail["trials"]) != len(rows):
            failed.append(f"{run.name}: {len(detail['trials'])} trials, evaluations.csv has {len(rows)}")
        if best != pareto:
            failed.append(f"{run.name}: best trials {sorted(best)} != pareto.csv {sorted(pareto)}")
    return failed, ids


def browser_checks(url: str, run: Path, trials: int, screenshot: Path | None) -> list[str]:
    """The rendered study page holds the study's name and its trial count; a screenshot is saved."""
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
    if str(trials) not in dom:
        failed.append(f"the page does not show the trial count {trials}")
    shown = f"study name shown: {run.name in dom}; {trials} shown: {str(trials) in dom}"
    print(f"browser: {len(dom):,} characters of DOM; {shown}")
    if screenshot is not None:
        print(f"browser: screenshot {screenshot} ({screenshot.stat().st_size if screenshot.is_file() else 0:,} bytes)")
    return failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="finished run folders; the browser loads the first's study")
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
            trials = len(read_csv(first / "evaluations.csv"))
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

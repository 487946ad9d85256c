"""The benchmark scripts keep up with the library: each one loads (its imports resolve) without running its main."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPTS = sorted(p for p in (ROOT / "benchmarks").rglob("*.py"))


def test_every_benchmark_script_loads():
    """Each script under benchmarks/ runs its top level (imports, constants) as a module, not as __main__."""
    code = (
        "import runpy, sys\n"
        "for path in sys.argv[1:]:\n"
        "    sys.path.insert(0, path.rsplit('/', 1)[0])\n"
        "    runpy.run_path(path, run_name='loaded')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *map(str, SCRIPTS)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(SCRIPTS) >= 15

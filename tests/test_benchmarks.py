"""The benchmark scripts keep up with the library: each one loads (its imports resolve) without running its main."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def _load(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_noise_floor_recovers_a_planted_seed_effect_and_its_paired_saving():
    """crn() on 40 archs x 3 seeds with a seed-shared shift of SD 0.4 pp and independent noise of SD 0.3 pp recovers
    both within sampling error, and a paired contrast then needs about 0.3^2 / (0.4^2 + 0.3^2) = 0.36 x the
    trainings; without the shared shift it saves nothing."""
    import numpy as np

    noise_floor = _load("noise_floor")
    rng = np.random.default_rng(0)
    arch_mean = rng.normal(90, 1, 40)
    for shared, want in ((0.4, 0.36), (0.0, 1.0)):
        shift = np.array([-1.0, 0.0, 1.0]) * shared * 1.2247  # SD `shared` over the 3 seeds
        table = {
            (f"a{i}", s): arch_mean[i] + shift[s] + 0.3 * rng.standard_normal() for i in range(40) for s in range(3)
        }
        c = noise_floor.crn(table)
        assert c["sigma_paired"] == pytest.approx(0.3, abs=0.06)
        assert c["trainings_ratio"] == pytest.approx(want, abs=0.15)

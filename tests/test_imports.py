"""The package's layers: every import points to the same layer or one below, and no two modules import each other
(directly or round a loop), counting the imports inside functions; the core stays free of torch, Ray and NNI."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

LAYERS = {  # lower number = lower layer
    0: {"yamlfile", "arch", "space", "count", "pareto", "truth", "runconfig"},  # core: pure Python, numpy at most
    1: {"layers", "se", "sk", "blocks", "backbone", "supernet", "split", "data", "files"},  # nn and data
    # engine and results
    2: {"train", "score", "standalone", "report", "runfiles", "rundir", "deploy", "latency", "cost"},
    # search
    3: {
        "oneshot",
        "ray_session",
        "ray_score",
        "ray_train",
        "tune_search",
        "nni_search",
        "retrain",
        "export",
        "distinct",
        "optuna_samplers",
    },
    4: {"api", "cli"},  # seknet.search / seknet.Run, and the CLI over them
}
LAYER = {m: k for k, ms in LAYERS.items() for m in ms}
SERVERS = {
    "ray": {"ray_session", "ray_score", "ray_train", "tune_search", "retrain", "distinct"},
    "nni": {"nni_search"},
}


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(seknet modules, top-level packages) that ``module`` imports anywhere, TYPE_CHECKING blocks left out."""
    tree = ast.parse((ROOT / "seknet" / f"{module}.py").read_text())
    own, packages = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "seknet":
                own |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            packages.add(parts[0])
        elif isinstance(node, ast.Import):
            packages |= {a.name.split(".")[0] for a in node.names}
    return own, packages


def _modules() -> list[str]:
    return sorted(p.stem for p in (ROOT / "seknet").glob("*.py") if p.stem != "__init__")


def test_every_module_has_a_layer():
    """A new module must be given its layer here, so the rules below cover it."""
    assert set(_modules()) == set(LAYER)


def test_imports_point_down_or_sideways():
    """No module imports a module of a higher layer."""
    upward = [(m, d) for m in _modules() for d in _imports(m)[0] if LAYER[d] > LAYER[m]]
    assert not upward


def test_no_import_cycles():
    """No module reaches itself through the imports (module level or inside functions)."""
    graph = {m: _imports(m)[0] for m in _modules()}

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        return seen

    assert [m for m in graph if m in reach(m)] == []


def test_ray_and_nni_only_in_their_adapters():
    """Ray and NNI are imported by their adapter modules only, so `import seknet` drags no server in."""
    for pkg, allowed in SERVERS.items():
        assert {m for m in _modules() if pkg in _imports(m)[1]} <= allowed, pkg


def test_core_imports_without_torch():
    """The core layer (spaces, archs, exact counts, the truth analysis) imports without torch."""
    core = "; ".join(f"import seknet.{m}" for m in sorted(LAYERS[0]))
    stub = "import sys; sys.modules['seknet'] = type(sys)('seknet'); sys.modules['seknet'].__path__ = ['seknet']"
    code = f"{stub}; {core}; print('torch' in sys.modules)"  # the package stubbed: its __init__ builds models
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The package's layers are its folders: every import points to the same folder or a lower one, no two modules import
each other (directly or round a loop, TYPE_CHECKING blocks and imports inside functions included), no search mode
imports another, no import chain is longer than 8 modules, and the core stays free of torch, Ray and NNI."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys

from tests.conftest import ROOT

LAYERS = ("core", "nn", "data", "engine", "runs", "modes", "api")  # folders, lowest first
LEVEL = {
    "core": 0,
    "nn": 1,
    "data": 1,
    "engine": 2,
    "runs": 3,
    "modes": 4,
    "api": 5,
}  # nn and data side by side
SERVERS = {  # the Ray adapters in engine/, and the modes that run on Ray Tune
    "ray": {
        "engine.ray_session",
        "engine.ray_score",
        "engine.ray_train",
        "engine.ray_trials",
        "modes.tune_searcher",
        "modes.multitrial",
        "runs.retrain",
        "modes.verify",
    },
    "nni": {"modes.nni"},
}
LONGEST_CHAIN = 8


def _modules() -> list[str]:
    """Every module of the package as 'folder.name' (the packages' __init__ files left out)."""
    return sorted(f"{p.parent.name}.{p.stem}" for p in (ROOT / "seknet").glob("*/*.py") if p.stem != "__init__")


@functools.cache
def _imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(seknet modules, top-level packages) that ``module`` imports anywhere, TYPE_CHECKING blocks included."""
    tree = ast.parse((ROOT / "seknet" / (module.replace(".", "/") + ".py")).read_text())
    known = set(_modules())
    own, packages = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            packages.add(parts[0])
            if parts[0] != "seknet":
                continue
            if ".".join(parts[1:3]) in known:
                own.add(".".join(parts[1:3]))
            own |= {f"{parts[1]}.{a.name}" for a in node.names if len(parts) == 2 and f"{parts[1]}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                packages.add(parts[0])
                if ".".join(parts[1:3]) in known:
                    own.add(".".join(parts[1:3]))
    return frozenset(own - {module}), frozenset(packages)


def test_every_module_sits_in_a_layer_folder():
    """Modules live in the layer folders only (besides the package's face, seknet/__init__.py)."""
    assert {p.name for p in (ROOT / "seknet").glob("*.py")} == {"__init__.py"}
    assert {m.split(".")[0] for m in _modules()} == set(LAYERS)


def test_imports_point_down_or_sideways():
    """No module imports a module of a higher layer folder."""
    upward = [(m, d) for m in _modules() for d in _imports(m)[0] if LEVEL[d.split(".")[0]] > LEVEL[m.split(".")[0]]]
    assert not upward


def test_no_search_mode_imports_another():
    """A mode or stage (registered in seknet.core.plugins) imports no other: what two modes share lives in a lower
    layer or in a module of modes/ that is not a mode."""
    from seknet.core.plugins import MODES, STAGES

    modes = {p.ref.split(":")[0].removeprefix("seknet.") for p in [*MODES.values(), *STAGES.values()]}
    assert modes <= set(_modules())
    assert not [(m, d) for m in modes for d in _imports(m)[0] if d in modes]


def _graph() -> dict[str, frozenset[str]]:
    return {m: _imports(m)[0] for m in _modules()}


def test_no_import_cycles():
    """No module reaches itself through the imports (module level, inside functions, TYPE_CHECKING)."""
    graph = _graph()

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
        return seen

    assert [m for m in graph if m in reach(m)] == []


def longest_chain(graph: dict[str, frozenset[str]]) -> list[str]:
    """The longest path of imports through ``graph`` (acyclic), as the list of its modules."""

    @functools.cache
    def down(m: str) -> tuple[str, ...]:
        tails = [down(d) for d in graph[m]]
        return (m, *max(tails, key=len, default=()))

    return list(max((down(m) for m in graph), key=len))


def test_no_import_chain_is_longer_than_8_modules():
    """The house is at most 8 floors tall: the longest chain of imports inside seknet has at most 8 modules."""
    chain = longest_chain(_graph())
    assert len(chain) <= LONGEST_CHAIN, " -> ".join(chain)


def test_ray_and_nni_only_in_their_adapters():
    """Ray and NNI are imported by their adapter modules only, so `import seknet` drags no server in."""
    for pkg, allowed in SERVERS.items():
        assert {m for m in _modules() if pkg in _imports(m)[1]} <= allowed, pkg


def test_core_imports_without_torch():
    """The core layer (spaces, archs, attention kinds, exact counts, configs, the truth analysis) imports without
    torch."""
    core = "; ".join(f"import seknet.{m}" for m in _modules() if m.startswith("core."))
    stub = "import sys; sys.modules['seknet'] = type(sys)('seknet'); sys.modules['seknet'].__path__ = ['seknet']"
    code = f"{stub}; {core}; print('torch' in sys.modules)"  # the package stubbed: its __init__ builds models
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _public_refusals(path, tree: ast.AST) -> list[str]:
    """The imports of one benchmarks module that reach past seknet's public names: a ``seknet`` name outside
    ``seknet.__all__``, a layer's name outside that layer's ``__all__``, or a module that its layer does not list
    as public (``seknet.core.factorial`` is public, ``seknet.modes.oneshot`` is not)."""
    import importlib
    import inspect

    import seknet

    def public(layer: str, modules: bool = False) -> set[str]:
        package = importlib.import_module(f"seknet.{layer}")
        names = set(getattr(package, "__all__", ()))
        return {n for n in names if inspect.ismodule(getattr(package, n))} if modules else names

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "seknet":
            parts = node.module.split(".")
            names = [a.name for a in node.names]
            if len(parts) == 1:
                bad = [n for n in names if n not in seknet.__all__]
            elif len(parts) == 2:
                bad = [n for n in names if n not in public(parts[1])]
            else:
                bad = [] if len(parts) == 3 and parts[2] in public(parts[1], modules=True) else names
            out += [f"{path.name}:{node.lineno} from {node.module} import {n}" for n in bad]
        elif isinstance(node, ast.Import):
            out += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names if a.name.startswith("seknet.")]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "seknet":
            out += [] if node.attr in seknet.__all__ else [f"{path.name}:{node.lineno} seknet.{node.attr}"]
    return out


def test_benchmarks_import_only_seknets_public_names():
    """benchmarks/ is a user of the library: every seknet name it imports is public (seknet.__all__, a layer
    package's __all__, or a module the layer lists as public, such as the shared runner engine.ray_trials and
    core.factorial), and no module edits sys.path to find it."""
    refused = []
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        text = path.read_text()
        refused += _public_refusals(path, ast.parse(text))
        refused += [f"{path.name}: edits sys.path"] if "sys.path" in text else []
    assert refused == []


def test_the_public_check_refuses_a_modes_internals():
    """The check above can fail: a mode's function, a layer's internal name and a private module are refused (a
    public module's names, core.factorial's and engine.train's, are not)."""
    code = (
        "from seknet.modes.oneshot import run\nfrom seknet.engine import checkpoint_epochs\n"
        "from seknet.engine.standalone import initial_model\nimport seknet.runs.spine\n"
        "from seknet.core.factorial import fit\nfrom seknet.engine.train import train\n"
    )
    refused = _public_refusals(ROOT / "x.py", ast.parse(code))
    assert [r.split(" ", 1)[1] for r in refused] == [
        "from seknet.modes.oneshot import run",
        "from seknet.engine import checkpoint_epochs",
        "from seknet.engine.standalone import initial_model",
        "import seknet.runs.spine",
    ]


def test_no_function_in_seknet_or_benchmarks_is_longer_than_60_lines():
    """Every function (and method) of seknet/ and benchmarks/ spans at most 60 lines, docstring included."""
    long = []
    for path in sorted([*(ROOT / "seknet").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert long == []


def test_no_public_name_of_a_layer_hides_one_of_its_modules():
    """A layer package exports no function or class under the name of one of its modules (``train`` the function
    over ``engine/train.py``): ``import seknet.engine.train as T`` would then give the function, not the module."""
    import importlib

    for layer in LAYERS:
        package = importlib.import_module(f"seknet.{layer}")
        for name in getattr(package, "__all__", ()):
            if (ROOT / "seknet" / layer / f"{name}.py").is_file():
                assert getattr(package, name) is importlib.import_module(f"seknet.{layer}.{name}"), f"{layer}.{name}"

"""The package's layers: no module imports a layer above its own, the import graph has no
cycle, and no import hides inside a function (except the command line's handlers, which
load what a command needs, and the one lazy loader of the optional compiled kernels).

An equivalent of an import-linter "layers" contract, as a test (no extra tool to install).
"""

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "electionlib"

#: Bottom to top. A module may import its own layer and the layers below it.
LAYERS = [
    ("foundations", {"_validate", "_names", "_kernels", "_agg_kernels", "_vote_kernels",
                     "_progress", "mpi_transport", "experiments", "methods", "profiles", "plots"}),
    ("maths", {"codes", "votes", "tolerance", "theory", "aggregators", "draco", "attacks",
               "montecarlo", "optimal"}),
    ("data and models", {"data", "sampling", "models"}),
    ("schemes", {"config", "schemes", "step", "ddp"}),
    ("trainers", {"gradients", "train", "mpi_backend", "presets"}),
    ("experiments and analysis", {"analysis", "perf", "costmodel", "suites", "claims",
                                  "verdicts", "publish", "heterogeneity", "redundancy"}),
    ("command line", {"cli", "__main__", "__init__"}),
]
LAYER = {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}

#: Function-level imports that are allowed, with the reason.
LAZY = {
    ("votes", "_kernels"): "numba's import costs start-up time; compiled kernels are optional",
    ("aggregators", "_agg_kernels"): "numba's import costs start-up time; the compiled passes "
                                     "are optional",
    ("votes", "_vote_kernels"): "numba's import costs start-up time; the compiled count is "
                                "optional",
}


def _modules():
    """Every module of the package; a subpackage counts as one module."""
    return sorted([p.stem for p in PKG.glob("*.py")] +
                  [p.parent.name for p in PKG.glob("*/__init__.py")])


def _files(name: str):
    """The source files of module ``name`` and the relative level that reaches the package."""
    if (PKG / name).is_dir():
        return [(f, 2) for f in sorted((PKG / name).glob("*.py"))]
    return [(PKG / f"{name}.py", 1)]


def _imports(name: str):
    """(imported module, top level?) for every import of a package module in ``name``."""
    out = []
    for path, level in _files(name):
        out += _file_imports(path, level)
    return [(t, is_top) for t, is_top in out if t in LAYER or t == "__import__"]


def _by_name(call: ast.Call) -> bool:
    """``__import__("electionlib...")``, ``importlib.import_module("electionlib..."`` or
    ``".x")`` with a constant name: an import of a package module that hides from the
    statements above."""
    f = call.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    if name not in ("__import__", "import_module") or not call.args:
        return False
    arg = call.args[0]
    return (isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            and (arg.value.startswith("electionlib") or arg.value.startswith(".")))


def _file_imports(path: Path, level: int):
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == level:
            targets = [node.module] if node.module else [a.name for a in node.names]
            out += [(t.split(".")[0], id(node) in top) for t in targets]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("electionlib"):
            parts = node.module.split(".")
            targets = [parts[1]] if len(parts) > 1 else [a.name for a in node.names]
            out += [(t, id(node) in top) for t in targets]
        elif isinstance(node, ast.Import):  # import electionlib.x [as y]
            out += [(a.name.split(".")[1], id(node) in top) for a in node.names
                    if a.name.startswith("electionlib.")]
        elif isinstance(node, ast.Call) and _by_name(node):
            out += [("__import__", False)]  # a package module imported by name: never allowed
    return out


def test_every_module_has_a_layer():
    missing = [m for m in _modules() if m not in LAYER]
    assert not missing, f"add {missing} to a layer of tests/test_layers.py"


@pytest.mark.parametrize("name", _modules())
def test_no_module_imports_a_layer_above_its_own(name):
    up = [(t, LAYERS[LAYER[t]][0]) for t, _ in _imports(name)
          if t in LAYER and LAYER[t] > LAYER[name]]
    assert not up, f"{name} ({LAYERS[LAYER[name]][0]}) imports upward: {up}"


@pytest.mark.parametrize("name", [m for m in _modules() if m != "cli"])
def test_no_import_hides_inside_a_function(name):
    hidden = [t for t, is_top in _imports(name) if not is_top and (name, t) not in LAZY]
    assert not hidden, f"{name} imports {hidden} inside a function: import at the top"


def test_the_import_graph_has_no_cycle():
    graph = {m: {t for t, is_top in _imports(m) if is_top and t != m and t in LAYER}
             for m in _modules()}
    state: dict[str, int] = {}

    def visit(m, path):
        if state.get(m) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*path, m])}")
        if state.get(m) == 2:
            return
        state[m] = 1
        for t in sorted(graph[m]):
            visit(t, [*path, m])
        state[m] = 2

    for m in graph:
        visit(m, [])


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    # the rule can fail: a maths module importing the trainer is caught
    fake = tmp_path / "electionlib"
    fake.mkdir()
    (fake / "codes.py").write_text("from . import train\n\ndef f():\n    from . import perf\n"
                                   "    import electionlib.suites as s\n"
                                   "    __import__('os')\n"
                                   "    importlib.import_module('.verdicts', 'electionlib')\n"
                                   "    return __import__('electionlib.claims')\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    assert sorted(t for t, _ in _imports("codes")) == ["__import__", "__import__", "perf",
                                                       "suites", "train"]
    with pytest.raises(AssertionError, match="imports upward"):
        test_no_module_imports_a_layer_above_its_own("codes")
    with pytest.raises(AssertionError, match="inside a function"):
        test_no_import_hides_inside_a_function("codes")

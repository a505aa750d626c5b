"""The module graph of latentlab is acyclic, and the core never points at the view.

Every module is imported in a fresh interpreter; its imports of other latentlab modules (module
level *and* inside functions, read from the source with ``ast``) are the graph's arrows. A cycle
hidden by function-level imports is still a cycle here.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "latentlab"
VIEW = ROOT / "widgets"  # installed as latentlab.widgets (package-dir in pyproject.toml)


def _modules(view: bool = True) -> dict[str, Path]:
    """Module name -> file: the core (latentlab/) and, with ``view``, latentlab.widgets (widgets/)."""
    out = {}
    roots = [(PKG, ["latentlab"])] + ([(VIEW, ["latentlab", "widgets"])] if view else [])
    for root, prefix in roots:
        for f in sorted(root.rglob("*.py")):
            parts = prefix + list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts[-1] == "__main__":
                continue
            out[".".join(parts)] = f
    return out


def _is_view(mod: str) -> bool:
    return mod == "latentlab.widgets" or mod.startswith("latentlab.widgets.")


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph = {}
    for mod, f in mods.items():
        is_pkg = f.name == "__init__.py"
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:  # 'from .x import name' -> module x
                    t = t.rpartition(".")[0]
                # a package's own __init__ re-exporting its children is not an arrow back up
                if t and t != mod and not (is_pkg and t.startswith(mod + ".")):
                    deps.add(t)
        graph[mod] = deps
    return graph


def _cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m.startswith(n + "."):
                continue
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_every_module_imports_in_a_fresh_interpreter():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    subprocess.run([sys.executable, "-c", code, *_modules(view=False)], check=True, cwd=ROOT)


def test_module_graph_is_acyclic():
    graph = import_graph()
    # the top-level package re-exports everything; arrows *into* it would be cycles
    assert not any("latentlab" in deps for m, deps in graph.items() if m != "latentlab"), {
        m for m, deps in graph.items() if "latentlab" in deps
    }
    core = {m: {d for d in deps if d != "latentlab"} for m, deps in graph.items() if m != "latentlab"}
    cyc = _cycle(core)
    assert cyc is None, " -> ".join(cyc)


# the only modules outside the vessel wing allowed to point at it, each with its reason
MAY_IMPORT_VESSELS = {
    "latentlab": "the package imports the wing so its data set, labeler and target register",
    "latentlab.notebook_helpers": "notebook 03 is the vessel experiment (its helpers draw stress maps in kPa)",
}


def test_generic_core_does_not_import_the_vessel_wing():
    """Every module of the core, new ones included, except the few listed with their reason."""
    graph = import_graph()
    core = [m for m in graph if not _is_view(m) and not _is_vessels(m)]
    assert "latentlab.loop" in core and "latentlab.config" in core  # the rule sees the rooms
    offenders = {m: sorted(d for d in graph[m] if _is_vessels(d)) for m in core if m not in MAY_IMPORT_VESSELS}
    assert not {m: d for m, d in offenders.items() if d}
    assert set(MAY_IMPORT_VESSELS) <= set(graph)  # an exception for a module that is gone is stale


def _is_vessels(mod: str) -> bool:
    return mod == "latentlab.vessels" or mod.startswith("latentlab.vessels.")


def test_no_arrow_to_the_view():
    """The core (latentlab minus latentlab.widgets) never points at the view, Panel or Bokeh."""
    graph = import_graph()
    assert "latentlab.widgets.explorer" in graph  # the view is in the graph, so arrows into it resolve
    for m, deps in graph.items():
        if _is_view(m):
            continue
        assert not any(_is_view(d) or d.split(".")[0] in ("widgets", "panel", "bokeh") for d in deps), (m, deps)


def test_architecture_names_every_room():
    """docs/ARCHITECTURE.md names every module of latentlab/ (a new room gets its line there)."""
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    rooms = [f.name for f in PKG.glob("*.py") if f.name != "__init__.py"]
    rooms += [f"{d.name}/" for d in PKG.iterdir() if (d / "__init__.py").exists()]
    assert not [r for r in rooms if f"`{r}`" not in doc]

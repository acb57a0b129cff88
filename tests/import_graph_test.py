"""The import graph of `cips_tf/` and `pipelines/` keeps the layering of CONTRIBUTING.md ("Layers").

Every `import` and `from ... import` (absolute or relative, at module level or inside a function)
is an edge from the importing module to the imported one; an import of a name that is not a module
(`from cips_tf.coords import make_grid`) is an edge to the module that defines it. The check fails on

- a cycle (modules that import each other, directly or through others; function-local imports count:
  they only hide the arrow from a reader),
- a sideways import between two capability packages (training, synthesis, metrics, export, convert)
  or between the two entry points (cips_tf/cli, pipelines),
- an upward import: a lower floor importing a higher one (e.g. models importing metrics, a
  capability importing an entry point).

Failures list every offending cycle and edge (file:line). Built with the standard library's `ast`.
"""
import ast
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP_PACKAGES = ("cips_tf", "pipelines")

# Floor of each module prefix (the longest prefix wins); higher floors may import lower ones only.
# Modules of one floor may import each other, except across the packages of a SIDEWAYS floor.
ENTRY, CAPABILITY, LOWER, LAYERS, BOTTOM = 4, 3, 2, 1, 0
FLOORS = {
    "cips_tf": BOTTOM,  # cips_tf/__init__.py and the modules beside it: coords, losses, latents, errors ...
    "cips_tf.layers": LAYERS,
    "cips_tf.data": LOWER,
    "cips_tf.models": LOWER,
    "cips_tf.loading": LOWER,  # reads workdirs and exports: builds models, so above them, below their users
    "cips_tf.entry_point": LOWER,  # the entry points' error policy: names data's bad-image errors
    "cips_tf.training": CAPABILITY,
    "cips_tf.synthesis": CAPABILITY,
    "cips_tf.metrics": CAPABILITY,
    "cips_tf.export": CAPABILITY,
    "cips_tf.convert": CAPABILITY,
    "cips_tf.cli": ENTRY,
    "pipelines": ENTRY,
}
SIDEWAYS = (CAPABILITY, ENTRY)  # floors whose packages never import each other


def module_files(root, top_packages=TOP_PACKAGES):
    """{dotted module name: path} of every .py file under `root/<top package>`."""
    modules = {}
    for top in top_packages:
        for path in sorted((pathlib.Path(root) / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _resolve_relative(module, is_package, level, name):
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def import_edges(root, top_packages=TOP_PACKAGES):
    """[(importer, imported, 'path:line')] between the modules under `root`, every import counted."""
    modules = module_files(root, top_packages)
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = _resolve_relative(module, is_package, node.level, node.module)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in modules else base)
            for target in targets:
                while target and target not in modules:  # `import cips_tf.data.prepare as x` etc.
                    target = target.rpartition(".")[0]
                if target and target.split(".")[0] in top_packages and target != module:
                    edges.append((module, target, f"{path.relative_to(root)}:{node.lineno}"))
    return edges


def find_cycles(edges):
    """The strongly connected components with more than one module, each as a sorted list (Tarjan)."""
    graph = {}
    for a, b, _ in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def _package(module, floors):
    """The longest prefix of `module` in `floors`, or None."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in floors:
            return prefix
    return None


def layering_violations(edges, floors=None, sideways=SIDEWAYS):
    """(sideways edges, upward edges), each a sorted list of 'importer -> imported (path:line)'."""
    floors = FLOORS if floors is None else floors
    side, up = set(), set()
    for a, b, where in edges:
        pa, pb = _package(a, floors), _package(b, floors)
        if pa is None or pb is None or pa == pb:
            continue
        line = f"{a} -> {b} ({where})"
        if floors[pb] > floors[pa]:
            up.add(line)
        elif floors[pb] == floors[pa] and floors[pa] in sideways:
            side.add(line)
    return sorted(side), sorted(up)


def report(root=REPO_ROOT, top_packages=TOP_PACKAGES, floors=None):
    """(cycles, sideways, upward, text) for the tree under `root`."""
    edges = import_edges(root, top_packages)
    cycles = find_cycles(edges)
    side, up = layering_violations(edges, floors)
    lines = [f"{len(edges)} import edges; {len(cycles)} cycles, {len(side)} sideways, {len(up)} upward"]
    lines += ["cycle: " + " <-> ".join(c) for c in cycles]
    lines += ["sideways: " + s for s in side]
    lines += ["upward: " + u for u in up]
    return cycles, side, up, "\n".join(lines)


def test_import_graph_has_no_cycle_no_sideways_and_no_upward_import():
    cycles, side, up, text = report()
    print(text)
    assert not (cycles or side or up), text


def test_every_package_of_the_tree_has_a_floor():
    unplaced = sorted(m for m in module_files(REPO_ROOT) if _package(m, FLOORS) is None)
    assert not unplaced, f"modules outside every floor of FLOORS: {unplaced}"


# The checker itself, on a tiny package written into tmp_path.


def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_cycles_through_local_and_relative_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def f():\n    from . import c\n",  # function-local and relative
        "pkg/c.py": "import pkg.a as alias\n",
        "pkg/d.py": "from pkg.a import name_in_a\n",  # a name, not a module: an edge to pkg.a
        "pkg/sub/__init__.py": "from ..d import x\n",
    })
    edges = import_edges(tmp_path, ("pkg",))
    assert {(a, b) for a, b, _ in edges} == {("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"),
                                             ("pkg.d", "pkg.a"), ("pkg.sub", "pkg.d")}
    assert ("pkg.b", "pkg.c", "pkg/b.py:2") in edges
    assert find_cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    _, _, _, text = report(tmp_path, ("pkg",), floors={"pkg": 0})
    assert "cycle: pkg.a <-> pkg.b <-> pkg.c" in text


def test_checker_finds_sideways_and_upward_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.cap_a import run\n",  # upward, hidden in a function
        "pkg/cap_a/__init__.py": "",
        "pkg/cap_a/run.py": "from pkg.cap_b import tool\nfrom pkg import low\n",  # sideways; down is fine
        "pkg/cap_b/__init__.py": "",
        "pkg/cap_b/tool.py": "import os\n",
    })
    floors = {"pkg": 0, "pkg.cap_a": 3, "pkg.cap_b": 3}
    cycles, side, up, text = report(tmp_path, ("pkg",), floors=floors)
    assert cycles == [["pkg.cap_a.run", "pkg.low"]]
    assert side == ["pkg.cap_a.run -> pkg.cap_b.tool (pkg/cap_a/run.py:1)"]
    assert up == ["pkg.low -> pkg.cap_a.run (pkg/low.py:2)"]
    assert "sideways: pkg.cap_a.run -> pkg.cap_b.tool" in text and "upward: pkg.low -> pkg.cap_a.run" in text

"""The direction of dependencies, read from the source with ast (every import, including those inside
functions): doors (web, wire) sit on domain apps, and domain apps sit on one another in one fixed order.

    core < accounts < projects < artifacts < jobs < launch < {web, wire}

A domain app may import only the apps below it, so it never imports a door, and no two domain apps import
each other. The two doors do not import each other. The project modules (settings, env, urls, celery,
wsgi) wire everything together and are not checked.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "launchui"
DOMAIN_LAYERS = ["core", "accounts", "projects", "artifacts", "jobs", "launch"]
DOORS = ["web", "wire"]


def _imported_modules(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "launchui":  # from launchui import wire
                found.update(f"launchui.{alias.name}" for alias in node.names)
    return found


def import_edges(package: Path = PACKAGE) -> set[tuple[str, str, str]]:
    """(importing app, imported app, file) for every import of one launchui app by another."""
    edges = set()
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if len(parts) < 2:  # launchui/settings.py and friends
            continue
        source = parts[0]
        for module in _imported_modules(ast.parse(path.read_text(), filename=str(path))):
            names = module.split(".")
            if names[0] == "launchui" and len(names) > 1 and names[1] != source:
                edges.add((source, names[1], str(path.relative_to(package.parent))))
    return edges


def violations(edges: set[tuple[str, str, str]]) -> list[str]:
    rank = {app: i for i, app in enumerate(DOMAIN_LAYERS)}
    found = []
    for source, target, path in sorted(edges):
        if source in rank and target in DOORS:
            found.append(f"{path}: domain app {source} imports the door {target}")
        elif source in rank and target in rank and rank[target] > rank[source]:
            found.append(f"{path}: {source} imports {target}, which sits above it")
        elif source in rank and target not in rank:
            found.append(f"{path}: {source} imports launchui.{target}, which is not a domain app")
        elif source in DOORS and target in DOORS:
            found.append(f"{path}: door {source} imports the other door {target}")
    return found


def test_every_app_in_the_package_has_a_place_in_the_layers():
    apps = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert apps == set(DOMAIN_LAYERS) | set(DOORS), "add a new app to DOMAIN_LAYERS or DOORS"


def test_imports_point_down_the_layers():
    assert violations(import_edges()) == []


@pytest.mark.parametrize(
    "edge, message",
    [
        (("jobs", "wire", "launchui/jobs/services.py"), "domain app jobs imports the door wire"),
        (("artifacts", "launch", "launchui/artifacts/models.py"), "artifacts imports launch, which sits above it"),
        (("core", "accounts", "launchui/core/ids.py"), "core imports accounts, which sits above it"),
        (("web", "wire", "launchui/web/views.py"), "door web imports the other door wire"),
    ],
)
def test_the_layer_check_catches_an_upward_import(edge, message):
    assert violations({edge}) == [f"{edge[2]}: {message}"]


def test_the_graph_reader_sees_imports_inside_functions(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "services.py").write_text(
        "def f():\n    from launchui.wire import ids\n    from launchui import web\n"
    )
    assert {(s, t) for s, t, _ in import_edges(tmp_path)} == {("jobs", "wire"), ("jobs", "web")}

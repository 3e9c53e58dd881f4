"""The package's layers: every import inside btfkit points down, with one stated exception."""

from __future__ import annotations

import ast
from pathlib import Path

import btfkit

ROOT = Path(btfkit.__file__).parent
# Bottom to top.  A module may import its own layer and the ones below it.
LAYERS = ["errors", "gcpause", "cpus", "format", "transforms", "sources", "core", "outputs", "fleet", "integrations", "cli"]
# str(t) of a Type is the block the one C renderer writes (issue 11): a late import, commented there.
ALLOWED_UP = {("format.btf", "outputs.c")}


def _layer(module: str) -> int | None:
    top = module.split(".", maxsplit=1)[0]
    return LAYERS.index(top) if top in LAYERS else None


def _imports(path: Path) -> list[tuple[str, str]]:
    """(importing module, imported module) for every relative import in ``path``."""
    module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
    package = module.split(".")
    if path.name == "__init__.py":
        package.append("__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            target = package[: len(package) - node.level] + ([node.module] if node.module else [])
            found.append((module.removesuffix(".__init__"), ".".join(target)))
    return found


def test_every_module_is_in_a_layer() -> None:
    for path in ROOT.rglob("*.py"):
        module = path.relative_to(ROOT).with_suffix("").as_posix()
        assert module.startswith("__") or _layer(module.replace("/", ".")) is not None, module


def test_imports_point_down() -> None:
    upward = set()
    for path in ROOT.rglob("*.py"):
        for importer, imported in _imports(path):
            a, b = _layer(importer), _layer(imported)
            if a is not None and b is not None and b > a:
                upward.add((importer, imported))
    assert upward == ALLOWED_UP

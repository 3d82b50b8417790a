"""The revision files of the LumiAI schema read as text: ids, parents and heads, without Alembic.

Building Alembic's ``ScriptDirectory`` imports every revision (~0.3-0.4 s); a restore and
``doctor`` only need the ids and which of them are heads. Tests pin these to Alembic's answer.
"""

from __future__ import annotations

from pathlib import Path

VERSIONS_DIR = Path(__file__).parent / "schema" / "migrations" / "versions"


def _revision_edges(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A revision file's ``revision`` and ``down_revision`` (as a tuple), read without importing it."""
    import ast

    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            name, value = node.target, node.value
        else:
            continue
        if isinstance(name, ast.Name) and name.id in ("revision", "down_revision"):
            try:
                values[name.id] = ast.literal_eval(value)
            except ValueError:
                continue
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, (tuple, list)):
        return revision, tuple(str(part) for part in down)
    return revision, ()


def revision_graph(versions_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Every revision id in the migrations folder and the ids it revises, from the files."""
    folder = versions_dir if versions_dir is not None else VERSIONS_DIR
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(folder.glob("*.py")):
        edges = _revision_edges(path)
        if edges is not None:
            graph[edges[0]] = edges[1]
    return graph


def known_revision_ids(versions_dir: Path | None = None) -> frozenset[str]:
    """Every revision id in the migrations folder (no import of Alembic or the revisions)."""
    return frozenset(revision_graph(versions_dir))


def head_revision_ids(versions_dir: Path | None = None) -> frozenset[str]:
    """The head revisions (revised by no other revision), as Alembic's ``get_heads`` says."""
    graph = revision_graph(versions_dir)
    revised = {down for downs in graph.values() for down in downs}
    return frozenset(graph.keys() - revised)

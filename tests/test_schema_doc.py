"""docs/SCHEMA.md stays true: its tables, read as written, equal a migrated database's catalog.

The page is parsed (enum types; each table's columns with type, nullability and default;
indexes; foreign keys), turned into a ``catalog.Catalog`` and compared with the catalog of
a database at head. The README and docs link only to files inside the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

from lumidb import catalog
from lumidb.connection import DatabaseTarget, connect, quote_ident

REPO = Path(__file__).parent.parent
SCHEMA_DOC = REPO / "docs" / "SCHEMA.md"

TYPES = {
    "TEXT": "text",
    "TEXT[]": "text[]",
    "BOOLEAN": "boolean",
    "INTEGER": "integer",
    "DOUBLE PRECISION": "double precision",
    "TIMESTAMP(3)": "timestamp(3) without time zone",
    "DECIMAL(10,2)": "numeric(10,2)",
}


def _rows(lines: list[str]) -> list[list[str]]:
    """The body rows of the first Markdown table in ``lines``."""
    rows = []
    started = False
    for line in lines:
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not set("".join(cells)) <= set("- "):
                rows.append(cells)
        elif started:
            break
    return rows[1:]  # without the header


def _section(text: str, title: str) -> list[str]:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None].splitlines()[1:]


def _ident(name: str) -> str:
    return quote_ident(name) if name != name.lower() else name


def _type(text: str) -> str:
    return text if text.startswith('"') else TYPES[text]


def _default(text: str, type_: str) -> str | None:
    value = re.sub(r"\(.*\)", "", text).strip()
    if not value or value.startswith("—"):
        return None
    if value.startswith("'"):
        return f"{value}::{type_}"
    return value


def parse_schema_doc(text: str) -> catalog.Catalog:
    enums = {
        name.strip('`"'): [v.strip() for v in values.split(",")]
        for name, values in _rows(_section(text, "Enum types"))
    }
    columns: dict[str, dict[str, tuple[str, bool, str | None]]] = {}
    indexes: dict[str, str] = {}
    constraints: dict[str, str] = {}
    table_lines = _section(text, "Tables")
    for i, line in enumerate(table_lines):
        match = re.match(r"^`(\w+)` \(model", line)
        if not match:
            continue
        table = match.group(1)
        columns[table] = {}
        for names, type_text, null, default in _rows(table_lines[i + 1 :]):
            type_ = _type(type_text)
            for name in (n.strip() for n in names.split(",")):
                columns[table][name] = (type_, null == "yes", _default(default, type_))
        indexes[f"{table}_pkey"] = f"CREATE UNIQUE INDEX {table}_pkey ON {table} USING btree (id)"
        constraints[f"{table}_pkey"] = f"{table}: PRIMARY KEY (id)"
    for name, on, unique in _rows(_section(text, "Indexes")):
        table, cols = re.match(r"(\w+) \((.*)\)", on).groups()  # type: ignore[union-attr]
        listed = ", ".join(_ident(c.strip()) for c in cols.split(","))
        kind = "UNIQUE INDEX" if unique == "yes" else "INDEX"
        indexes[name] = f"CREATE {kind} {_ident(name)} ON {table} USING btree ({listed})"
    for name, source, target, on_delete, on_update in _rows(_section(text, "Foreign keys")):
        table, column = source.split(".")
        to_table, to_column = target.split(".")
        constraints[name] = (
            f"{table}: FOREIGN KEY ({_ident(column)}) REFERENCES {to_table}({to_column}) "
            f"ON UPDATE {on_update} ON DELETE {on_delete}"
        )
    return catalog.Catalog(enums=enums, columns=columns, indexes=indexes, constraints=constraints)


def test_schema_doc_is_the_migrated_catalog(db: DatabaseTarget) -> None:
    documented = parse_schema_doc(SCHEMA_DOC.read_text(encoding="utf-8"))
    assert len(documented.columns) == 5 and len(documented.enums) == 5
    with connect(db) as conn:
        live = catalog.snapshot(conn, "public")
    assert catalog.differences(documented, live, reference="docs/SCHEMA.md") == []


def test_schema_doc_parser_sees_a_change(db: DatabaseTarget) -> None:
    text = SCHEMA_DOC.read_text(encoding="utf-8").replace(
        "| currency | TEXT | no | 'INR' |", "| currency | TEXT | no | 'USD' |", 1
    )
    with connect(db) as conn:
        live = catalog.snapshot(conn, "public")
    found = catalog.differences(parse_schema_doc(text), live, reference="docs/SCHEMA.md")
    assert any("products.currency" in line and "USD" in line for line in found)


def test_readme_and_docs_link_only_inside_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/SCHEMA.md" in readme
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        assert "../shared" not in text, page
        for target in re.findall(r"\]\(([^)#]+)", text):
            if "://" in target:
                continue
            resolved = (page.parent / target).resolve()
            assert resolved.is_relative_to(REPO.resolve()) and resolved.exists(), (page, target)

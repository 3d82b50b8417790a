"""initial: the LumiAI schema as Prisma Migrate created it

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The upgrade runs the very DDL of Prisma's first migration (the ``.sql`` file beside
this one), so a database that Prisma created is identical to one at this revision and
``lumidb migrate adopt`` can take it over.
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRISMA_SQL = Path(__file__).with_suffix(".sql")


def upgrade() -> None:
    op.execute(PRISMA_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(
        'DROP TABLE "order_items", "skin_analyses", "orders", "products", "users";'
        ' DROP TYPE "OrderStatus", "SkinType", "Tone", "Category", "Role";'
    )

"""create issues

Revision ID: 8a4e2c6f1b93
Revises: 3f1c9a2b7d10
Create Date: 2024-01-08 14:02:51.550912

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "8a4e2c6f1b93"
down_revision: Union[str, Sequence[str], None] = "3f1c9a2b7d10"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    # both tables exist now: the foreign keys
    op.create_foreign_key("issues_project_id_fkey", "issues", "projects", ["project_id"], ["id"])
    op.create_foreign_key("issues_author_id_fkey", "issues", "users", ["author_id"], ["id"])
    op.create_index("issues_project_id_status_idx", "issues", ["project_id", "status"])


def downgrade() -> None:
    op.drop_index("issues_project_id_status_idx", table_name="issues")
    op.drop_table("issues")

"""add comments

Revision ID: c27d5e0f4a61
Revises: 8a4e2c6f1b93
Create Date: 2024-02-10 10:41:17.004417

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "c27d5e0f4a61"
down_revision: Union[str, Sequence[str], None] = "8a4e2c6f1b93"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("issue_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_foreign_key("comments_issue_id_fkey", "comments", "issues", ["issue_id"], ["id"], ondelete="CASCADE")
    op.create_foreign_key("comments_author_id_fkey", "comments", "users", ["author_id"], ["id"])
    op.create_index("comments_issue_id_idx", "comments", ["issue_id"])


def downgrade() -> None:
    op.drop_index("comments_issue_id_idx", table_name="comments")
    op.drop_table("comments")

"""issue priority, estimate and closed_at

Revision ID: 51b0d8e3c7f2
Revises: c27d5e0f4a61
Create Date: 2024-03-15 11:22:40.731580

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "51b0d8e3c7f2"
down_revision: Union[str, Sequence[str], None] = "c27d5e0f4a61"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

priority = sa.Enum("low", "medium", "high", "urgent", name="issue_priority")


def upgrade() -> None:
    priority.create(op.get_bind())
    op.add_column("issues", sa.Column("priority", priority, server_default="medium", nullable=False))
    op.add_column("issues", sa.Column("estimate", sa.Integer(), nullable=True))
    op.add_column("issues", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    # closed issues were closed when their last comment was written
    op.execute(
        """
        UPDATE issues
           SET closed_at = last.created_at
          FROM (SELECT issue_id, max(created_at) AS created_at FROM comments GROUP BY issue_id) AS last
         WHERE last.issue_id = issues.id
           AND issues.status = 'closed'
        """
    )


def downgrade() -> None:
    op.drop_column("issues", "closed_at")
    op.drop_column("issues", "estimate")
    op.drop_column("issues", "priority")
    priority.drop(op.get_bind())

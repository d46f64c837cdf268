"""rename issues.body to description; index comments by author

Revision ID: e9f3a7b2d485
Revises: 51b0d8e3c7f2
Create Date: 2024-04-02 08:30:12.266094

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "e9f3a7b2d485"
down_revision: Union[str, Sequence[str], None] = "51b0d8e3c7f2"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.alter_column("issues", "body", new_column_name="description")
    with op.get_context().autocommit_block():
        op.create_index("comments_author_id_idx", "comments", ["author_id"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("comments_author_id_idx", table_name="comments", postgresql_concurrently=True)
    op.alter_column("issues", "description", new_column_name="body")

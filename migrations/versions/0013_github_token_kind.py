"""github accounts: which kind of OAuth client issued the user's token

Revision ID: 0013_github_token_kind
Revises: 0012_one_history
Create Date: 2026-12-05 09:00:00

A GitHub App's user token reaches only repositories the App is installed on, within the App's
permissions; a classic OAuth App's token reaches every repository its user can, within its scopes.
Choosing a credential for a repository (webhook set-up, commits) needs to know which one a user
holds. Tokens stored before this were all issued by the App's client: "app".
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013_github_token_kind'
down_revision = '0012_one_history'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('github_accounts') as batch:
        batch.add_column(sa.Column('token_kind', sa.String(length=20), nullable=False, server_default='app'))


def downgrade():
    with op.batch_alter_table('github_accounts') as batch:
        batch.drop_column('token_kind')

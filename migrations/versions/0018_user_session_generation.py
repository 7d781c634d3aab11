"""users: a session generation, so logout, a new password, deactivation or a new role end every sign-in

Revision ID: 0018_user_session_generation
Revises: 0017_retention
Create Date: 2026-12-05 09:10:00

Session and remember cookies carry "<user id>:<generation>"; a cookie whose generation is not the
user's current one signs nobody in. Cookies issued before this migration carry the bare id and so
end once, which is what the change is for.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0018_user_session_generation'
down_revision = '0017_retention'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('session_generation')

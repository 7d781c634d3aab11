"""builds: build_id unique per repository, so a duplicate never reveals a build in a hidden repository

Revision ID: 0019_build_id_per_repository
Revises: 0018_user_session_generation
Create Date: 2026-12-05 14:20:00

A build_id unique across all repositories made registering a build answer 409 when a build of the
same id existed in a repository the caller cannot see. It is now unique within a repository, and
among builds that name no repository (which everyone sees).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0019_build_id_per_repository'
down_revision = '0018_user_session_generation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('builds') as batch_op:
        batch_op.drop_constraint('uq_builds_build_id', type_='unique')
    op.create_index('ix_builds_build_id', 'builds', ['build_id'])
    op.create_index('uq_builds_repository_build_id', 'builds', ['repository_id', 'build_id'], unique=True,
                    postgresql_where=sa.text('repository_id IS NOT NULL'),
                    sqlite_where=sa.text('repository_id IS NOT NULL'))
    op.create_index('uq_builds_unscoped_build_id', 'builds', ['build_id'], unique=True,
                    postgresql_where=sa.text('repository_id IS NULL'), sqlite_where=sa.text('repository_id IS NULL'))


def downgrade():
    op.drop_index('uq_builds_unscoped_build_id', table_name='builds')
    op.drop_index('uq_builds_repository_build_id', table_name='builds')
    op.drop_index('ix_builds_build_id', table_name='builds')
    with op.batch_alter_table('builds') as batch_op:
        batch_op.create_unique_constraint('uq_builds_build_id', ['build_id'])

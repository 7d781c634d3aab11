"""builds: catalogue aliases, a build's final state, and the default catalogue in a fresh database

Revision ID: 0016_builds_catalogue_loaded
Revises: 0013_github_token_kind
Create Date: 2026-12-05 09:10:00

Pipelines moving from the Build State API report as soon as Gantry runs: the default catalogue is
loaded here instead of waiting for an operator's `flask catalog load`. Entries that exist are left as
admins changed them; default entries that exist without aliases get the default aliases.
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from webapp.builds.catalogue import DEFAULT_IMAGE_TYPES, DEFAULT_OS_VERSIONS, DEFAULT_PLATFORMS, DEFAULT_STATE_CODES

# revision identifiers, used by Alembic.
revision = '0016_builds_catalogue_loaded'
down_revision = '0013_github_token_kind'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
KINDS = {
    'build_platforms': (DEFAULT_PLATFORMS, ('cloud',)),
    'build_os_versions': (DEFAULT_OS_VERSIONS, ('family',)),
    'build_image_types': (DEFAULT_IMAGE_TYPES, ('description',)),
}


def _stamps():
    # SQLite (`make run`) cannot evaluate the tables' now() server default: the rows carry their own.
    return [sa.column('created_at', sa.DateTime(timezone=True)), sa.column('updated_at', sa.DateTime(timezone=True))]


def upgrade():
    now = datetime.now(UTC)
    stamped = {'created_at': now, 'updated_at': now}
    for table in KINDS:
        op.add_column(table, sa.Column('aliases', JSON, nullable=False, server_default='[]'))
    op.add_column('builds', sa.Column('final_state_code', sa.Integer(), nullable=True))
    bind = op.get_bind()
    for table, (rows, extra) in KINDS.items():
        t = sa.table(table, sa.column('slug', sa.String), sa.column('name', sa.String),
                     sa.column('aliases', JSON), *(sa.column(name, sa.String) for name in extra), *_stamps())
        existing = dict(bind.execute(sa.select(t.c.slug, t.c.aliases)).all())
        for row in rows:
            values = {'aliases': [], **row, **stamped}
            if row['slug'] not in existing:
                bind.execute(t.insert().values(**values))
            elif not existing[row['slug']]:
                bind.execute(t.update().where(t.c.slug == row['slug']).values(aliases=values['aliases']))
    codes = sa.table('build_state_codes', sa.column('code', sa.Integer), sa.column('name', sa.String),
                     sa.column('description', sa.Text), sa.column('phase', sa.String),
                     sa.column('terminal', sa.Boolean), sa.column('failure', sa.Boolean), *_stamps())
    known = set(bind.execute(sa.select(codes.c.code)).scalars())
    for row in DEFAULT_STATE_CODES:
        if row['code'] not in known:
            bind.execute(codes.insert().values(**{'terminal': False, 'failure': False, **row, **stamped}))


def downgrade():
    # The loaded catalogue stays: builds may refer to it, and 0005's downgrade drops it with its tables.
    op.drop_column('builds', 'final_state_code')
    for table in KINDS:
        op.drop_column(table, 'aliases')

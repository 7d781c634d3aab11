"""repository search: a trigram index for substring search on name and description

Revision ID: 0011_repository_search_trigrams
Revises: 0002_repos
Create Date: 2026-11-25 22:10:00

Searching repositories is a substring match (`lower(full_name) LIKE '%term%'`, the same on the
description), which a btree cannot serve: an admin's search read every repository. pg_trgm's GIN
operator class serves LIKE with a leading wildcard. pg_trgm ships with PostgreSQL and is a trusted
extension (PostgreSQL 13 and later: the database owner may create it); where it cannot be created
the migration goes on without the index and search keeps working, only slower. SQLite (`make
run`) has no such index.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_repository_search_trigrams'
down_revision = '0002_repos'
branch_labels = None
depends_on = None

INDEX = 'ix_repositories_search_trgm'


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        "DO $$ BEGIN "
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        "EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm is not available: repository search stays unindexed'; "
        "END $$"
    )
    op.execute(
        "DO $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN "
        f"CREATE INDEX {INDEX} ON repositories USING gin "
        "(lower(full_name) gin_trgm_ops, lower(coalesce(description, '')) gin_trgm_ops); "
        "END IF; "
        "END $$"
    )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")  # the extension stays: other objects may use it

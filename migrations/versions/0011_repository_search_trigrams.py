"""repository search: trigram indexes for substring search on name and description

Revision ID: 0011_repository_search_trigrams
Revises: 0002_repos
Create Date: 2026-11-25 22:10:00

Searching repositories is a substring match (`lower(full_name) LIKE '%term%'`, the same on the
description), which a btree cannot serve: an admin's search read every repository. pg_trgm's GIN
operator class serves LIKE with a leading wildcard; one index per column (PostgreSQL over-estimates
the cost of a two-column GIN index and would not use it). pg_trgm ships with PostgreSQL and is a trusted
extension (PostgreSQL 13 and later: the database owner may create it); where it cannot be created
the migration goes on without the indexes and search keeps working, only slower. SQLite (`make
run`) has no such indexes.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011_repository_search_trigrams'
down_revision = '0002_repos'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_repositories_full_name_trgm': "lower(full_name)",
    'ix_repositories_description_trgm': "lower(coalesce(description, ''))",
}


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        "DO $$ BEGIN "
        "CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        "EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'pg_trgm is not available: repository search stays unindexed'; "
        "END $$"
    )
    for name, expression in INDEXES.items():
        op.execute(
            "DO $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN "
            f"CREATE INDEX {name} ON repositories USING gin ({expression} gin_trgm_ops); "
            "END IF; "
            "END $$"
        )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")  # the extension stays: other objects may use it

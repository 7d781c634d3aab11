"""one history: join the per-capability branches, so `flask db upgrade` and `flask db migrate` work

Revision ID: 0012_one_history
Revises: 0003_github, 0005_builds, 0006_runners, 0007_forwarding, 0008_releases, 0009_sync,
         0010_webhook_payload_as_received, 0011_repository_search_trigrams
Create Date: 2026-12-05 09:00:00

Each capability used to start its own branch from 0002_repos, which left eight heads: Alembic then
refuses `flask db upgrade` ("Multiple head revisions are present") and `flask db migrate` cannot
autogenerate. From here on the history is one line: every new revision revises the one head
(tests/test_migrations.py fails on a second head or a new branch).
"""

# revision identifiers, used by Alembic.
revision = '0012_one_history'
down_revision = (
    '0003_github',
    '0005_builds',
    '0006_runners',
    '0007_forwarding',
    '0008_releases',
    '0009_sync',
    '0010_webhook_payload_as_received',
    '0011_repository_search_trigrams',
)
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass

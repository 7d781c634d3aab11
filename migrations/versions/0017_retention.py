"""retention: mark a webhook payload emptied on purpose, and index the job a runner ran

Revision ID: 0017_retention
Revises: 0016_builds_catalogue_loaded
Create Date: 2026-12-05 09:30:00

Retention empties the payload of a handled delivery after RETENTION_DELIVERY_PAYLOAD_DAYS and keeps
the row (the delivery log, the dedupe on delivery id) until RETENTION_DELIVERY_DAYS;
`payload_purged_at` says the payload is gone on purpose, so re-processing refuses instead of running
handlers on `{}`. A nullable column without a default is a catalogue change only: no table rewrite.

Deleting a ledger row makes PostgreSQL look for runners pointing at it (ON DELETE SET NULL); without
an index on runners.job_id that is a scan of every runner per deleted job. The index is built
CONCURRENTLY so a large runners table keeps taking writes while it is built.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017_retention'
down_revision = '0016_builds_catalogue_loaded'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.add_column(sa.Column('payload_purged_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_runners_job_id', 'runners', ['job_id'], unique=False, postgresql_concurrently=True,
                            if_not_exists=True)
    else:
        op.create_index('ix_runners_job_id', 'runners', ['job_id'], unique=False)


def downgrade():
    op.drop_index('ix_runners_job_id', table_name='runners')
    with op.batch_alter_table('webhook_deliveries') as batch:
        batch.drop_column('payload_purged_at')

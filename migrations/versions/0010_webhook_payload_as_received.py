"""webhook delivery payloads stored as received: json rather than jsonb, compressed with lz4

Revision ID: 0010_webhook_payload_as_received
Revises: 0004_webhooks
Create Date: 2026-11-25 20:10:00

Nothing queries inside a stored payload, so PostgreSQL need not take it apart into jsonb on every
delivery: json keeps the text GitHub sent (checked to be valid JSON) and costs less to write, and
lz4 compresses a large payload faster than the default pglz. Both only change PostgreSQL; a server
built without lz4 keeps its default compression.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0010_webhook_payload_as_received'
down_revision = '0004_webhooks'
branch_labels = None
depends_on = None


def _set_compression(method: str) -> None:
    op.execute(
        "DO $$ BEGIN "
        f"ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION {method}; "
        "EXCEPTION WHEN OTHERS THEN NULL; "  # PostgreSQL before 14, or built without lz4
        "END $$"
    )


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite stores JSON as text either way
    op.alter_column('webhook_deliveries', 'payload', type_=sa.JSON(), existing_type=postgresql.JSONB(),
                    existing_nullable=False, postgresql_using='payload::json')
    _set_compression('lz4')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    _set_compression('pglz')
    op.alter_column('webhook_deliveries', 'payload', type_=postgresql.JSONB(), existing_type=sa.JSON(),
                    existing_nullable=False, postgresql_using='payload::jsonb')

"""Event store: events (the outbox too), the position sequence, snapshots, checkpoints.

Revision ID: 0001_event_store
Revises:
Create Date: 2025-12-01

``events.position`` is assigned by the appender under the lock of the single
``event_sequence`` row (not AUTO_INCREMENT), so positions are gap-free and in commit order.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001_event_store"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE events (
            position BIGINT UNSIGNED NOT NULL,
            stream_id VARCHAR(200) NOT NULL,
            stream_version INT UNSIGNED NOT NULL,
            event_id UUID NOT NULL,
            type VARCHAR(200) NOT NULL,
            schema_version SMALLINT UNSIGNED NOT NULL,
            data LONGTEXT NOT NULL,
            metadata LONGTEXT NOT NULL,
            recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (position),
            UNIQUE KEY uq_events_stream_version (stream_id, stream_version),
            UNIQUE KEY uq_events_event_id (event_id)
        ) {_TABLE_OPTIONS}
        """
    )
    op.execute(
        f"""
        CREATE TABLE event_sequence (
            id TINYINT UNSIGNED NOT NULL,
            last_position BIGINT UNSIGNED NOT NULL,
            PRIMARY KEY (id)
        ) {_TABLE_OPTIONS}
        """
    )
    op.execute("INSERT INTO event_sequence (id, last_position) VALUES (1, 0)")
    op.execute(
        f"""
        CREATE TABLE snapshots (
            stream_id VARCHAR(200) NOT NULL,
            version INT UNSIGNED NOT NULL,
            type VARCHAR(200) NOT NULL,
            schema_version SMALLINT UNSIGNED NOT NULL,
            state LONGTEXT NOT NULL,
            recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            PRIMARY KEY (stream_id, version)
        ) {_TABLE_OPTIONS}
        """
    )
    op.execute(
        f"""
        CREATE TABLE checkpoints (
            consumer VARCHAR(200) NOT NULL,
            position BIGINT UNSIGNED NOT NULL,
            updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                ON UPDATE CURRENT_TIMESTAMP(6),
            PRIMARY KEY (consumer)
        ) {_TABLE_OPTIONS}
        """
    )


def downgrade() -> None:
    for table in ("checkpoints", "snapshots", "event_sequence", "events"):
        op.execute(f"DROP TABLE {table}")

"""What every service's ``alembic/env.py`` does, written once.

A service's env.py names its models' metadata and calls
:func:`run_migrations`; the rest — offline SQL, a connection handed in by a
caller (tests), SQLite's batch mode — is the same for all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData

from labornet_shared.db import make_engine, normalise_url


def run_migrations(context: Any, metadata: MetaData) -> None:
    """Run the migrations alembic asked for, against ``metadata``."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        # emit SQL without a connection (``alembic upgrade --sql``)
        context.configure(
            url=normalise_url(url),
            target_metadata=metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(context, connection, metadata)
        return
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        _run(context, connection, metadata)
    engine.dispose()


def _run(context: Any, connection: Any, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# --- steps every service's outbox takes (called from each service's migration;
# frozen once released: a later change is a new step, never an edit) ---------


def add_outbox_lease_and_parking(op: Any) -> None:
    """The relay lease table (one relay publishes an outbox at a time) and
    the outbox's columns for parking a row the broker keeps refusing."""
    import sqlalchemy as sa

    op.create_table(
        "outbox_relay_lease",
        sa.Column("outbox", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("outbox", name=op.f("pk_outbox_relay_lease")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_error", sa.String(length=200), nullable=True)
        )


def drop_outbox_lease_and_parking(op: Any) -> None:
    """Undo :func:`add_outbox_lease_and_parking`."""
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("parked_at")
        batch_op.drop_column("failures")
    op.drop_table("outbox_relay_lease")

"""What every service's declarative base is made of, defined once.

Each service owns its whole schema — its own base and ``MetaData``, in its
own database, migrated by its own Alembic (a shared base class would share
SQLAlchemy's class registry between services that import side by side in
tests) — but the naming convention for indexes and constraints, which the
migrated-schema test compares, and the id column type are the same::

    class Base(DeclarativeBase):
        metadata = service_metadata()
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData

#: constraint and index names, identical in every service's schema
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: SQLite wants INTEGER PRIMARY KEY for autoincrement; PostgreSQL gets BIGINT
BigId = BigInteger().with_variant(Integer(), "sqlite")


def service_metadata() -> MetaData:
    """A new, empty schema for one service, with the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)

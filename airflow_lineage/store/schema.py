"""The SQL schema of the embedded store (SQLite or PostgreSQL).

Times are stored as integer microseconds since the epoch (UTC): portable, compact and
cheap to compare. Entities get an integer surrogate key so that the walk joins integers.
The Alembic migrations in ``migrations/versions`` create exactly this schema; a test
compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = [
    "SCHEMA_REVISION",
    "VERSION_TABLE",
    "associations",
    "attestations",
    "entities",
    "lineage_groups",
    "metadata",
    "shares",
]

SCHEMA_REVISION = "0007"
"""The Alembic head: the only revision a store may be opened at (see ``migrate``)."""

VERSION_TABLE = "lineage_alembic_version"
"""Our own version table, so the store can live in Airflow's metadata database."""

metadata = MetaData()

# BIGINT in PostgreSQL; INTEGER in SQLite, where only INTEGER PRIMARY KEY is the rowid.
_Id = BigInteger().with_variant(Integer(), "sqlite")

entities = Table(
    "lineage_entities",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("arn", String(256), nullable=False, unique=True),
    Column("account", String(12), nullable=False),
    Column("lineage_type", String(16), nullable=False),
    Column("name", String(120)),
    Column("type", String(256), nullable=False),
    Column("source_uri", String(2048), nullable=False),
    Column("source", Text),  # JSON: artifact SourceTypes, or action/context SourceType+SourceId
    Column("status", String(16)),
    Column("description", Text),
    Column("properties", Text, nullable=False),  # JSON object, keys sorted
    Column("metadata_properties", Text),  # JSON object: CommitId, Repository, ...
    Column("tags", Text),  # JSON object
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
    Index("ix_lineage_entities_kind", "lineage_type", "type", "created_at"),
    Index("ix_lineage_entities_created", "lineage_type", "created_at"),
    Index("ix_lineage_entities_source_uri", "source_uri"),
    Index("ix_lineage_entities_name", "lineage_type", "name"),
)

associations = Table(
    "lineage_associations",
    metadata,
    Column("source_id", _Id, ForeignKey("lineage_entities.id"), primary_key=True),
    Column("destination_id", _Id, ForeignKey("lineage_entities.id"), primary_key=True),
    Column("association_type", String(16)),
    Column("account", String(12), nullable=False),  # the account that added the edge
    Column("created_at", BigInteger, nullable=False),
    # With the creation time, an upstream walk step reads this index alone (0007).
    Index(
        "ix_lineage_associations_destination",
        "destination_id",
        "source_id",
        "created_at",
        "association_type",
    ),
    sqlite_with_rowid=False,
)

lineage_groups = Table(
    "lineage_groups",
    metadata,
    Column("account", String(12), primary_key=True),
    Column("name", String(120), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

shares = Table(
    "lineage_shares",
    metadata,
    Column("owner_account", String(12), primary_key=True),
    Column("group_name", String(120), primary_key=True),
    Column("consumer_account", String(12), primary_key=True),
    Column("region", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # Pending, Accepted, Revoked
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
    Index("ix_lineage_shares_consumer", "consumer_account", "status"),
)
"""A lineage group shared by its owner with a consumer account (as an AWS RAM share).

Only an ``Accepted`` share lets the consumer see the owner's lineage."""

attestations = Table(
    "lineage_attestations",
    metadata,
    Column("arn", String(256), primary_key=True),  # the action's ARN
    Column("account", String(12), nullable=False),
    Column("modified_at", BigInteger, nullable=False),  # the action version it signs
    Column("envelope", Text, nullable=False),  # DSSE envelope, JSON
)
"""The signed provenance (DSSE envelope) of each action, as of its stored version."""

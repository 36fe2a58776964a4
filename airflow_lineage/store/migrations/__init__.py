"""Alembic migrations of the embedded store's schema."""

"""The alembic history of the ledgers, one for SQLite and PostgreSQL alike."""

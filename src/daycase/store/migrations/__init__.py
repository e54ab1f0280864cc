"""Alembic migrations of the store's tables (store room); run them with `factory.migrate(url)`."""

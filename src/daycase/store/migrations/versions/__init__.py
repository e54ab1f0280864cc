"""Alembic revision files, loaded by path; the package marker makes them ship in the wheel."""

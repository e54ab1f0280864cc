"""Storage room: append-only event stores (memory, SQLite, later PostgreSQL) behind one contract."""

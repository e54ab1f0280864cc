"""Shared test support: real databases and real server processes."""

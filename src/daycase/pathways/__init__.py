"""Pathway definitions as data: the schema, the loader and the built-in pathway files."""

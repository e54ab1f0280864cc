"""Service room: one use case per method (load → check → append), shared by every front end."""

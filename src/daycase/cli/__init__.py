"""The `daycase` command (CLI room)."""

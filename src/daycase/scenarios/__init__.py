"""Scenario files: one patient's day as YAML, run through the real service layer."""

"""Capacity simulation and ETAs: the pathway run forward in time (simulation room)."""

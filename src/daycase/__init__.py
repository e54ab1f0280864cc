"""daycase: a day-of-surgery tracker whose pathways are data and whose cases are event logs."""

__version__ = "0.1.0"

"""The domain core: events, the fold, checks, rules and evaluation. Pure: no I/O, no clock."""
